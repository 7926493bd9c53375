/**
 * pyannote segmentation-3.0 through libwespeaker: 10 s chunks of 16 kHz audio in, per-frame
 * log-probabilities of the 7 powerset classes out (no speaker, each of 3 local speakers alone, each
 * pair).
 *
 * @module
 */
import { loadingKind } from "./hub/model_kind.ts";
import { WeSpeakerError } from "./errors.ts";
import { NativeModel } from "./native/native_model.ts";
import {
  freeSegmenter,
  loadNativeLibrary,
  loadSegmenter,
  segmentationFrames,
  segmentNative,
  segmentNativeAsync,
} from "./native/library.ts";
import type { Handle } from "./native/runtime.ts";
import {
  SEGMENTATION_CLASSES,
  SEGMENTATION_MAX_SAMPLES,
  SEGMENTATION_SAMPLE_RATE,
} from "./native/symbols.ts";
import { type PretrainedOptions, resolvePretrained, SEGMENTATION_REPO } from "./hub/pretrained.ts";

export { SEGMENTATION_CLASSES, SEGMENTATION_SAMPLE_RATE };

/**
 * A loaded pyannote segmentation-3.0 (PyanNet) model.
 *
 * ```ts
 * using seg = await SegmentationModel.fromPretrained({ token: "hf_…" });
 * const logProbs = seg.segment(chunks, 4); // 4 chunks of 160000 samples → [4, 589, 7]
 * ```
 */
export class SegmentationModel extends NativeModel {
  private constructor(handle: Handle, path: string) {
    super(handle, path, freeSegmenter, "segmentation model");
  }

  /**
   * Loads a converted segmentation `.safetensors` file (see `wespeaker convert`).
   *
   * @throws {WeSpeakerError} `io`, `invalid-weights` naming the first bad tensor, `library-not-found`
   */
  static async load(path: string): Promise<SegmentationModel> {
    await loadNativeLibrary();
    return loadingKind(path, "segmentation", () => new SegmentationModel(loadSegmenter(path), path));
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
    return segmentNative(this.live(), chunks, batch, this.#samplesPerChunk(chunks, batch));
  }

  /**
   * {@link segment} off the JavaScript thread, so the event loop keeps running; leave `chunks` alone
   * until it settles. Closing the model meanwhile is safe: it is freed when the call ends.
   */
  async segmentAsync(chunks: Float32Array, batch: number): Promise<Float32Array> {
    const samples = this.#samplesPerChunk(chunks, batch);
    return await this.whileLive((handle) => segmentNativeAsync(handle, chunks, batch, samples));
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
}
