/**
 * Speaker turns from a discrete diarization (pyannote speaker-diarization-3.1's `to_annotation`:
 * `Binarize(onset=0.5, offset=0.5, min_duration_on=0, min_duration_off)` then `rename_tracks`), in the
 * order pyannote's `Annotation` iterates them.
 *
 * @module
 */

import { WeSpeakerError } from "../errors.ts";
import { nonEmpty } from "../formats/intervals.ts";
import type { DiscreteDiarization } from "./reconstruct.ts";

/** One speaker turn. */
export interface DiarizationSegment {
  /** Speaker index: the column of the discrete diarization (the global cluster). */
  speaker: number;
  /** Start time in seconds. */
  start: number;
  /** End time in seconds. */
  end: number;
}

/** pyannote.core's `string_generator` label number `n`: A … Z, AA … ZZ, AAA, … */
function trackName(n: number): string {
  let width = 1, span = 26;
  while (n >= span) {
    n -= span;
    width++;
    span *= 26;
  }
  let name = "";
  for (let i = 0; i < width; i++) {
    name = String.fromCharCode(65 + (n % 26)) + name;
    n = Math.floor(n / 26);
  }
  return name;
}

interface Track extends DiarizationSegment {
  /** Track name sorting tracks of equal segments, as pyannote's `itertracks` sorts `str(track)`. */
  key: string;
}

function bySegment(a: Track, b: Track): number {
  if (a.start !== b.start) return a.start - b.start;
  if (a.end !== b.end) return a.end - b.end;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/** Active regions of one speaker as `Binarize` finds them: from the first active frame's middle to the
 * middle of the first inactive frame after it (of the last frame, for a region running to the end). */
function regions(d: DiscreteDiarization, k: number, middles: Float64Array): number[] {
  const K = d.numSpeakers, T = d.numFrames;
  const out: number[] = [];
  const add = (start: number, end: number) => {
    if (nonEmpty(start, end)) out.push(start, end);
  };
  let start = middles[0];
  let active = d.data[k] === 1;
  for (let t = 1; t < T; t++) {
    const on = d.data[t * K + k] === 1;
    if (active && !on) {
      add(start, middles[t]);
      start = middles[t];
      active = false;
    } else if (!active && on) {
      start = middles[t];
      active = true;
    }
  }
  if (active) add(start, middles[T - 1]);
  return out;
}

/** `Timeline.support(collar)` of one speaker's sorted, disjoint regions: gaps shorter than the collar
 * (or empty) are filled. A second `support()` without collar, as pyannote applies, changes nothing. */
function fillGaps(r: number[], collar: number): number[] {
  if (r.length === 0) return r;
  const out: number[] = [];
  let start = r[0], end = r[1];
  for (let i = 2; i < r.length; i += 2) {
    // pyannote.core merges across an empty gap (Segment.__bool__) as well as a short one.
    if (!nonEmpty(end, r[i]) || r[i] - end < collar) {
      end = Math.max(end, r[i + 1]);
    } else {
      out.push(start, end);
      start = r[i];
      end = r[i + 1];
    }
  }
  out.push(start, end);
  return out;
}

/**
 * Turns a discrete diarization into speaker turns, as speaker-diarization-3.1's `to_annotation`
 * (pass the exclusive diarization for the exclusive turns). Frame `t` stands for its middle; a speaker's
 * turn runs from the middle of its first active frame to the middle of the first inactive frame after
 * it, or to the middle of the last frame (so a turn made of the last frame alone is empty and dropped,
 * as pyannote drops it). With `minDurationOff > 0`, a speaker's turns separated by less than
 * `minDurationOff` seconds are merged (pyannote's `support(collar=min_duration_off)`: strict `<`).
 *
 * Turns are sorted by start, then end, then as pyannote orders the tracks of one segment: by the name
 * `rename_tracks` gives them (A, B, … Z, AA, …, sorted as strings), which is assigned in the order of
 * the previous track names (`str(speaker)` without merging, the names `support` hands out with it).
 *
 * @param diarization discrete diarization ({@link DiscreteDiarization})
 * @param minDurationOff gaps shorter than this (seconds) within a speaker are filled; 0 (3.1's
 *   setting) disables merging
 * @returns the turns, in pyannote's iteration order
 * @throws {WeSpeakerError} `invalid-argument` on a bad shape, a value other than 0/1, or a negative
 *   `minDurationOff`
 */
export function toSegments(diarization: DiscreteDiarization, minDurationOff = 0): DiarizationSegment[] {
  const { data, numFrames: T, numSpeakers: K, frames } = diarization;
  if (!Number.isInteger(T) || T < 1 || !Number.isInteger(K) || K < 0 || data.length !== T * K) {
    throw new WeSpeakerError(
      "invalid-argument",
      `toSegments: diarization holds ${data.length} values for ${T} frames x ${K} speakers`,
    );
  }
  if (data.some((v) => v > 1)) {
    throw new WeSpeakerError("invalid-argument", "toSegments: diarization values must be 0 or 1");
  }
  if (!(Number.isFinite(minDurationOff) && minDurationOff >= 0)) {
    throw new WeSpeakerError(
      "invalid-argument",
      `toSegments: minDurationOff must be >= 0, got ${minDurationOff}`,
    );
  }
  const middles = new Float64Array(T);
  for (let t = 0; t < T; t++) middles[t] = frames.middle(t);

  const perSpeaker: number[][] = [];
  for (let k = 0; k < K; k++) {
    const r = regions(diarization, k, middles);
    perSpeaker.push(minDurationOff > 0 ? fillGaps(r, minDurationOff) : r);
  }

  const tracks: Track[] = [];
  if (minDurationOff > 0) {
    // support() walks the labels sorted as strings, each label's segments in time order.
    const labels = [...perSpeaker.keys()].filter((k) => perSpeaker[k].length > 0).sort(byString);
    let n = 0;
    for (const k of labels) {
      const r = perSpeaker[k];
      for (let i = 0; i < r.length; i += 2) {
        tracks.push({ speaker: k, start: r[i], end: r[i + 1], key: trackName(n++) });
      }
    }
  } else {
    perSpeaker.forEach((r, k) => {
      for (let i = 0; i < r.length; i += 2) {
        tracks.push({ speaker: k, start: r[i], end: r[i + 1], key: String(k) });
      }
    });
  }
  tracks.sort(bySegment);
  tracks.forEach((track, n) => (track.key = trackName(n)));
  tracks.sort(bySegment);
  return tracks.map(({ speaker, start, end }) => ({ speaker, start, end }));
}

function byString(a: number, b: number): number {
  const x = String(a), y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * The speakers of `segments` in pyannote's `Annotation.labels()` order (sorted as strings: 0, 1, 10, 11,
 * 2, …). speaker-diarization-3.1 names the `i`-th of them `SPEAKER_{i:02d}` and orders its returned
 * centroids the same way.
 *
 * @param segments speaker turns
 * @returns the distinct speaker indices, in label order
 */
export function speakerLabelOrder(segments: readonly DiarizationSegment[]): number[] {
  return [...new Set(segments.map((s) => s.speaker))].sort(byString);
}
