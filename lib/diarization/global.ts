/**
 * The file-level half of the diarization pipeline: cluster the local speakers' embeddings into global
 * speakers, count speakers per frame, and rebuild who speaks when on the whole file's frame grid.
 *
 * @module
 */
import { MODEL_SAMPLE_RATE } from "../audio/load.ts";
import { EMBEDDING_DIM } from "../native/symbols.ts";
import type { TieOrder } from "./argsort.ts";
import { clusterEmbeddings, type EmbeddingClusters } from "./clustering.ts";
import type { PLDA } from "./plda.ts";
import { vbxClustering } from "./vbx_clustering.ts";
import { capCount, speakerCount } from "./count.ts";
import { receptiveField, SINCNET_KERNEL_SIZES, SINCNET_STRIDES, type WindowSpec } from "./frames.ts";
import type { DiarizationProgress, LocalResults } from "./local.ts";
import { LOCAL_SPEAKERS } from "./powerset.ts";
import { activeSpeakers, reconstruct } from "./reconstruct.ts";
import { DiarizationResult } from "./result.ts";
import { toSegments } from "./segments.ts";

/** The clustering step and its hyper-parameters: 3.1's agglomerative clustering, or community-1's VBx. */
export type ClusteringSettings =
  | { method: "AgglomerativeClustering"; threshold: number; minClusterSize: number }
  | { method: "VBxClustering"; threshold: number; Fa: number; Fb: number; plda: PLDA };

/** Settings of the file-level half, already validated. */
export interface GlobalOptions {
  /** Chunk length and step in seconds. */
  chunkDuration: number;
  chunkStep: number;
  numSpeakers: number | undefined;
  minSpeakers: number;
  maxSpeakers: number;
  minDurationOff: number;
  clustering: ClusteringSettings;
  tieOrder: TieOrder;
  /** Names the audio in error messages. */
  label: string;
  onProgress?: (progress: DiarizationProgress) => void;
}

/** segmentation-3.0's output frames: the receptive field of its SincNet at 16 kHz. */
const SEGMENTATION_FRAMES = receptiveField(SINCNET_KERNEL_SIZES, SINCNET_STRIDES, MODEL_SAMPLE_RATE);

/** The clustering step the pipeline's config chose, over the active (chunk, speaker) pairs. */
function cluster(
  local: LocalResults,
  active: Uint8Array,
  options: GlobalOptions,
  onProgress: (done: number, total: number) => void,
): EmbeddingClusters {
  const { numChunks, numFrames, binarized, embeddings } = local;
  const settings = options.clustering;
  if (settings.method === "AgglomerativeClustering") {
    return clusterEmbeddings(embeddings, active, numChunks, LOCAL_SPEAKERS, EMBEDDING_DIM, {
      numClusters: options.numSpeakers,
      minClusters: options.minSpeakers,
      maxClusters: Number.isFinite(options.maxSpeakers) ? options.maxSpeakers : undefined,
      threshold: settings.threshold,
      minClusterSize: settings.minClusterSize,
      onProgress,
    });
  }
  const vbx = vbxClustering(embeddings, binarized, numChunks, numFrames, LOCAL_SPEAKERS, EMBEDDING_DIM, {
    ...settings,
    numClusters: options.numSpeakers,
    minClusters: options.minSpeakers,
    maxClusters: options.maxSpeakers,
    onProgress,
  });
  // Silent speakers never count, whatever the assignment gave them (the pipeline's own rule).
  const hardClusters = vbx.hardClusters.map((k, p) => (active[p] ? k : -2));
  return { hardClusters, centroids: Float32Array.from(vbx.centroids), numClusters: vbx.numClusters };
}

/**
 * Clusters, counts and reconstructs, as pyannote's `SpeakerDiarization.apply` does after its models ran:
 * the regular diarization and the exclusive one (one speaker at a time) from the same clusters.
 */
export function diarizeLocalResults(local: LocalResults, options: GlobalOptions): DiarizationResult {
  const { numChunks, numFrames, binarized } = local;
  const duration = local.numSamples / MODEL_SAMPLE_RATE;
  const chunks: WindowSpec = { start: 0, duration: options.chunkDuration, step: options.chunkStep };
  const active = activeSpeakers(binarized, numChunks, numFrames, LOCAL_SPEAKERS);
  const counted = speakerCount(binarized, numChunks, numFrames, LOCAL_SPEAKERS, chunks, SEGMENTATION_FRAMES);
  // Nobody ever speaks (the count rounds to 0 everywhere): pyannote's early exit, an empty diarization.
  if (!counted.count.some((n) => n > 0)) {
    return new DiarizationResult([], new Float32Array(0), EMBEDDING_DIM, duration, []);
  }

  // Clustering reports its linkage's steps (2n - 1 for the n embeddings it links: the active pairs for 3.1,
  // VBx's training subset of them; none when there is nothing to link), then one more for the rest.
  const numActive = active.reduce((n, a) => n + a, 0);
  let clusteringTotal = numActive >= 2 ? 2 * numActive : 1;
  options.onProgress?.({ stage: "clustering", done: 0, total: clusteringTotal });
  const clusters = cluster(local, active, options, (done, steps) => {
    clusteringTotal = steps + 1;
    options.onProgress?.({ stage: "clustering", done, total: clusteringTotal });
  });
  options.onProgress?.({ stage: "clustering", done: clusteringTotal, total: clusteringTotal });

  options.onProgress?.({ stage: "reconstruction", done: 0, total: 1 });
  // Segmentation errors can over-count simultaneous speakers: never more than allowed in all.
  const count = capCount(counted.count, options.maxSpeakers);
  // Exclusive diarization (pyannote 4): the same reconstruction with at most one speaker per frame.
  const turns = (frameCount: Uint8Array) => {
    const discrete = reconstruct(
      binarized,
      numChunks,
      numFrames,
      LOCAL_SPEAKERS,
      clusters.hardClusters, // -2 for the silent local speakers, as pyannote marks them
      frameCount,
      chunks,
      SEGMENTATION_FRAMES,
      { tieOrder: options.tieOrder },
    );
    // The last chunk is zero-padded to 10 s, and pyannote can report speech in that padding: turns are
    // clipped to the audio instead.
    return toSegments(discrete, options.minDurationOff)
      .filter((turn) => turn.start < duration)
      .map((turn) => ({ ...turn, end: Math.min(turn.end, duration) }));
  };
  const segments = turns(count);
  const exclusiveSegments = turns(capCount(count, 1));
  options.onProgress?.({ stage: "reconstruction", done: 1, total: 1 });
  return new DiarizationResult(segments, clusters.centroids, EMBEDDING_DIM, duration, exclusiveSegments);
}
