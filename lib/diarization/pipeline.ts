/**
 * Speaker diarization, pyannote's pipelines computed exactly: `speaker-diarization-community-1`
 * (pyannote.audio 4's default: VBx clustering over PLDA features) and `speaker-diarization-3.1`
 * (agglomerative clustering). Both run segmentation-3.0 on 10 s chunks every second, WeSpeaker
 * ResNet34-LM embeddings of each chunk's local speakers (the trunk computed once per chunk), clustering,
 * and overlap-add reconstruction.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { arch } from "node:os";
import { MODEL_SAMPLE_RATE, toModelRate } from "../audio/load.ts";
import { WeSpeakerError } from "../errors.ts";
import { WeSpeakerModel } from "../model.ts";
import type { AudioSource } from "../audio/sample_stream.ts";
import { SegmentationModel } from "../segmentation.ts";
import { type AudioInput, type FileOptions, openAudioStream } from "../audio/open.ts";
import type { TieOrder } from "./argsort.ts";
import { DIARIZATION_31_CLUSTERING } from "./clustering.ts";
import { type DiarizationProgress, processChunks } from "./local.ts";
import { type ClusteringSettings, diarizeLocalResults } from "./global.ts";
import {
  COMMUNITY_1_PIPELINE,
  loadPipeline,
  type PipelineLoadOptions,
  type PipelineSettings,
} from "./pretrained.ts";
import type { DiarizationResult, SpeakerNamer } from "./result.ts";

export type { DiarizationProgress };

/** Options of {@link DiarizationPipeline.diarize}; `channel`, `track`, `f32le` say how `diarizeFile` reads. */
export interface DiarizeOptions extends FileOptions {
  /** Exact number of speakers, when known (overrides the bounds). */
  numSpeakers?: number;
  /** Fewest speakers (default 1). */
  minSpeakers?: number;
  /** Most speakers (default: no bound); also caps how many speak at once. */
  maxSpeakers?: number;
  /** Distance between 10 s chunk starts in seconds (default: the pipeline's, 1 s in both published ones). */
  step?: number;
  /** Gaps shorter than this between turns of one speaker are filled, in seconds (default: the pipeline's, 0). */
  minDurationOff?: number;
  /**
   * Cut height of the agglomerative clustering (3.1: 0.7045654963945799) or of VBx's agglomerative
   * initialisation (community-1: 0.6). Default: the pipeline's.
   */
  threshold?: number;
  /** Smallest cluster kept on its own (agglomerative clustering only; 3.1: 12, reduced for short files). */
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
  /**
   * Names the speakers found (a `SpeakerRegistry` holding this pipeline's embedding model): a speaker
   * whose embedding reaches the registry's threshold gets an enrolled name, never two the same; the others
   * keep `SPEAKER_xx`. See `SpeakerRegistry.nameSpeakers`.
   */
  registry?: SpeakerNamer;
  /** Stops the work; the promise then rejects with `WeSpeakerError` code `aborted`. */
  signal?: AbortSignal;
}

/** Options of {@link DiarizationPipeline.fromPretrained}: the Hub's, and models to use instead of the config's. */
export type DiarizationPretrainedOptions = PipelineLoadOptions;

/** `speaker-diarization-3.1`'s settings: what {@link DiarizationPipeline.load} and the constructor default to. */
export const DIARIZATION_31_SETTINGS: PipelineSettings = {
  clustering: { method: "AgglomerativeClustering", ...DIARIZATION_31_CLUSTERING },
  step: 1,
  minDurationOff: 0,
  excludeOverlap: true,
};

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
 * The diarization pipeline: a segmentation model, an embedding model and the settings of its config
 * (the clustering and its parameters).
 *
 * ```ts
 * using pipeline = await DiarizationPipeline.fromPretrained(); // community-1, as pyannote.audio 4
 * const result = await pipeline.diarizeFile("meeting.wav", { maxSpeakers: 4 });
 * console.log(result.toRTTM("meeting"), result.toRTTM("meeting", { exclusive: true }));
 * ```
 */
export class DiarizationPipeline implements Disposable {
  /** The segmentation model (pyannote segmentation-3.0). */
  readonly segmentation: SegmentationModel;
  /** The speaker embedding model (WeSpeaker ResNet34-LM). */
  readonly embedding: WeSpeakerModel;
  /** The clustering, chunk step, gap filling and embedding pooling the pipeline's config chose. */
  readonly settings: PipelineSettings;

  /**
   * A pipeline over two loaded models; {@link close} closes both.
   *
   * @param settings default: speaker-diarization-3.1's ({@link DIARIZATION_31_SETTINGS})
   */
  constructor(
    segmentation: SegmentationModel,
    embedding: WeSpeakerModel,
    settings: PipelineSettings = DIARIZATION_31_SETTINGS,
  ) {
    this.segmentation = segmentation;
    this.embedding = embedding;
    this.settings = settings;
  }

  /**
   * Loads both models from local files, as a speaker-diarization-3.1 pipeline: converted `.safetensors`, or any checkpoint the CLI takes
   * (pyannote `pytorch_model.bin`, WeSpeaker `avg_model.pt`, ONNX, or a directory holding one), converted
   * on first use and cached like `fromPretrained`'s.
   *
   * @throws {WeSpeakerError} `io` for a path that does not exist, `invalid-weights` for a file that is
   *   not the expected model (a segmentation model given as the embedding model is named as such)
   */
  static async load(segmentationPath: string, embeddingPath: string): Promise<DiarizationPipeline> {
    for (const path of [segmentationPath, embeddingPath]) {
      if (!existsSync(path)) {
        throw new WeSpeakerError("io", `cannot read model ${path}: no such file or directory`);
      }
    }
    const segmentation = await SegmentationModel.fromPretrained({ repo: segmentationPath });
    try {
      return new DiarizationPipeline(
        segmentation,
        await WeSpeakerModel.fromPretrained({ repo: embeddingPath }),
      );
    } catch (err) {
      segmentation.close();
      throw err;
    }
  }

  /**
   * Loads a pipeline by its Hub id or from a local directory, as pyannote.audio 4's
   * `Pipeline.from_pretrained` does: its `config.yaml` names the models, the clustering and its
   * parameters; models and PLDA are downloaded (or found in the Hub cache) and converted on first use.
   * Without an id, `pyannote/speaker-diarization-community-1` (pyannote.audio 4's default);
   * `pyannote/speaker-diarization-3.1` is the other published one. Both are gated on the Hub (3.1 through
   * `pyannote/segmentation-3.0`): accept their conditions and pass `token` (or set `HF_TOKEN`).
   *
   * ```ts
   * using c1 = await DiarizationPipeline.fromPretrained({ token });
   * using v31 = await DiarizationPipeline.fromPretrained("pyannote/speaker-diarization-3.1", { token });
   * using local = await DiarizationPipeline.fromPretrained("./speaker-diarization-community-1");
   * ```
   *
   * @param pipeline a Hub repo id, a local directory holding `config.yaml`, or such a file's path
   * @param options Hub options (token, revision, cache, offline…); `segmentation` / `embedding` replace
   *   the config's models
   * @throws {WeSpeakerError} the Hub's errors; `invalid-weights` naming the config key, file or array
   *   that cannot be used
   */
  static async fromPretrained(
    pipeline?: string | DiarizationPretrainedOptions,
    options: DiarizationPretrainedOptions = {},
  ): Promise<DiarizationPipeline> {
    const [id, opts] = typeof pipeline === "string"
      ? [pipeline, options]
      : [COMMUNITY_1_PIPELINE, pipeline ?? options];
    const { segmentation, embedding, settings } = await loadPipeline(id, opts);
    return new DiarizationPipeline(segmentation, embedding, settings);
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
   * Diarizes an audio file in any supported format (a path, or its bytes; see `openAudioStream`),
   * reading it as it goes: memory holds the chunks of one batch and the per-chunk results, never the
   * whole recording. `channel` diarizes one channel of a multi-channel file (default: their average).
   *
   * @throws {WeSpeakerError} `io`, `invalid-wav`, `invalid-audio`, `unsupported-audio` naming the file,
   *   `audio-too-short` for audio shorter than one segmentation frame, and the errors of {@link diarize}
   */
  async diarizeFile(input: AudioInput, options: DiarizeOptions = {}): Promise<DiarizationResult> {
    const { channel, track, f32le, name } = options;
    const stream = await openAudioStream(input, { channel, track, f32le, name });
    const label = typeof input === "string" ? input : name ?? "audio data";
    const { frames } = stream.info;
    const expected = frames === undefined
      ? undefined
      : Math.ceil((frames * MODEL_SAMPLE_RATE) / stream.sampleRate);
    try {
      return await this.#run(stream, label, expected, options);
    } finally {
      await stream.close();
    }
  }

  async #run(source: AudioSource, label: string, expected: number | undefined, options: DiarizeOptions) {
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
    const stepSeconds = options.step ?? (fast ? 2 : this.settings.step);
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
      excludeOverlap: this.settings.excludeOverlap,
      windowTrunk: fast,
      expectedSamples: expected,
      onProgress: options.onProgress,
      signal: options.signal,
      label,
    });
    const result = diarizeLocalResults(local, {
      chunkDuration: window / MODEL_SAMPLE_RATE,
      chunkStep: step / MODEL_SAMPLE_RATE,
      minSpeakers,
      maxSpeakers,
      numSpeakers: minSpeakers === maxSpeakers ? minSpeakers : undefined,
      minDurationOff: options.minDurationOff ?? this.settings.minDurationOff,
      clustering: this.#clustering(options),
      tieOrder: options.tieOrder ?? (arch() === "x64" ? "numpy-x86-simd" : "numpy-generic"),
      label,
      onProgress: options.onProgress,
    });
    return options.registry ? await options.registry.nameSpeakers(result, { model: this.embedding }) : result;
  }

  /** The configured clustering with the call's overrides. */
  #clustering(options: DiarizeOptions): ClusteringSettings {
    const base = this.settings.clustering;
    if (base.method === "VBxClustering") {
      if (options.minClusterSize !== undefined) {
        throw new WeSpeakerError(
          "invalid-argument",
          "minClusterSize applies to agglomerative clustering only, not VBx",
        );
      }
      return { ...base, threshold: options.threshold ?? base.threshold };
    }
    return {
      ...base,
      threshold: options.threshold ?? base.threshold,
      minClusterSize: options.minClusterSize ?? base.minClusterSize,
    };
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
