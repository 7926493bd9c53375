/**
 * The chunk-level half of the diarization pipeline: slide a 10 s window over the audio, segment each
 * chunk into (up to) 3 local speakers, and embed each local speaker of each chunk. Only what the
 * global half needs is kept per chunk (hard local activity and one embedding per local speaker), so a
 * long recording streams through in batches.
 *
 * @module
 */
import { MODEL_SAMPLE_RATE } from "../audio/load.ts";
import { WeSpeakerError } from "../errors.ts";
import { type Fbank, fbank, numFbankFrames } from "../audio/fbank.ts";
import { EMBEDDING_DIM } from "../native/symbols.ts";
import type { WeSpeakerModel } from "../model.ts";
import { type AudioSource, modelRateChunks, SampleQueue } from "../audio/sample_stream.ts";
import { SegmentationModel } from "../segmentation.ts";
import { LOCAL_SPEAKERS, powersetToMultilabel } from "./powerset.ts";
import { receptiveField, SINCNET_KERNEL_SIZES, SINCNET_STRIDES } from "./frames.ts";

/** Samples at 16 kHz in one segmentation frame (991: 62 ms); shorter audio has nothing to diarize. */
const FRAME_SAMPLES = Math.round(
  receptiveField(SINCNET_KERNEL_SIZES, SINCNET_STRIDES, MODEL_SAMPLE_RATE).duration * MODEL_SAMPLE_RATE,
);

/** A stage of the pipeline and how far it got, for progress reports. */
export interface DiarizationProgress {
  /**
   * `segmentation` and `embeddings` advance chunk by chunk (a batch's embeddings run while the next batch
   * is segmented); then `clustering` (the linkage's steps, 2 per embedding it links) and `reconstruction`.
   */
  stage: "segmentation" | "embeddings" | "clustering" | "reconstruction";
  /** Units done. */
  done: number;
  /** Units in all; `undefined` while the length of streamed audio is unknown. */
  total: number | undefined;
}

/** How the chunk-level half runs. */
export interface LocalOptions {
  /** Chunk length in samples at 16 kHz (the segmentation model's 10 s). */
  window: number;
  /** Distance between chunk starts in samples. */
  step: number;
  /** Chunks per native call. */
  batchSize: number;
  /** Compute the embedding network's trunk once per chunk for all its speakers (default) or once per speaker. */
  shareTrunk: boolean;
  /**
   * Pool each speaker's embedding over the frames where it speaks alone, when enough remain
   * (pyannote's `embedding_exclude_overlap`, on in both published pipelines); else over all its frames.
   */
  excludeOverlap?: boolean;
  /**
   * Fast mode: one trunk pass over each batch's stretch of audio (its chunks laid back to back, each
   * overlap once), every (chunk, speaker) pooled over its chunk's frames of it. Not pyannote's embeddings.
   */
  windowTrunk?: boolean;
  /** Total number of 16 kHz samples when known in advance, for progress totals. */
  expectedSamples?: number;
  onProgress?: (progress: DiarizationProgress) => void;
  signal?: AbortSignal;
  /** Names the audio in error messages. */
  label: string;
}

/** What the chunk-level half leaves for clustering and reconstruction. */
export interface LocalResults {
  /** Number of 16 kHz samples in the audio. */
  numSamples: number;
  numChunks: number;
  /** Segmentation frames per chunk. */
  numFrames: number;
  /** Hard local activity `[numChunks, numFrames, 3]`: 1 where the local speaker speaks. */
  binarized: Uint8Array;
  /** Raw embeddings `[numChunks, 3, 256]` (meaningless where the local speaker is silent). */
  embeddings: Float32Array;
}

/** Number of chunks pyannote's sliding window makes over `numSamples` samples: full ones, plus a padded last one. */
export function countChunks(numSamples: number, window: number, step: number): number {
  const full = numSamples >= window ? Math.floor((numSamples - window) / step) + 1 : 0;
  const partial = numSamples < window || (numSamples - window) % step > 0;
  return full + (partial ? 1 : 0);
}

// pyannote's embedding of a speaker excludes overlapped frames unless fewer than this many clean frames
// remain: ceil(frames · min_num_samples / chunk samples), where min_num_samples = 400 is the shortest
// input the WeSpeaker wrapper accepts (one 25 ms fbank frame at 16 kHz).
function minCleanFrames(numFrames: number, window: number): number {
  return Math.ceil((numFrames * 400) / window);
}

// The per-speaker pooling masks of one chunk, pyannote's exclude_overlap rule: a speaker's frames where
// nobody else speaks, or all of its frames when too few of those remain.
function speakerMasks(binary: Uint8Array, numFrames: number, minClean: number, out: Float32Array): void {
  const alone = new Uint8Array(numFrames);
  for (let f = 0; f < numFrames; f++) {
    let speaking = 0;
    for (let k = 0; k < LOCAL_SPEAKERS; k++) speaking += binary[f * LOCAL_SPEAKERS + k];
    alone[f] = speaking < 2 ? 1 : 0;
  }
  for (let s = 0; s < LOCAL_SPEAKERS; s++) {
    let clean = 0;
    for (let f = 0; f < numFrames; f++) clean += binary[f * LOCAL_SPEAKERS + s] & alone[f];
    const row = out.subarray(s * numFrames, (s + 1) * numFrames);
    for (let f = 0; f < numFrames; f++) {
      const speaking = binary[f * LOCAL_SPEAKERS + s];
      row[f] = clean > minClean ? speaking & alone[f] : speaking;
    }
  }
}

/** A typed array that grows as chunks arrive (the number of chunks of a stream is unknown up front). */
class Growing<T extends Uint8Array | Float32Array> {
  #data: T;
  length = 0;
  constructor(private readonly make: (n: number) => T, initial: number) {
    this.#data = make(Math.max(initial, 1));
  }
  push(values: ArrayLike<number>): void {
    if (this.length + values.length > this.#data.length) {
      const bigger = this.make(Math.max(2 * this.#data.length, this.length + values.length));
      bigger.set(this.#data.subarray(0, this.length));
      this.#data = bigger;
    }
    this.#data.set(values, this.length);
    this.length += values.length;
  }
  take(): T {
    return this.#data.slice(0, this.length) as T;
  }
}

/**
 * Segments and embeds every chunk of `source`, a batch of chunks at a time.
 *
 * @throws {WeSpeakerError} `aborted` when `signal` fires (checked between batches), and the errors of
 *   the models and of reading the audio, prefixed with the audio's label and the chunk's time
 */
export async function processChunks(
  source: AudioSource,
  segmentation: SegmentationModel,
  embedding: WeSpeakerModel,
  options: LocalOptions,
): Promise<LocalResults> {
  const { window, step, batchSize, signal, onProgress, label } = options;
  const numFrames = SegmentationModel.framesFor(window);
  const minClean = options.excludeOverlap === false ? Infinity : minCleanFrames(numFrames, window);
  const total = options.expectedSamples === undefined
    ? undefined
    : countChunks(options.expectedSamples, window, step);
  const binarized = new Growing((n) => new Uint8Array(n), (total ?? 64) * numFrames * LOCAL_SPEAKERS);
  const embeddings = new Growing((n) => new Float32Array(n), (total ?? 64) * LOCAL_SPEAKERS * EMBEDDING_DIM);
  const checkAborted = () => {
    if (signal?.aborted) {
      throw new WeSpeakerError("aborted", `${label}: diarization aborted`, { cause: signal.reason });
    }
  };

  const chunks = new Float32Array(batchSize * window);
  let inBatch = 0;
  let firstChunk = 0;
  // A batch's embeddings are computed while the next batch is read and segmented: the two models are
  // separate native handles, and each fills the cores the other leaves idle between its kernels.
  let pending: Promise<void> = Promise.resolve();
  let failure: unknown;
  const settled = async () => {
    await pending;
    if (failure !== undefined) throw failure;
  };
  const located = (where: string, err: unknown) =>
    err instanceof WeSpeakerError && err.code !== "aborted"
      ? new WeSpeakerError(err.code, `${where}: ${err.message}`, { cause: err })
      : err;
  // One batch's raw embeddings, [chunks, 3, 256].
  const embed = async (features: Fbank[], masks: Float32Array, active: boolean[]) => {
    const size = LOCAL_SPEAKERS * EMBEDDING_DIM, perChunk = LOCAL_SPEAKERS * numFrames;
    const out = new Float32Array(features.length * size);
    const pooled = { raw: true, allowEmptyMasks: true };
    if (!options.shareTrunk) {
      // pyannote's way: one full network pass per (chunk, local speaker), silent speakers included.
      for (let row = 0; row < features.length * LOCAL_SPEAKERS; row++) {
        const mask = masks.subarray(row * numFrames, (row + 1) * numFrames);
        const features1 = [features[Math.floor(row / LOCAL_SPEAKERS)]];
        out.set(await embedding.embedMaskedAsync(features1, mask, 1, pooled), row * EMBEDDING_DIM);
      }
      return out;
    }
    // Chunks where nobody speaks: pyannote embeds them and never reads the result; no trunk pass here.
    const which = features.flatMap((_, c) => (active[c] ? [c] : []));
    if (which.length === 0) return out;
    const rows = new Float32Array(which.length * perChunk);
    which.forEach((c, i) => rows.set(masks.subarray(c * perChunk, (c + 1) * perChunk), i * perChunk));
    const got = await embedding.embedMaskedAsync(which.map((c) => features[c]), rows, LOCAL_SPEAKERS, pooled);
    which.forEach((c, i) => out.set(got.subarray(i * size, (i + 1) * size), c * size));
    return out;
  };
  // Fast mode: the batch's stretch of audio, its chunks laid back to back with each overlap once.
  const batchAudio = (batch: Float32Array, count: number) => {
    const audio = new Float32Array(window + (count - 1) * step);
    audio.set(batch.subarray(0, window));
    for (let c = 1; c < count; c++) {
      audio.set(batch.subarray((c + 1) * window - step, (c + 1) * window), window + (c - 1) * step);
    }
    return audio;
  };
  // Fast mode's embeddings of one batch, [chunks, 3, 256]: the trunk once over the batch's audio, each
  // (chunk, speaker) pooled with its mask laid on the chunk's frames (nearest segmentation frame).
  const embedWindow = async (features: Fbank, masks: Float32Array, active: boolean[]) => {
    const count = active.length, rows = count * LOCAL_SPEAKERS;
    if (!active.includes(true)) return new Float32Array(rows * EMBEDDING_DIM);
    const T = features.frames, chunkFrames = numFbankFrames(window);
    const weights = new Float32Array(rows * T);
    for (let row = 0; row < rows; row++) {
      // The chunk's first fbank frame: the window's frames up to the chunk's end, less a chunk's.
      const offset = numFbankFrames(Math.floor(row / LOCAL_SPEAKERS) * step + window) - chunkFrames;
      const mask = masks.subarray(row * numFrames, (row + 1) * numFrames);
      for (let f = 0; f < chunkFrames && offset + f < T; f++) {
        weights[row * T + offset + f] = mask[Math.floor((f * numFrames) / chunkFrames)];
      }
    }
    return await embedding.embedMaskedAsync([features], weights, rows, { raw: true, allowEmptyMasks: true });
  };
  const run = async () => {
    checkAborted();
    const count = inBatch, first = firstChunk;
    onProgress?.({ stage: "segmentation", done: first, total });
    const batch = chunks.subarray(0, count * window);
    const where = `${label}, chunks from ${(first * step) / MODEL_SAMPLE_RATE} s`;
    try {
      const segmented = segmentation.segmentAsync(batch, count);
      // The features meanwhile, on this thread: they do not depend on the segmentation.
      const features: Fbank[] = [];
      if (options.windowTrunk) features.push(fbank(batchAudio(batch, count)));
      for (let c = 0; c < count && !options.windowTrunk; c++) {
        features.push(fbank(batch.subarray(c * window, (c + 1) * window)));
      }
      const binary = powersetToMultilabel(await segmented, numFrames, count);
      const masks = new Float32Array(count * LOCAL_SPEAKERS * numFrames);
      const active: boolean[] = [];
      for (let c = 0; c < count; c++) {
        const local = binary.subarray(c * numFrames * LOCAL_SPEAKERS, (c + 1) * numFrames * LOCAL_SPEAKERS);
        speakerMasks(local, numFrames, minClean, masks.subarray(c * LOCAL_SPEAKERS * numFrames));
        active.push(local.includes(1));
      }
      await settled(); // the previous batch's embeddings first: results stay in chunk order
      binarized.push(binary);
      onProgress?.({ stage: "segmentation", done: first + count, total });
      const computed = options.windowTrunk
        ? embedWindow(features[0], masks, active)
        : embed(features, masks, active);
      pending = computed.then((out) => {
        embeddings.push(out);
        onProgress?.({ stage: "embeddings", done: first + count, total });
      }, (err) => {
        failure ??= located(where, err);
      });
    } catch (err) {
      throw located(where, err);
    }
    firstChunk += count;
    inBatch = 0;
  };
  const addChunk = async (queue: SampleQueue, start: number, end: number) => {
    const chunk = chunks.subarray(inBatch * window, (inBatch + 1) * window);
    chunk.set(queue.copy(start, end));
    chunk.fill(0, end - start);
    if (++inBatch === batchSize) await run();
  };

  const queue = new SampleQueue();
  let received = 0;
  let next = 0; // start of the next chunk, in samples
  try {
    checkAborted();
    for await (const block of modelRateChunks(source)) {
      if (!(block instanceof Float32Array)) {
        throw new WeSpeakerError(
          "invalid-argument",
          `${label}: audio blocks must be Float32Arrays of mono samples`,
        );
      }
      for (let i = 0; i < block.length; i++) {
        if (!Number.isFinite(block[i])) {
          throw new WeSpeakerError(
            "invalid-argument",
            `${label}: sample ${received + i} (at 16 kHz) is ${block[i]}; audio must be finite`,
          );
        }
      }
      checkAborted();
      queue.append(block);
      received += block.length;
      while (received >= next + window) {
        await addChunk(queue, next, next + window);
        next += step;
        queue.dropBefore(next);
      }
    }
    if (received === 0) throw new WeSpeakerError("audio-too-short", `${label}: the audio is empty`);
    if (received < FRAME_SAMPLES) {
      const seconds = (n: number) => (n / MODEL_SAMPLE_RATE).toFixed(3);
      throw new WeSpeakerError(
        "audio-too-short",
        `${label}: ${received} samples at 16 kHz (${seconds(received)} s) is shorter than one segmentation ` +
          `frame (${FRAME_SAMPLES} samples, ${seconds(FRAME_SAMPLES)} s): nothing to diarize`,
      );
    }
    // The padded last chunk, where the full ones leave samples uncovered (or the audio is shorter than one).
    if (received < window || (received - window) % step > 0) await addChunk(queue, next, received);
    if (inBatch > 0) await run();
    await settled();
  } finally {
    await pending; // an error never leaves a native call running behind it
  }
  return {
    numSamples: received,
    numChunks: firstChunk,
    numFrames,
    binarized: binarized.take(),
    embeddings: embeddings.take(),
  };
}
