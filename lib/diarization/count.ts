/**
 * Frame-level number of simultaneous speakers (pyannote's `SpeakerDiarizationMixin.speaker_count` with
 * `warm_up=(0, 0)`, as speaker-diarization-3.1 calls it).
 *
 * @module
 */

import { WeSpeakerError } from "../errors.ts";
import { aggregationGrid } from "./aggregate.ts";
import { checkSegmentations } from "./checks.ts";
import { rint, type SlidingWindow, type WindowSpec } from "./frames.ts";

/** Instantaneous speaker count on the whole-file frame grid. */
export interface SpeakerCount {
  /** Speakers active in each whole-file frame. */
  count: Uint8Array;
  /** Number of whole-file frames. */
  numFrames: number;
  /** The whole-file frame grid. */
  frames: SlidingWindow;
}

/**
 * Counts active speakers per whole-file frame: each chunk's per-frame number of active local speakers
 * is averaged over the chunks covering the frame, then rounded half to even. Trimming with a (0, 0)
 * warm-up keeps every frame, so there is no trimming here. pyannote divides float32 sums by float32
 * chunk counts; those are small exact integers, and `Math.fround` of their float64 quotient is the
 * correctly rounded float32 quotient, so the rounding sees the same value. Frames no chunk covers
 * (chunks further apart than they are long) count 0, pyannote's `missing=0.0`.
 *
 * @param binarized `[numChunks, framesPerChunk, numLocalSpeakers]` row-major activity (0/1)
 * @param numChunks number of chunks
 * @param framesPerChunk model frames per chunk
 * @param numLocalSpeakers local speakers per chunk
 * @param chunks chunk window
 * @param frames model frame window
 * @returns the count per whole-file frame
 * @throws {WeSpeakerError} `invalid-argument` on bad shapes or values
 */
export function speakerCount(
  binarized: Uint8Array,
  numChunks: number,
  framesPerChunk: number,
  numLocalSpeakers: number,
  chunks: WindowSpec,
  frames: WindowSpec,
): SpeakerCount {
  checkSegmentations(binarized, numChunks, framesPerChunk, numLocalSpeakers, "speakerCount");
  const grid = aggregationGrid(chunks, numChunks, framesPerChunk, frames);
  const active = new Int32Array(grid.numFrames);
  const covering = new Int32Array(grid.numFrames);
  for (let c = 0; c < numChunks; c++) {
    const first = grid.chunkStartFrames[c];
    for (let f = 0; f < framesPerChunk; f++) {
      const base = (c * framesPerChunk + f) * numLocalSpeakers;
      let sum = 0;
      for (let s = 0; s < numLocalSpeakers; s++) sum += binarized[base + s];
      active[first + f] += sum;
      covering[first + f] += 1;
    }
  }
  const count = new Uint8Array(grid.numFrames);
  for (let t = 0; t < grid.numFrames; t++) {
    if (covering[t] > 0) count[t] = rint(Math.fround(active[t] / covering[t]));
  }
  return { count, numFrames: grid.numFrames, frames: grid.frames };
}

/**
 * Caps a speaker count (`np.minimum(count, max_speakers)`): speaker-diarization-3.1 caps it at
 * `max_speakers` before reconstruction, and the exclusive diarization of newer pyannote caps that at 1.
 *
 * @param count speakers per frame
 * @param maxSpeakers cap, a positive integer or `Infinity`
 * @returns a new array with every value at most `maxSpeakers`
 * @throws {WeSpeakerError} `invalid-argument` when the cap is not a positive integer or `Infinity`
 */
export function capCount(count: Uint8Array, maxSpeakers: number): Uint8Array {
  if (!(maxSpeakers === Infinity || (Number.isInteger(maxSpeakers) && maxSpeakers >= 1))) {
    throw new WeSpeakerError(
      "invalid-argument",
      `maxSpeakers must be a positive integer or Infinity, got ${maxSpeakers}`,
    );
  }
  return count.map((c) => Math.min(c, maxSpeakers));
}
