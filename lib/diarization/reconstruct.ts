/**
 * Discrete diarization from clustered chunk segmentations (pyannote speaker-diarization-3.1's
 * `reconstruct` and `SpeakerDiarizationMixin.to_diarization`): per whole-file frame, the `count`
 * clusters most active over the overlapping chunks.
 *
 * @module
 */

import { WeSpeakerError } from "../errors.ts";
import { aggregationGrid } from "./aggregate.ts";
import { NumpyArgsort, type TieOrder } from "./argsort.ts";
import { checkHardClusters, checkSegmentations } from "./checks.ts";
import type { SlidingWindow, WindowSpec } from "./frames.ts";

/** Who speaks in each whole-file frame. */
export interface DiscreteDiarization {
  /** `[numFrames, numSpeakers]` row-major, 1 where the speaker (global cluster) is active. */
  data: Uint8Array;
  /** Number of whole-file frames. */
  numFrames: number;
  /** Number of speakers: the clusters, or more when a frame's count exceeds them (extra idle columns). */
  numSpeakers: number;
  /** The whole-file frame grid. */
  frames: SlidingWindow;
}

/** Options of {@link reconstruct}. */
export interface ReconstructOptions {
  /**
   * Which numpy argsort to reproduce when clusters are equally active in a frame (default
   * `"numpy-generic"`: numpy on arm64; `"numpy-x86-simd"`: numpy 2.x on x86-64 with AVX2/AVX-512).
   */
  tieOrder?: TieOrder;
}

/**
 * Which local speakers speak at all in their chunk. speaker-diarization-3.1 clusters only those and
 * gives the others no cluster (-2) before reconstruction.
 *
 * @param binarized `[numChunks, framesPerChunk, numLocalSpeakers]` row-major activity (0/1)
 * @param numChunks number of chunks
 * @param framesPerChunk model frames per chunk
 * @param numLocalSpeakers local speakers per chunk
 * @returns `[numChunks, numLocalSpeakers]`, 1 where the local speaker is active in some frame
 * @throws {WeSpeakerError} `invalid-argument` on bad shapes or values
 */
export function activeSpeakers(
  binarized: Uint8Array,
  numChunks: number,
  framesPerChunk: number,
  numLocalSpeakers: number,
): Uint8Array {
  checkSegmentations(binarized, numChunks, framesPerChunk, numLocalSpeakers, "activeSpeakers");
  const active = new Uint8Array(numChunks * numLocalSpeakers);
  for (let c = 0; c < numChunks; c++) {
    for (let f = 0; f < framesPerChunk; f++) {
      for (let s = 0; s < numLocalSpeakers; s++) {
        active[c * numLocalSpeakers + s] |= binarized[(c * framesPerChunk + f) * numLocalSpeakers + s];
      }
    }
  }
  return active;
}

/**
 * Builds the discrete diarization. A cluster's activity in a chunk frame is the largest activity of the
 * chunk's local speakers assigned to it (-2: none); summing it over the chunks covering each whole-file
 * frame gives the cluster's activation there (clusters absent from a chunk add nothing). Each frame then
 * keeps its `count[t]` most activated clusters, in the order `numpy.argsort(-activations)` gives,
 * equal activations included (see {@link TieOrder}). When some frame counts more speakers than there are
 * clusters, idle columns are appended up to that count, as pyannote pads. pyannote crops activations and
 * count to their common extent; both lie on the same grid with the same length, so nothing is cropped.
 *
 * Memory is `O(numFrames * numSpeakers)`: the clustered segmentations are never materialised.
 *
 * @param binarized `[numChunks, framesPerChunk, numLocalSpeakers]` row-major activity (0/1)
 * @param numChunks number of chunks
 * @param framesPerChunk model frames per chunk
 * @param numLocalSpeakers local speakers per chunk
 * @param hardClusters `[numChunks, numLocalSpeakers]` global cluster of each local speaker, -2 for none
 * @param count speakers per whole-file frame (`speakerCount`, capped with `capCount`)
 * @param chunks chunk window
 * @param frames model frame window
 * @param options tie order
 * @returns the discrete diarization on the whole-file frame grid
 * @throws {WeSpeakerError} `invalid-argument` on bad shapes or values, when no local speaker has a
 *   cluster, or when `count` is not on the whole-file grid
 */
export function reconstruct(
  binarized: Uint8Array,
  numChunks: number,
  framesPerChunk: number,
  numLocalSpeakers: number,
  hardClusters: Int32Array,
  count: Uint8Array,
  chunks: WindowSpec,
  frames: WindowSpec,
  options: ReconstructOptions = {},
): DiscreteDiarization {
  checkSegmentations(binarized, numChunks, framesPerChunk, numLocalSpeakers, "reconstruct");
  checkHardClusters(hardClusters, numChunks, numLocalSpeakers, "reconstruct");
  const sorter = new NumpyArgsort(options.tieOrder ?? "numpy-generic");
  const grid = aggregationGrid(chunks, numChunks, framesPerChunk, frames);
  const T = grid.numFrames;
  if (count.length !== T) {
    throw new WeSpeakerError(
      "invalid-argument",
      `reconstruct: count has ${count.length} frames, the whole-file grid ${T}`,
    );
  }
  let numClusters = 0;
  for (const k of hardClusters) numClusters = Math.max(numClusters, k + 1);
  if (numClusters === 0) {
    throw new WeSpeakerError("invalid-argument", "reconstruct: no local speaker is assigned to a cluster");
  }
  let maxCount = 0;
  for (const c of count) maxCount = Math.max(maxCount, c);
  const K = Math.max(numClusters, maxCount);

  const activations = new Int32Array(T * K);
  for (let c = 0; c < numChunks; c++) {
    const first = grid.chunkStartFrames[c];
    const assigned = hardClusters.subarray(c * numLocalSpeakers, (c + 1) * numLocalSpeakers);
    for (let s = 0; s < numLocalSpeakers; s++) {
      const k = assigned[s];
      // Each cluster once per chunk, from the first local speaker assigned to it.
      if (k < 0 || assigned.indexOf(k) !== s) continue;
      for (let f = 0; f < framesPerChunk; f++) {
        const base = (c * framesPerChunk + f) * numLocalSpeakers;
        let v = 0;
        for (let s2 = s; s2 < numLocalSpeakers; s2++) {
          if (assigned[s2] === k) v = Math.max(v, binarized[base + s2]);
        }
        activations[(first + f) * K + k] += v;
      }
    }
  }

  const data = new Uint8Array(T * K);
  const keys = new Float64Array(K);
  const order = new Int32Array(K);
  for (let t = 0; t < T; t++) {
    const n = count[t];
    if (n === 0) continue;
    for (let k = 0; k < K; k++) keys[k] = -activations[t * K + k];
    sorter.sort(keys, K, order);
    for (let i = 0; i < n; i++) data[t * K + order[i]] = 1;
  }
  return { data, numFrames: T, numSpeakers: K, frames: grid.frames };
}
