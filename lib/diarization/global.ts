/**
 * The file-level half of the diarization pipeline: cluster the local speakers' embeddings into global
 * speakers, count speakers per frame, and rebuild who speaks when on the whole file's frame grid.
 *
 * @module
 */
import { MODEL_SAMPLE_RATE } from "../audio/load.ts";
import { WeSpeakerError } from "../errors.ts";
import { EMBEDDING_DIM } from "../native/symbols.ts";
import type { TieOrder } from "./argsort.ts";
import { clusterEmbeddings } from "./clustering.ts";
import { MAX_POINTS } from "./linkage.ts";
import { capCount, speakerCount } from "./count.ts";
import { receptiveField, SINCNET_KERNEL_SIZES, SINCNET_STRIDES, type WindowSpec } from "./frames.ts";
import type { DiarizationProgress, LocalResults } from "./local.ts";
import { LOCAL_SPEAKERS } from "./powerset.ts";
import { activeSpeakers, reconstruct } from "./reconstruct.ts";
import { DiarizationResult } from "./result.ts";
import { toSegments } from "./segments.ts";

/** Settings of the file-level half, already validated. */
export interface GlobalOptions {
  /** Chunk length and step in seconds. */
  chunkDuration: number;
  chunkStep: number;
  numSpeakers: number | undefined;
  minSpeakers: number;
  maxSpeakers: number;
  exclusive: boolean;
  minDurationOff: number;
  threshold: number;
  minClusterSize: number;
  tieOrder: TieOrder;
  /** Names the audio in error messages. */
  label: string;
  onProgress?: (progress: DiarizationProgress) => void;
}

/** segmentation-3.0's output frames: the receptive field of its SincNet at 16 kHz. */
const SEGMENTATION_FRAMES = receptiveField(SINCNET_KERNEL_SIZES, SINCNET_STRIDES, MODEL_SAMPLE_RATE);

/** Clusters, counts and reconstructs, as speaker-diarization-3.1's `apply` does after its models ran. */
export function diarizeLocalResults(local: LocalResults, options: GlobalOptions): DiarizationResult {
  const { numChunks, numFrames, binarized, embeddings } = local;
  const duration = local.numSamples / MODEL_SAMPLE_RATE;
  const chunks: WindowSpec = { start: 0, duration: options.chunkDuration, step: options.chunkStep };
  const active = activeSpeakers(binarized, numChunks, numFrames, LOCAL_SPEAKERS);
  const counted = speakerCount(binarized, numChunks, numFrames, LOCAL_SPEAKERS, chunks, SEGMENTATION_FRAMES);
  // Nobody ever speaks (the count rounds to 0 everywhere): pyannote's early exit, an empty diarization.
  if (!counted.count.some((n) => n > 0)) {
    return new DiarizationResult([], new Float32Array(0), EMBEDDING_DIM, duration);
  }

  const numActive = active.reduce((n, a) => n + a, 0);
  if (numActive > MAX_POINTS) {
    throw new WeSpeakerError(
      "invalid-argument",
      `${options.label}: ${numActive} active (chunk, speaker) pairs exceed the ${MAX_POINTS} that clustering ` +
        `can hold (its distance matrix is quadratic, about 4 hours of audio): diarize shorter pieces`,
    );
  }
  options.onProgress?.({ stage: "clustering", done: 0, total: 1 });
  const clusters = clusterEmbeddings(embeddings, active, numChunks, LOCAL_SPEAKERS, EMBEDDING_DIM, {
    numClusters: options.numSpeakers,
    minClusters: options.minSpeakers,
    maxClusters: Number.isFinite(options.maxSpeakers) ? options.maxSpeakers : undefined,
    threshold: options.threshold,
    minClusterSize: options.minClusterSize,
  });
  options.onProgress?.({ stage: "clustering", done: 1, total: 1 });

  options.onProgress?.({ stage: "reconstruction", done: 0, total: 1 });
  // Segmentation errors can over-count simultaneous speakers: never more than allowed in all.
  const count = capCount(counted.count, options.maxSpeakers);
  // Exclusive diarization (pyannote 4.x): the same reconstruction with at most one speaker per frame.
  const frameCount = options.exclusive ? capCount(count, 1) : count;
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
  const segments = toSegments(discrete, options.minDurationOff)
    .filter((turn) => turn.start < duration)
    .map((turn) => ({ ...turn, end: Math.min(turn.end, duration) }));
  options.onProgress?.({ stage: "reconstruction", done: 1, total: 1 });
  return new DiarizationResult(segments, clusters.centroids, EMBEDDING_DIM, duration);
}
