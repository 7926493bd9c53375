/**
 * Transcripts with speakers: the shape of a transcript (segments and optional timed words, as read by
 * `transcript_files.ts` from Whisper-style JSON, SRT or WebVTT), and how each word (or each segment, when
 * there are no words) is given the speaker whose turns overlap it most.
 *
 * @module
 */
import { WeSpeakerError } from "../errors.ts";
import type { SpeakerSegment } from "./rttm.ts";

/** A word (or any timed piece of text) of a transcript. */
export interface TranscriptWord {
  /** Its text, as the transcript has it (Whisper's words start with a space). */
  text: string;
  /** Start in seconds, or null when the transcript gives none (WhisperX leaves some words untimed). */
  start: number | null;
  /** End in seconds, or null with `start`. */
  end: number | null;
}

/** A segment (a subtitle cue) of a transcript. */
export interface TranscriptSegment {
  /** Start in seconds. */
  start: number;
  /** End in seconds (`>= start`). */
  end: number;
  /** Its text (lines joined with "\n"). */
  text: string;
  /** Its words with their times, when the transcript has them. */
  words?: TranscriptWord[];
}

/** The transcript formats read and written. */
export type TranscriptFormat = "json" | "srt" | "vtt";

/** A transcript, as read. */
export interface Transcript {
  /** The format it was read from. */
  format: TranscriptFormat;
  /** Its segments, in file order. */
  segments: TranscriptSegment[];
}

/** A word and its speaker. */
export interface LabelledWord extends TranscriptWord {
  /** The speaker, or null when no turn is close enough. */
  speaker: string | null;
}

/** A segment and its speaker. */
export interface LabelledSegment extends TranscriptSegment {
  /** The speaker of the segment's whole span, or null when no turn is close enough. */
  speaker: string | null;
  /** Its words, each with its own speaker. */
  words?: LabelledWord[];
}

/** A transcript with speakers. */
export interface LabelledTranscript {
  /** Every speaker of the diarization, in its order (which also breaks ties). */
  speakers: string[];
  /** The segments, in the transcript's order. */
  segments: LabelledSegment[];
}

/** Options of {@link assignSpeakers}. */
export interface AssignOptions {
  /**
   * A word or segment that overlaps no turn goes to the nearest turn when that turn is at most this many
   * seconds away (default 0.5); farther, it gets no speaker.
   */
  tolerance?: number;
}

/** Who spoke when: the `segments` of a `DiarizationResult` (its `speakers` give the tie-breaking order). */
export interface SpeakerTurns {
  /** Speaker turns. */
  segments: readonly SpeakerSegment[];
  /** Speakers in order of preference on ties (default: order of first appearance in `segments`). */
  speakers?: readonly string[];
}

interface Track {
  speaker: string;
  /** Disjoint turns by time: a speaker's overlapping turns merged. */
  starts: Float64Array;
  ends: Float64Array;
}

/**
 * Gives every word of `transcript` (and every segment, over its whole span) the speaker whose turns
 * overlap it longest. Where no turn overlaps (a gap, or a zero-length word between turns), the nearest
 * turn within `tolerance` seconds decides; beyond it, the speaker is null. Equal overlaps or distances go to
 * the speaker first in `turns.speakers`. Where turns overlap (non-exclusive diarization), a word inside
 * both counts for both; exclusive diarization gives each instant one speaker.
 *
 * @throws {WeSpeakerError} `invalid-argument` for a turn with bad times or a bad tolerance
 */
export function assignSpeakers(
  transcript: Transcript | { segments: readonly TranscriptSegment[] },
  turns: SpeakerTurns,
  options: AssignOptions = {},
): LabelledTranscript {
  const tolerance = options.tolerance ?? 0.5;
  if (!(Number.isFinite(tolerance) && tolerance >= 0)) {
    throw new WeSpeakerError("invalid-argument", `tolerance must be a finite number >= 0, got ${tolerance}`);
  }
  const tracks = speakerTracks(turns);
  const who = (start: number, end: number) => bestSpeaker(tracks, start, end, tolerance);
  return {
    speakers: tracks.map((t) => t.speaker),
    segments: transcript.segments.map((segment) => {
      const labelled: LabelledSegment = {
        start: segment.start,
        end: segment.end,
        text: segment.text,
        speaker: who(segment.start, segment.end),
      };
      if (segment.words) {
        labelled.words = segment.words.map((w) => ({
          ...w,
          // An untimed word takes its segment's speaker.
          speaker: w.start === null || w.end === null ? labelled.speaker : who(w.start, w.end),
        }));
      }
      return labelled;
    }),
  };
}

function speakerTracks(turns: SpeakerTurns): Track[] {
  const order = [...(turns.speakers ?? [])];
  const bySpeaker = new Map<string, [number, number][]>();
  for (const s of order) bySpeaker.set(s, []);
  turns.segments.forEach((t, i) => {
    if (!(Number.isFinite(t.start) && Number.isFinite(t.end) && t.end >= t.start)) {
      throw new WeSpeakerError("invalid-argument", `turn ${i}: start ${t.start}, end ${t.end}`);
    }
    let list = bySpeaker.get(t.speaker);
    if (list === undefined) {
      bySpeaker.set(t.speaker, list = []);
      order.push(t.speaker);
    }
    list.push([t.start, t.end]);
  });
  return order.map((speaker) => {
    const sorted = bySpeaker.get(speaker)!.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const merged: [number, number][] = [];
    for (const [start, end] of sorted) {
      const last = merged[merged.length - 1];
      if (last && start <= last[1]) last[1] = Math.max(last[1], end);
      else merged.push([start, end]);
    }
    return {
      speaker,
      starts: Float64Array.from(merged, (m) => m[0]),
      ends: Float64Array.from(merged, (m) => m[1]),
    };
  });
}

/** Index of the first turn of `track` ending after `t`. */
function firstEndingAfter(track: Track, t: number): number {
  let lo = 0, hi = track.ends.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (track.ends[mid] > t) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function bestSpeaker(tracks: readonly Track[], start: number, end: number, tolerance: number): string | null {
  let best: string | null = null, most = 0;
  for (const track of tracks) {
    let overlap = 0;
    for (let k = firstEndingAfter(track, start); k < track.starts.length && track.starts[k] < end; k++) {
      overlap += Math.min(end, track.ends[k]) - Math.max(start, track.starts[k]);
    }
    if (overlap > most) {
      most = overlap;
      best = track.speaker;
    }
  }
  if (best !== null) return best;
  let nearest = Infinity;
  for (const track of tracks) {
    // The turn ending last before `end` and the first one ending after `start`, the only candidates.
    const k = firstEndingAfter(track, start);
    let distance = Infinity;
    if (k < track.starts.length) distance = Math.max(0, track.starts[k] - end);
    if (k > 0) distance = Math.min(distance, Math.max(0, start - track.ends[k - 1]));
    if (distance < nearest) {
      nearest = distance;
      best = track.speaker;
    }
  }
  return nearest <= tolerance ? best : null;
}

/** One subtitle cue of a labelled transcript. */
export interface Cue {
  /** Start in seconds. */
  start: number;
  /** End in seconds. */
  end: number;
  /** Its speaker, or null. */
  speaker: string | null;
  /** Its text. */
  text: string;
}

/**
 * The cues to write as SRT or WebVTT: a segment without words is one cue; a segment with words is cut
 * where its words change speaker, each run of words one cue spanning its timed words.
 */
export function transcriptCues(transcript: LabelledTranscript): Cue[] {
  const cues: Cue[] = [];
  for (const segment of transcript.segments) {
    if (!segment.words || segment.words.length === 0) {
      // Whisper's texts start with a space.
      const text = segment.text.split("\n").map((line) => line.trim()).join("\n").trim();
      cues.push({ start: segment.start, end: segment.end, speaker: segment.speaker, text });
      continue;
    }
    let run: LabelledWord[] = [];
    const flush = () => {
      if (run.length === 0) return;
      const timed = run.filter((w) => w.start !== null && w.end !== null);
      cues.push({
        start: timed.length ? Math.min(...timed.map((w) => w.start!)) : segment.start,
        end: timed.length ? Math.max(...timed.map((w) => w.end!)) : segment.end,
        speaker: run[0].speaker,
        text: joinWords(run),
      });
      run = [];
    };
    for (const word of segment.words) {
      if (run.length > 0 && run[0].speaker !== word.speaker) flush();
      run.push(word);
    }
    flush();
  }
  return cues;
}

/** Words joined into a line: as written when they carry their spaces (Whisper), with spaces otherwise. */
function joinWords(words: readonly TranscriptWord[]): string {
  let text = "";
  for (const { text: w } of words) text += text === "" || /^\s/.test(w) ? w : ` ${w}`;
  return text.replace(/\s+/g, " ").trim();
}
