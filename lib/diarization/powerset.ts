/**
 * Powerset decoding of the segmentation model's output: each frame's most likely class (a set of at
 * most two of the three local speakers) becomes one activity bit per speaker, as pyannote's
 * `Powerset.to_multilabel` (hard mode) does.
 *
 * @module
 */

import { WeSpeakerError } from "../errors.ts";

/** Local speakers per chunk of segmentation-3.0. */
export const LOCAL_SPEAKERS = 3;

/** Most local speakers active at once in segmentation-3.0's powerset classes. */
export const MAX_SIMULTANEOUS_SPEAKERS = 2;

/**
 * Membership table of the powerset classes, in pyannote's `build_mapping` order: set sizes 0, 1, …,
 * `maxSetSize`, and within one size the sets in lexicographic order (as `itertools.combinations`). For
 * 3 classes and sets of at most 2: {}, {0}, {1}, {2}, {0,1}, {0,2}, {1,2}.
 *
 * @param numClasses number of regular classes (speakers)
 * @param maxSetSize largest set size
 * @returns `[numPowersetClasses, numClasses]` row-major: 1 where the class is a member of the set
 * @throws {WeSpeakerError} `invalid-argument` when the sizes are not integers with 0 <= maxSetSize <= numClasses
 */
export function powersetMapping(numClasses: number, maxSetSize: number): Uint8Array {
  if (!Number.isInteger(numClasses) || numClasses < 1 || numClasses > 16) {
    throw new WeSpeakerError("invalid-argument", `powerset: numClasses must be an integer in [1, 16]`);
  }
  if (!Number.isInteger(maxSetSize) || maxSetSize < 0 || maxSetSize > numClasses) {
    throw new WeSpeakerError(
      "invalid-argument",
      `powerset: maxSetSize must be an integer in [0, numClasses]`,
    );
  }
  const rows: number[][] = [];
  const combine = (size: number, from: number, chosen: number[]): void => {
    if (chosen.length === size) {
      rows.push(chosen.slice());
      return;
    }
    for (let c = from; c < numClasses; c++) {
      chosen.push(c);
      combine(size, c + 1, chosen);
      chosen.pop();
    }
  };
  for (let size = 0; size <= maxSetSize; size++) combine(size, 0, []);
  const mapping = new Uint8Array(rows.length * numClasses);
  rows.forEach((members, row) => {
    for (const c of members) mapping[row * numClasses + c] = 1;
  });
  return mapping;
}

const MAPPING = powersetMapping(LOCAL_SPEAKERS, MAX_SIMULTANEOUS_SPEAKERS);
const NUM_POWERSET_CLASSES = MAPPING.length / LOCAL_SPEAKERS;

/**
 * Hard multi-label activity of segmentation-3.0 output: per frame, the powerset class with the highest
 * log-probability (the first one on a tie, as `torch.argmax`) is expanded to its member speakers.
 *
 * @param logProbs `[numChunks, numFrames, 7]` row-major log-probabilities (classes in
 *   {@link powersetMapping} order)
 * @param numFrames frames per chunk
 * @param numChunks number of chunks
 * @returns `[numChunks, numFrames, 3]` row-major, 1 where the local speaker is active
 * @throws {WeSpeakerError} `invalid-argument` on a size mismatch or a NaN score
 */
export function powersetToMultilabel(
  logProbs: Float32Array,
  numFrames: number,
  numChunks: number,
): Uint8Array {
  if (!Number.isInteger(numFrames) || numFrames < 1 || !Number.isInteger(numChunks) || numChunks < 1) {
    throw new WeSpeakerError(
      "invalid-argument",
      `powerset: numFrames and numChunks must be positive integers, got ${numFrames} and ${numChunks}`,
    );
  }
  const rows = numChunks * numFrames;
  if (logProbs.length !== rows * NUM_POWERSET_CLASSES) {
    throw new WeSpeakerError(
      "invalid-argument",
      `powerset: expected ${numChunks} x ${numFrames} x ${NUM_POWERSET_CLASSES} = ` +
        `${rows * NUM_POWERSET_CLASSES} scores, got ${logProbs.length}`,
    );
  }
  const out = new Uint8Array(rows * LOCAL_SPEAKERS);
  for (let r = 0; r < rows; r++) {
    const base = r * NUM_POWERSET_CLASSES;
    let best = 0;
    for (let p = 0; p < NUM_POWERSET_CLASSES; p++) {
      const v = logProbs[base + p];
      if (Number.isNaN(v)) {
        throw new WeSpeakerError(
          "invalid-argument",
          `powerset: NaN score at chunk ${Math.floor(r / numFrames)}, frame ${r % numFrames}, class ${p}`,
        );
      }
      if (v > logProbs[base + best]) best = p;
    }
    out.set(MAPPING.subarray(best * LOCAL_SPEAKERS, (best + 1) * LOCAL_SPEAKERS), r * LOCAL_SPEAKERS);
  }
  return out;
}
