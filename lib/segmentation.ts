/**
 * pyannote segmentation-3.0 through libwespeaker: 10 s chunks of 16 kHz audio in, per-frame
 * log-probabilities of the 7 powerset classes out (no speaker, each of 3 local speakers alone, each
 * pair).
 *
 * @module
 */
import { WeSpeakerError } from "./errors.ts";
import {
  freeSegmenter,
  loadSegmenter,
  segmentationFrames,
  segmentNative,
  segmentNativeAsync,
} from "./ffi/library.ts";
import type { Handle } from "./ffi/runtime.ts";
import { SEGMENTATION_CLASSES, SEGMENTATION_MAX_SAMPLES, SEGMENTATION_SAMPLE_RATE } from "./ffi/symbols.ts";
import { type PretrainedOptions, resolvePretrained, SEGMENTATION_REPO } from "./pretrained.ts";

export { SEGMENTATION_CLASSES, SEGMENTATION_SAMPLE_RATE };

const leaked = new FinalizationRegistry<Handle>((handle) => freeSegmenter(handle));

/**
 * A loaded pyannote segmentation-3.0 (PyanNet) model.
 *
 * ```ts
 * using seg = await SegmentationModel.fromPretrained({ token: "hf_…" });
 * const logProbs = seg.segment(chunks, 4); // 4 chunks of 160000 samples → [4, 589, 7]
 * ```
 */
export class SegmentationModel implements Disposable {
  #handle: Handle | null;
  readonly #path: string;
  // Async calls still running, and the handle close() left for the last of them to free.
  #inFlight = 0;
  #freeWhenIdle: Handle | null = null;

  private constructor(handle: Handle, path: string) {
    this.#handle = handle;
    this.#path = path;
    leaked.register(this, handle, this);
  }

  /**
   * Loads a converted segmentation `.safetensors` file (see `wespeaker convert`).
   *
   * @throws {WeSpeakerError} `io`, `invalid-weights` naming the first bad tensor, `library-not-found`
   */
  static load(path: string): Promise<SegmentationModel> {
    try {
      return Promise.resolve(new SegmentationModel(loadSegmenter(path), path));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Loads `pyannote/segmentation-3.0` from the Hugging Face Hub (gated: accept its conditions on the
   * Hub and pass `token` or set `HF_TOKEN`), or a local checkpoint file or directory given as `repo`.
   * The PyTorch checkpoint is converted on first use and the result cached.
   *
   * @throws {WeSpeakerError} `unauthorized` without a valid token, and the errors of `WeSpeakerModel.fromPretrained`
   */
  static async fromPretrained(options: PretrainedOptions = {}): Promise<SegmentationModel> {
    return await SegmentationModel.load(
      await resolvePretrained({ ...options, repo: options.repo ?? SEGMENTATION_REPO }),
    );
  }

  /** The weights file this model was loaded from. */
  get path(): string {
    return this.#path;
  }

  /** Output frames for a chunk of `samples` samples (589 for 10 s), 0 when it is too short for one. */
  static framesFor(samples: number): number {
    return segmentationFrames(samples);
  }

  /**
   * Segments `batch` chunks of equal length laid end to end in `chunks`.
   *
   * @param chunks `batch × samples` mono samples at 16 kHz
   * @param batch number of chunks
   * @returns `[batch, frames, 7]` log-probabilities, frames = {@link SegmentationModel.framesFor}(samples)
   * @throws {WeSpeakerError} `invalid-argument` (lengths, NaN/Inf samples), `closed`
   */
  segment(chunks: Float32Array, batch: number): Float32Array {
    return segmentNative(this.#live(), chunks, batch, this.#samplesPerChunk(chunks, batch));
  }

  /**
   * {@link segment} off the JavaScript thread, so the event loop keeps running; leave `chunks` alone
   * until it settles. Closing the model meanwhile is safe: it is freed when the call ends.
   */
  async segmentAsync(chunks: Float32Array, batch: number): Promise<Float32Array> {
    const samples = this.#samplesPerChunk(chunks, batch);
    const handle = this.#live();
    this.#inFlight++;
    try {
      return await segmentNativeAsync(handle, chunks, batch, samples);
    } finally {
      if (--this.#inFlight === 0 && this.#freeWhenIdle !== null) {
        freeSegmenter(this.#freeWhenIdle);
        this.#freeWhenIdle = null;
      }
    }
  }

  #live(): Handle {
    if (this.#handle === null) {
      throw new WeSpeakerError("closed", `segmentation model ${this.#path} is closed`);
    }
    return this.#handle;
  }

  #samplesPerChunk(chunks: Float32Array, batch: number): number {
    if (
      !(chunks instanceof Float32Array) || !Number.isInteger(batch) || batch < 1 ||
      chunks.length % batch !== 0
    ) {
      throw new WeSpeakerError(
        "invalid-argument",
        `batch must be a positive integer dividing chunks.length (${chunks?.length}), got ${batch}`,
      );
    }
    const samples = chunks.length / batch;
    if (chunks.length > SEGMENTATION_MAX_SAMPLES) {
      throw new WeSpeakerError(
        "invalid-argument",
        `${batch} chunks of ${samples} samples exceed the per-call limit of ${SEGMENTATION_MAX_SAMPLES} samples`,
      );
    }
    return samples;
  }

  /** Frees the native model. Idempotent. */
  close(): void {
    if (this.#handle === null) return;
    const handle = this.#handle;
    this.#handle = null;
    leaked.unregister(this);
    if (this.#inFlight > 0) this.#freeWhenIdle = handle;
    else freeSegmenter(handle);
  }

  /** Same as {@link close}, for `using seg = …`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
