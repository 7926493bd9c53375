/**
 * Shape and value checks shared by the diarization post-processing steps.
 *
 * @module
 */

import { WeSpeakerError } from "../errors.ts";

/**
 * Checks a binarized segmentation: `[numChunks, framesPerChunk, numLocalSpeakers]` row-major, 0 or 1.
 *
 * @param binarized the activity bits
 * @param numChunks number of chunks
 * @param framesPerChunk model frames per chunk
 * @param numLocalSpeakers local speakers per chunk
 * @param where name of the calling step, for the error message
 * @throws {WeSpeakerError} `invalid-argument` on a bad size or a value other than 0 and 1
 */
export function checkSegmentations(
  binarized: Uint8Array,
  numChunks: number,
  framesPerChunk: number,
  numLocalSpeakers: number,
  where: string,
): void {
  const sizes = { numChunks, framesPerChunk, numLocalSpeakers };
  for (const [name, value] of Object.entries(sizes)) {
    if (!Number.isInteger(value) || value < 1) {
      throw new WeSpeakerError(
        "invalid-argument",
        `${where}: ${name} must be a positive integer, got ${value}`,
      );
    }
  }
  const expected = numChunks * framesPerChunk * numLocalSpeakers;
  if (binarized.length !== expected) {
    throw new WeSpeakerError(
      "invalid-argument",
      `${where}: segmentations hold ${binarized.length} values, expected ${numChunks} chunks x ` +
        `${framesPerChunk} frames x ${numLocalSpeakers} speakers = ${expected}`,
    );
  }
  for (let i = 0; i < binarized.length; i++) {
    if (binarized[i] > 1) {
      const chunk = Math.floor(i / (framesPerChunk * numLocalSpeakers));
      const frame = Math.floor(i / numLocalSpeakers) % framesPerChunk;
      throw new WeSpeakerError(
        "invalid-argument",
        `${where}: segmentation value ${binarized[i]} at chunk ${chunk}, frame ${frame}, speaker ` +
          `${i % numLocalSpeakers} is not 0 or 1`,
      );
    }
  }
}

/**
 * Checks hard cluster assignments: one per (chunk, local speaker), each -2 (no cluster) or >= 0.
 *
 * @param hardClusters `[numChunks, numLocalSpeakers]` row-major cluster indices
 * @param numChunks number of chunks
 * @param numLocalSpeakers local speakers per chunk
 * @param where name of the calling step, for the error message
 * @throws {WeSpeakerError} `invalid-argument` on a bad size or value
 */
export function checkHardClusters(
  hardClusters: Int32Array,
  numChunks: number,
  numLocalSpeakers: number,
  where: string,
): void {
  if (hardClusters.length !== numChunks * numLocalSpeakers) {
    throw new WeSpeakerError(
      "invalid-argument",
      `${where}: ${hardClusters.length} hard clusters, expected ${numChunks} chunks x ${numLocalSpeakers} ` +
        `speakers = ${numChunks * numLocalSpeakers}`,
    );
  }
  for (let i = 0; i < hardClusters.length; i++) {
    if (hardClusters[i] < -2 || hardClusters[i] === -1) {
      throw new WeSpeakerError(
        "invalid-argument",
        `${where}: hard cluster ${hardClusters[i]} at chunk ${Math.floor(i / numLocalSpeakers)}, speaker ` +
          `${i % numLocalSpeakers}: must be -2 (none) or a cluster index >= 0`,
      );
    }
  }
}
