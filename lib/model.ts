/**
 * `WeSpeakerModel`: speaker embeddings from audio, through libwespeaker.
 */
import { loadAudio, toModelRate } from "./audio/load.ts";
import type { AudioInput, FileOptions } from "./audio/open.ts";
import { type BatchPlanOptions, planBatches } from "./batching.ts";
import { WeSpeakerError } from "./errors.ts";
import { NativeModel } from "./native/native_model.ts";
import { type Fbank, fbank } from "./audio/fbank.ts";
import {
  type EmbedCall,
  embedNative,
  embedNativeAsync,
  freeModel,
  loadModel,
  loadNativeLibrary,
} from "./native/library.ts";
import type { Handle } from "./native/runtime.ts";
import { EMBEDDING_DIM, MIN_FRAMES, NUM_MEL_BINS } from "./native/symbols.ts";

/** The shortest audio that gives {@link MIN_FRAMES} fbank frames: a 400-sample frame every 160 samples. */
const MIN_SAMPLES = 400 + (MIN_FRAMES - 1) * 160;
import { type PretrainedOptions, resolvePretrained } from "./hub/pretrained.ts";
import { loadingKind } from "./hub/model_kind.ts";

/** Options shared by the embedding methods. */
export interface EmbedOptions {
  /** Return the raw output of the final Linear layer instead of the L2-normalised embedding. */
  raw?: boolean;
}

/** Options of {@link WeSpeakerModel.embedBatch}. */
export interface EmbedBatchOptions extends EmbedOptions, BatchPlanOptions {}

/** Options of {@link WeSpeakerModel.embedFeatures}. */
export interface EmbedFeaturesOptions extends EmbedOptions {
  /**
   * Per-frame weights for weighted statistics pooling (pyannote's StatsPool), `numMasks` rows of
   * `weights.length / numMasks` values each. A row spans the whole clip at any resolution and is
   * resampled to the network's frame rate by nearest neighbour. Values must be finite and >= 0,
   * and each row needs a positive total.
   */
  weights?: Float32Array;
  /** Number of weight rows (default 1); one embedding is returned per row. */
  numMasks?: number;
}

/** Options of {@link WeSpeakerModel.embedMasked}. */
export interface EmbedMaskedOptions extends EmbedOptions {
  /**
   * Pool a mask that is zero on every frame the network keeps as pyannote's StatsPool does (zero
   * statistics, so the raw embedding is the last layer's bias) instead of throwing. The diarization
   * pipeline sets it to reproduce pyannote's numbers; the result carries no speaker information.
   */
  allowEmptyMasks?: boolean;
}

/**
 * A loaded WeSpeaker ResNet34-LM model.
 *
 * ```ts
 * using model = await WeSpeakerModel.load("model.safetensors");
 * const a = model.embed(samplesA, 16000);
 * const b = model.embed(samplesB, 44100);
 * console.log(WeSpeakerModel.cosineSimilarity(a, b));
 * ```
 *
 * A model is not safe for concurrent use from several threads of JavaScript (Workers): give
 * each Worker its own model.
 */
export class WeSpeakerModel extends NativeModel {
  private constructor(handle: Handle, path: string) {
    super(handle, path, freeModel, "model");
  }

  /**
   * Loads weights from a `.safetensors` file in the layout of the MLX WeSpeaker ResNet34-LM
   * weights (BatchNorm fused). Every tensor is checked and read here.
   *
   * @throws {WeSpeakerError} `io` if the file cannot be read, `invalid-weights` naming the first
   * missing, unexpected or mis-shaped tensor or a truncated file, `library-not-found`.
   */
  static async load(path: string): Promise<WeSpeakerModel> {
    await loadNativeLibrary();
    return loadingKind(path, "embedding", () => new WeSpeakerModel(loadModel(path), path));
  }

  /**
   * Loads pretrained weights from the Hugging Face Hub (default
   * `aufklarer/WeSpeaker-ResNet34-LM-MLX`; `pyannote/wespeaker-voxceleb-resnet34-LM` works too)
   * or from a local checkpoint file or directory. Downloads go to the same cache as Python's
   * `huggingface_hub` (`HF_HOME`, `HF_HUB_CACHE`), so files fetched by pyannote are reused;
   * `HF_ENDPOINT`, `HF_TOKEN` and `HF_HUB_OFFLINE=1` are honoured. PyTorch and ONNX checkpoints
   * are converted on first use and the result cached.
   *
   * @throws {WeSpeakerError} `not-found`, `unauthorized`, `network`, `integrity` for Hub
   * failures; `invalid-weights` for a checkpoint that cannot be converted
   */
  static async fromPretrained(options: PretrainedOptions = {}): Promise<WeSpeakerModel> {
    return await WeSpeakerModel.load(await resolvePretrained(options));
  }

  /**
   * Embeds one clip.
   *
   * @param samples mono samples in [-1, 1]
   * @param sampleRate their rate in Hz; other rates than 16000 are resampled (band-limited)
   * @returns a 256-dimensional embedding, L2-normalised unless `raw` is set
   * @throws {WeSpeakerError} `invalid-argument` (bad rate, NaN/Inf samples), `audio-too-short`
   * (less than 0.105 s: 9 fbank frames), `closed`
   */
  embed(samples: Float32Array, sampleRate: number, options: EmbedOptions = {}): Float32Array {
    return this.#run([this.#features(samples, sampleRate)], options.raw)[0];
  }

  /**
   * Embeds several clips, grouping clips of similar length into one native call. Each result is
   * what {@link embed} gives for that clip alone.
   *
   * @returns one embedding per clip, in the order given
   */
  embedBatch(
    clips: readonly Float32Array[],
    sampleRate: number,
    options: EmbedBatchOptions = {},
  ): Float32Array[] {
    const { features, groups, results } = this.#plan(clips, sampleRate, options);
    for (const group of groups) {
      const embeddings = this.#run(group.map((i) => features[i]), options.raw);
      group.forEach((clip, k) => results[clip] = embeddings[k]);
    }
    return results;
  }

  /**
   * {@link embed} without blocking the event loop: the network runs on another thread (a Deno
   * nonblocking FFI call, a Worker under Bun). Any number of calls may overlap; they run one at
   * a time per model and give exactly what {@link embed} gives. Closing the model while calls are
   * in flight lets them finish first.
   */
  async embedAsync(
    samples: Float32Array,
    sampleRate: number,
    options: EmbedOptions = {},
  ): Promise<Float32Array> {
    return (await this.#runAsync([this.#features(samples, sampleRate)], options.raw))[0];
  }

  /** {@link embedBatch} without blocking the event loop (see {@link embedAsync}). */
  async embedBatchAsync(
    clips: readonly Float32Array[],
    sampleRate: number,
    options: EmbedBatchOptions = {},
  ): Promise<Float32Array[]> {
    const { features, groups, results } = this.#plan(clips, sampleRate, options);
    for (const group of groups) {
      const embeddings = await this.#runAsync(group.map((i) => features[i]), options.raw);
      group.forEach((clip, k) => results[clip] = embeddings[k]);
    }
    return results;
  }

  /**
   * Reads an audio file in any supported format (a path, or its bytes; see `openAudioStream`) and
   * embeds it: the same result as {@link embed} on its decoded samples. `channel`, `track` and `f32le`
   * say how to read it.
   */
  async embedFile(input: AudioInput, options: EmbedOptions & FileOptions = {}): Promise<Float32Array> {
    this.live();
    const { channel, track, f32le, name } = options;
    const audio = await loadAudio(input, { channel, track, f32le, name });
    try {
      return await this.embedAsync(audio.samples, audio.sampleRate, options);
    } catch (err) {
      // Too short, too long: say which file.
      const file = typeof input === "string" ? input : name ?? "audio data";
      if (err instanceof WeSpeakerError && err.code !== "closed" && !err.message.includes(file)) {
        throw new WeSpeakerError(err.code, `${file}: ${err.message}`, { cause: err });
      }
      throw err;
    }
  }

  /**
   * Embeds precomputed fbank features (see {@link fbank}), optionally with per-frame weights.
   *
   * @returns `numMasks` embeddings of 256 values back to back (one when no weights are given)
   */
  embedFeatures(features: Fbank, options: EmbedFeaturesOptions = {}): Float32Array {
    this.live();
    checkFeatures(features);
    if (!options.weights) return this.#run([features], options.raw)[0];
    const numMasks = options.numMasks ?? 1;
    const { weights } = options;
    if (
      !Number.isInteger(numMasks) || numMasks < 1 || weights.length % numMasks !== 0 || weights.length === 0
    ) {
      throw new WeSpeakerError(
        "invalid-argument",
        `weights hold ${weights.length} values, not a whole number of rows for numMasks = ${numMasks}`,
      );
    }
    return embedNative(this.live(), {
      features: features.data,
      batch: 1,
      frames: features.frames,
      weights,
      numMasks,
      weightFrames: weights.length / numMasks,
      raw: options.raw,
    });
  }

  /**
   * Embeds clips of equal length under several masks each, running the network's trunk once per clip
   * and pooling it once per mask (pyannote's weighted StatsPool): what a diarization pipeline needs
   * for the speakers of one chunk.
   *
   * @param features fbank features of each clip, all with the same number of frames
   * @param weights `[clips, numMasks, W]` per-frame weights, each row spanning its clip at any
   *   resolution W (resampled to the network's frame rate by nearest neighbour)
   * @param numMasks masks per clip
   * @returns `[clips, numMasks, 256]` embeddings, L2-normalised unless `raw`
   * @throws {WeSpeakerError} `invalid-argument` naming the clip and mask of a bad weight row
   */
  embedMasked(
    features: readonly Fbank[],
    weights: Float32Array,
    numMasks: number,
    options: EmbedMaskedOptions = {},
  ): Float32Array {
    return embedNative(this.live(), maskedCall(features, weights, numMasks, options));
  }

  /** {@link embedMasked} off the JavaScript thread; leave the buffers alone until it settles. */
  async embedMaskedAsync(
    features: readonly Fbank[],
    weights: Float32Array,
    numMasks: number,
    options: EmbedMaskedOptions = {},
  ): Promise<Float32Array> {
    const call = maskedCall(features, weights, numMasks, options);
    return await this.whileLive((handle) => embedNativeAsync(handle, call));
  }

  /**
   * Cosine similarity of two embeddings, in [-1, 1].
   *
   * @throws {WeSpeakerError} `invalid-argument` if the lengths differ or either vector is zero or
   * not finite
   */
  static cosineSimilarity(a: Float32Array, b: Float32Array): number {
    if (a.length !== b.length || a.length === 0) {
      throw new WeSpeakerError("invalid-argument", `embeddings differ in length: ${a.length} vs ${b.length}`);
    }
    let dot = 0, na = 0, nb = 0;
    for (let i = 0; i < a.length; i++) {
      dot += a[i] * b[i];
      na += a[i] * a[i];
      nb += b[i] * b[i];
    }
    if (!(na > 0 && nb > 0 && Number.isFinite(dot + na + nb))) {
      throw new WeSpeakerError("invalid-argument", "cosine similarity needs two non-zero, finite vectors");
    }
    return dot / Math.sqrt(na * nb);
  }

  #features(samples: Float32Array, sampleRate: number): Fbank {
    this.live();
    const features = fbank(toModelRate(samples, sampleRate));
    if (features.frames < MIN_FRAMES) {
      throw new WeSpeakerError(
        "audio-too-short",
        `audio gives ${features.frames} fbank frames; the model needs at least ${MIN_FRAMES} ` +
          `(${MIN_SAMPLES} samples at 16 kHz: 0.105 s)`,
      );
    }
    return features;
  }

  // One native call for items of possibly different lengths: padded to the longest, with lengths.
  #run(items: Fbank[], raw = false): Float32Array[] {
    return splitRows(embedNative(this.live(), batchCall(items, raw)), items.length);
  }

  async #runAsync(items: Fbank[], raw = false): Promise<Float32Array[]> {
    const call = batchCall(items, raw);
    return splitRows(await this.whileLive((handle) => embedNativeAsync(handle, call)), items.length);
  }

  #plan(clips: readonly Float32Array[], sampleRate: number, options: BatchPlanOptions) {
    this.live();
    const features = clips.map((clip, i) => {
      try {
        return this.#features(clip, sampleRate);
      } catch (err) {
        if (err instanceof WeSpeakerError) {
          throw new WeSpeakerError(err.code, `clip ${i}: ${err.message}`, { cause: err });
        }
        throw err;
      }
    });
    const groups = planBatches(features.map((f) => f.frames), options);
    return { features, groups, results: new Array<Float32Array>(clips.length) };
  }
}

// One native call for items of possibly different lengths: padded to the longest, with lengths.
function batchCall(items: Fbank[], raw: boolean): EmbedCall {
  const frames = Math.max(...items.map((f) => f.frames));
  if (items.length === 1) return { features: items[0].data, batch: 1, frames, raw };
  const features = new Float32Array(items.length * frames * NUM_MEL_BINS);
  items.forEach((f, b) => features.set(f.data, b * frames * NUM_MEL_BINS));
  const lengths = items.some((f) => f.frames !== frames)
    ? BigInt64Array.from(items, (f) => BigInt(f.frames))
    : undefined;
  return { features, batch: items.length, frames, lengths, raw };
}

function maskedCall(
  features: readonly Fbank[],
  weights: Float32Array,
  numMasks: number,
  options: EmbedMaskedOptions,
): EmbedCall {
  if (features.length === 0) {
    throw new WeSpeakerError("invalid-argument", "embedMasked needs at least one clip");
  }
  features.forEach(checkFeatures);
  const frames = features[0].frames;
  const odd = features.findIndex((f) => f.frames !== frames);
  if (odd >= 0) {
    throw new WeSpeakerError(
      "invalid-argument",
      `clip ${odd} has ${features[odd].frames} frames, clip 0 has ${frames}: embedMasked needs equal lengths`,
    );
  }
  const rows = features.length * numMasks;
  if (!Number.isInteger(numMasks) || numMasks < 1 || weights.length === 0 || weights.length % rows !== 0) {
    throw new WeSpeakerError(
      "invalid-argument",
      `weights hold ${weights.length} values, not ${features.length} clips x ${numMasks} masks x W frames`,
    );
  }
  const batch = batchCall(features as Fbank[], options.raw ?? false);
  return {
    ...batch,
    weights,
    numMasks,
    weightFrames: weights.length / rows,
    emptyMasks: options.allowEmptyMasks,
  };
}

function splitRows(out: Float32Array, rows: number): Float32Array[] {
  return Array.from({ length: rows }, (_, b) => out.slice(b * EMBEDDING_DIM, (b + 1) * EMBEDDING_DIM));
}

function checkFeatures(features: Fbank): void {
  if (!(features?.data instanceof Float32Array) || features.bins !== NUM_MEL_BINS) {
    throw new WeSpeakerError(
      "invalid-argument",
      `features must be an fbank result with ${NUM_MEL_BINS} bins`,
    );
  }
  if (!Number.isInteger(features.frames) || features.data.length !== features.frames * NUM_MEL_BINS) {
    throw new WeSpeakerError(
      "invalid-argument",
      `features hold ${features.data.length} values, not frames (${features.frames}) x ${NUM_MEL_BINS}`,
    );
  }
  if (features.frames < MIN_FRAMES) {
    throw new WeSpeakerError(
      "audio-too-short",
      `features have ${features.frames} frames; the model needs at least ${MIN_FRAMES}`,
    );
  }
}
