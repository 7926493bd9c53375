/**
 * Speaker diarization, pyannote `speaker-diarization-3.1` computed exactly: segmentation-3.0 on 10 s
 * chunks every second, WeSpeaker ResNet34-LM embeddings of each chunk's local speakers (the trunk
 * computed once per chunk), agglomerative clustering, and overlap-add reconstruction.
 *
 * @module
 */
import { arch } from "node:os";
import { MODEL_SAMPLE_RATE, toModelRate } from "../audio/load.ts";
import { WeSpeakerError } from "../errors.ts";
import { WeSpeakerModel } from "../model.ts";
import type { PretrainedOptions } from "../hub/pretrained.ts";
import type { AudioSource } from "../audio/sample_stream.ts";
import { SegmentationModel } from "../segmentation.ts";
import { openWavStream } from "../audio/wav_stream.ts";
import type { TieOrder } from "./argsort.ts";
import { DIARIZATION_31_CLUSTERING } from "./clustering.ts";
import { type DiarizationProgress, processChunks } from "./local.ts";
import { diarizeLocalResults } from "./global.ts";
import type { DiarizationResult } from "./result.ts";

export type { DiarizationProgress };

/** Options of {@link DiarizationPipeline.diarize}. */
export interface DiarizeOptions {
  /** Exact number of speakers, when known (overrides the bounds). */
  numSpeakers?: number;
  /** Fewest speakers (default 1). */
  minSpeakers?: number;
  /** Most speakers (default: no bound); also caps how many speak at once. */
  maxSpeakers?: number;
  /** One speaker at a time: overlapped speech goes to the most active speaker (default false). */
  exclusive?: boolean;
  /** Distance between 10 s chunk starts in seconds (default 1, pyannote's 10% of the chunk). */
  step?: number;
  /** Gaps shorter than this between turns of one speaker are filled, in seconds (default 0, as in 3.1). */
  minDurationOff?: number;
  /** Clustering threshold on the linkage height (default 0.7045654963945799, 3.1's). */
  threshold?: number;
  /** Smallest cluster kept on its own (default 12, 3.1's; reduced for short files as pyannote does). */
  minClusterSize?: number;
  /**
   * How frames where several speakers are equally active are broken when the speaker count selects
   * among them, reproducing numpy's argsort: `numpy-x86-simd` is what pyannote does on x86-64 (numpy
   * 2.x with AVX2), `numpy-generic` on arm64. Default: this machine's.
   */
  tieOrder?: TieOrder;
  /** Chunks per native call (default 8): the chunks held in memory at once. */
  batchSize?: number;
  /**
   * Compute the embedding network's trunk once per chunk and pool it per speaker (default true). False
   * runs one full network pass per (chunk, speaker) as pyannote does: same output, about 3x slower.
   */
  shareTrunk?: boolean;
  /**
   * Fast mode, off by default: NOT pyannote's output. Chunks every 2 s instead of 1 (unless `step` says
   * otherwise), and the embedding trunk computed once over each batch's stretch of audio (its chunks
   * overlap), each (chunk, speaker) pooled over its chunk's frames of it: features normalised over the
   * stretch, and context from around the chunk where pyannote pads it with zeros. Segmentation, clustering
   * and reconstruction are pyannote's. See the README for its speed and how far its output moves.
   */
  fast?: boolean;
  /** Called as the stages advance. */
  onProgress?: (progress: DiarizationProgress) => void;
  /** Stops the work; the promise then rejects with `WeSpeakerError` code `aborted`. */
  signal?: AbortSignal;
}

/** Options of {@link DiarizationPipeline.fromPretrained}. */
export interface DiarizationPretrainedOptions extends Omit<PretrainedOptions, "repo"> {
  /** Segmentation model: a Hub repo or local checkpoint (default `pyannote/segmentation-3.0`, gated). */
  segmentation?: string;
  /** Embedding model: a Hub repo or local checkpoint (default: `WeSpeakerModel.fromPretrained`'s). */
  embedding?: string;
}

function positiveInteger(name: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) {
    throw new WeSpeakerError("invalid-argument", `${name} must be a positive integer, got ${value}`);
  }
}

function nonNegative(name: string, value: number | undefined): void {
  if (value !== undefined && !(typeof value === "number" && Number.isFinite(value) && value >= 0)) {
    throw new WeSpeakerError("invalid-argument", `${name} must be a finite number >= 0, got ${value}`);
  }
}

/**
 * The diarization pipeline: a segmentation model and an embedding model.
 *
 * ```ts
 * using pipeline = await DiarizationPipeline.fromPretrained({ token: "hf_…" });
 * const result = await pipeline.diarizeFile("meeting.wav", { maxSpeakers: 4 });
 * console.log(result.toRTTM("meeting"));
 * ```
 */
export class DiarizationPipeline implements Disposable {
  /** The segmentation model (pyannote segmentation-3.0). */
  readonly segmentation: SegmentationModel;
  /** The speaker embedding model (WeSpeaker ResNet34-LM). */
  readonly embedding: WeSpeakerModel;

  /** A pipeline over two loaded models; {@link close} closes both. */
  constructor(segmentation: SegmentationModel, embedding: WeSpeakerModel) {
    this.segmentation = segmentation;
    this.embedding = embedding;
  }

  /** Loads both models from converted `.safetensors` files. */
  static async load(segmentationPath: string, embeddingPath: string): Promise<DiarizationPipeline> {
    const segmentation = await SegmentationModel.load(segmentationPath);
    try {
      return new DiarizationPipeline(segmentation, await WeSpeakerModel.load(embeddingPath));
    } catch (err) {
      segmentation.close();
      throw err;
    }
  }

  /**
   * Loads both models from the Hugging Face Hub (or local checkpoints), converting them on first use.
   * `pyannote/segmentation-3.0` is gated: accept its conditions on the Hub and pass `token` (or set
   * `HF_TOKEN`).
   */
  static async fromPretrained(options: DiarizationPretrainedOptions = {}): Promise<DiarizationPipeline> {
    const { segmentation: segRepo, embedding: embRepo, ...hub } = options;
    const segmentation = await SegmentationModel.fromPretrained({ ...hub, repo: segRepo });
    try {
      return new DiarizationPipeline(
        segmentation,
        await WeSpeakerModel.fromPretrained({ ...hub, repo: embRepo }),
      );
    } catch (err) {
      segmentation.close();
      throw err;
    }
  }

  /**
   * Diarizes mono audio held in memory.
   *
   * @param samples mono samples in [-1, 1]
   * @param sampleRate their rate in Hz (resampled to 16 kHz when different)
   * @throws {WeSpeakerError} `invalid-argument` for bad options or audio, `aborted`, `closed`, and the
   *   models' errors
   */
  async diarize(
    samples: Float32Array,
    sampleRate: number,
    options: DiarizeOptions = {},
  ): Promise<DiarizationResult> {
    if (!(samples instanceof Float32Array)) {
      throw new WeSpeakerError("invalid-argument", "samples must be a Float32Array of mono samples");
    }
    const audio = toModelRate(samples, sampleRate);
    return await this.#run(audio, "audio", audio.length, options);
  }

  /**
   * Diarizes a WAV file (any encoding, channel count and rate), reading it as it goes: memory holds the
   * chunks of one batch and the per-chunk results, never the whole recording.
   *
   * @throws {WeSpeakerError} `io`, `invalid-wav` naming the file, and the errors of {@link diarize}
   */
  async diarizeFile(path: string, options: DiarizeOptions = {}): Promise<DiarizationResult> {
    const stream = await openWavStream(path);
    const { frames } = stream.info;
    await stream.close();
    const expected = Math.ceil((frames * MODEL_SAMPLE_RATE) / stream.sampleRate);
    return await this.#run(path, path, expected, options);
  }

  async #run(source: AudioSource, label: string, expected: number, options: DiarizeOptions) {
    positiveInteger("numSpeakers", options.numSpeakers);
    positiveInteger("minSpeakers", options.minSpeakers);
    positiveInteger("maxSpeakers", options.maxSpeakers);
    positiveInteger("batchSize", options.batchSize);
    positiveInteger("minClusterSize", options.minClusterSize);
    nonNegative("minDurationOff", options.minDurationOff);
    nonNegative("threshold", options.threshold);
    const fast = options.fast ?? false;
    if (fast && options.shareTrunk === false) {
      throw new WeSpeakerError(
        "invalid-argument",
        "fast mode shares the trunk: it takes no shareTrunk: false",
      );
    }
    const stepSeconds = options.step ?? (fast ? 2 : 1);
    if (!(typeof stepSeconds === "number" && stepSeconds > 0 && stepSeconds <= 10)) {
      throw new WeSpeakerError("invalid-argument", `step must be in (0, 10] seconds, got ${stepSeconds}`);
    }
    // pyannote's set_num_speakers: an exact count fixes both bounds.
    const minSpeakers = options.numSpeakers ?? options.minSpeakers ?? 1;
    const maxSpeakers = options.numSpeakers ?? options.maxSpeakers ?? Infinity;
    if (minSpeakers > maxSpeakers) {
      throw new WeSpeakerError(
        "invalid-argument",
        `minSpeakers must be smaller than (or equal to) maxSpeakers (here: ${minSpeakers} and ${maxSpeakers})`,
      );
    }
    const window = 10 * MODEL_SAMPLE_RATE;
    const step = Math.round(stepSeconds * MODEL_SAMPLE_RATE);
    const local = await processChunks(source, this.segmentation, this.embedding, {
      window,
      step,
      batchSize: options.batchSize ?? 8,
      shareTrunk: options.shareTrunk ?? true,
      windowTrunk: fast,
      expectedSamples: expected,
      onProgress: options.onProgress,
      signal: options.signal,
      label,
    });
    return diarizeLocalResults(local, {
      chunkDuration: window / MODEL_SAMPLE_RATE,
      chunkStep: step / MODEL_SAMPLE_RATE,
      minSpeakers,
      maxSpeakers,
      numSpeakers: minSpeakers === maxSpeakers ? minSpeakers : undefined,
      exclusive: options.exclusive ?? false,
      minDurationOff: options.minDurationOff ?? 0,
      threshold: options.threshold ?? DIARIZATION_31_CLUSTERING.threshold,
      minClusterSize: options.minClusterSize ?? DIARIZATION_31_CLUSTERING.minClusterSize,
      tieOrder: options.tieOrder ?? (arch() === "x64" ? "numpy-x86-simd" : "numpy-generic"),
      label,
      onProgress: options.onProgress,
    });
  }

  /** Closes both models. Idempotent. */
  close(): void {
    this.segmentation.close();
    this.embedding.close();
  }

  /** Same as {@link close}, for `using pipeline = …`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
