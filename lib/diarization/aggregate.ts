/**
 * Where each chunk's frames land on the whole file's frame grid, as pyannote's `Inference.aggregate`
 * places them before overlap-adding chunk outputs.
 *
 * @module
 */

import { WeSpeakerError } from "../errors.ts";
import { SlidingWindow, type WindowSpec } from "./frames.ts";

/** The whole-file frame grid and the first grid frame of each chunk. */
export interface AggregationGrid {
  /** Whole-file frames: the model's frame duration and step, starting where the first chunk starts. */
  frames: SlidingWindow;
  /** Number of whole-file frames. */
  numFrames: number;
  /** Grid index of frame 0 of each chunk. */
  chunkStartFrames: Int32Array;
}

/**
 * Lays `numChunks` chunks of `framesPerChunk` frames onto one frame grid. Like pyannote, the grid keeps
 * the model frames' duration and step but starts at the chunks' start (the receptive field's own start
 * is dropped), and its length and each chunk's offset are `closest_frame` of the same float64
 * expressions pyannote evaluates.
 *
 * @param chunks chunk window (chunk `c` covers `[start + c * step, … + duration]`)
 * @param numChunks number of chunks (at least 1)
 * @param framesPerChunk model frames per chunk
 * @param frames model frame window (its `start` is not used)
 * @returns the grid and the chunk offsets
 * @throws {WeSpeakerError} `invalid-argument` on bad sizes, or when a chunk would run past the grid
 *   (frames that do not fit the chunk duration; pyannote fails there too)
 */
export function aggregationGrid(
  chunks: WindowSpec,
  numChunks: number,
  framesPerChunk: number,
  frames: WindowSpec,
): AggregationGrid {
  const chunkWindow = new SlidingWindow(chunks);
  const frameWindow = new SlidingWindow(frames);
  if (!Number.isInteger(numChunks) || numChunks < 1) {
    throw new WeSpeakerError("invalid-argument", `numChunks must be a positive integer, got ${numChunks}`);
  }
  if (!Number.isInteger(framesPerChunk) || framesPerChunk < 1) {
    throw new WeSpeakerError(
      "invalid-argument",
      `framesPerChunk must be a positive integer, got ${framesPerChunk}`,
    );
  }
  const grid = new SlidingWindow({
    start: chunkWindow.start,
    duration: frameWindow.duration,
    step: frameWindow.step,
  });
  const numFrames = grid.closestFrame(
    chunkWindow.start + chunkWindow.duration + (numChunks - 1) * chunkWindow.step + 0.5 * grid.duration,
  ) + 1;
  const chunkStartFrames = new Int32Array(numChunks);
  for (let c = 0; c < numChunks; c++) {
    const first = grid.closestFrame(chunkWindow.windowStart(c) + 0.5 * grid.duration);
    if (first < 0 || first + framesPerChunk > numFrames) {
      throw new WeSpeakerError(
        "invalid-argument",
        `chunk ${c}: its ${framesPerChunk} frames (from grid frame ${first}) do not fit the ${numFrames}-frame ` +
          `grid; are the frame step and chunk duration consistent?`,
      );
    }
    chunkStartFrames[c] = first;
  }
  return { frames: grid, numFrames, chunkStartFrames };
}
