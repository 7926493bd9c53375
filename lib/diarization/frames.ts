/**
 * Time grids of the diarization pipeline: the sliding window of chunks and the model's output frames,
 * with the float64 arithmetic of pyannote.core's `SlidingWindow` (same operations in the same order, so
 * that frame indices and timestamps come out bit for bit the same), and the receptive field of a stack
 * of strided convolutions, from which the segmentation model's frame grid is derived.
 *
 * @module
 */

import { WeSpeakerError } from "../errors.ts";

/** Start, duration and step of a sliding window, in seconds. */
export interface WindowSpec {
  /** Start of the first window. */
  start: number;
  /** Length of each window. */
  duration: number;
  /** Distance between the starts of consecutive windows. */
  step: number;
}

/**
 * Rounds to the nearest integer, ties to even, as `numpy.rint` does (`Math.round` sends ties up).
 *
 * @param x a finite number
 * @returns the nearest integer, the even one on a tie
 */
export function rint(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** A sliding window of fixed duration and step: window `i` covers `[start + i * step, … + duration]`. */
export class SlidingWindow implements WindowSpec {
  /** Start of the first window, in seconds. */
  readonly start: number;
  /** Length of each window, in seconds. */
  readonly duration: number;
  /** Distance between consecutive window starts, in seconds. */
  readonly step: number;

  /**
   * Creates a sliding window.
   *
   * @param spec start (finite), duration and step (finite, > 0), in seconds
   * @throws {WeSpeakerError} `invalid-argument` when a field is out of range
   */
  constructor(spec: WindowSpec) {
    const { start, duration, step } = spec;
    if (!Number.isFinite(start)) {
      throw new WeSpeakerError("invalid-argument", `sliding window start must be finite, got ${start}`);
    }
    if (!(Number.isFinite(duration) && duration > 0)) {
      throw new WeSpeakerError("invalid-argument", `sliding window duration must be > 0, got ${duration}`);
    }
    if (!(Number.isFinite(step) && step > 0)) {
      throw new WeSpeakerError("invalid-argument", `sliding window step must be > 0, got ${step}`);
    }
    this.start = start;
    this.duration = duration;
    this.step = step;
  }

  /**
   * Start time of window `i` (pyannote.core `SlidingWindow.__getitem__(i).start`).
   *
   * @param i window index
   * @returns `start + i * step`
   */
  windowStart(i: number): number {
    return this.start + i * this.step;
  }

  /**
   * Middle of window `i` (pyannote.core `SlidingWindow.__getitem__(i).middle`): the timestamp that
   * pyannote's `Binarize` gives to frame `i`.
   *
   * @param i window index
   * @returns the mid-point of the window, computed as pyannote.core computes it
   */
  middle(i: number): number {
    const start = this.windowStart(i);
    return 0.5 * (start + (start + this.duration));
  }

  /**
   * Index of the window whose middle is closest to `t` (pyannote.core `SlidingWindow.closest_frame`),
   * ties to even as `numpy.rint`; may be negative or past any end.
   *
   * @param t time in seconds
   * @returns the window index
   */
  closestFrame(t: number): number {
    return rint((t - this.start - 0.5 * this.duration) / this.step);
  }
}

/** Kernel sizes of the SincNet front end of pyannote's PyanNet (segmentation-3.0): `[251, 3, 5, 3, 5, 3]`. */
export const SINCNET_KERNEL_SIZES: readonly number[] = Object.freeze([251, 3, 5, 3, 5, 3]);

/** Strides of the SincNet front end of pyannote's PyanNet (segmentation-3.0): `[10, 3, 1, 3, 1, 3]`. */
export const SINCNET_STRIDES: readonly number[] = Object.freeze([10, 3, 1, 3, 1, 3]);

function checkLayers(kernelSizes: readonly number[], strides: readonly number[]): void {
  if (kernelSizes.length === 0 || kernelSizes.length !== strides.length) {
    throw new WeSpeakerError(
      "invalid-argument",
      `convolution layers: need as many strides as kernel sizes (at least one), got ${kernelSizes.length} ` +
        `kernel sizes and ${strides.length} strides`,
    );
  }
  for (let i = 0; i < kernelSizes.length; i++) {
    if (!(Number.isInteger(kernelSizes[i]) && kernelSizes[i] > 0)) {
      throw new WeSpeakerError("invalid-argument", `kernel size ${i} must be a positive integer`);
    }
    if (!(Number.isInteger(strides[i]) && strides[i] > 0)) {
      throw new WeSpeakerError("invalid-argument", `stride ${i} must be a positive integer`);
    }
  }
}

/** Samples seen by `numFrames` consecutive output frames: the layers walked from the last to the first. */
function receptiveFieldSize(
  numFrames: number,
  kernelSizes: readonly number[],
  strides: readonly number[],
): number {
  let size = numFrames;
  for (let i = kernelSizes.length - 1; i >= 0; i--) size = kernelSizes[i] + (size - 1) * strides[i];
  return size;
}

/**
 * The grid of output frames of unpadded, undilated 1-d convolutions (pyannote's `Model.receptive_field`):
 * frame `i` covers the input samples it depends on. Size and centre are carried back through the layers
 * in integers, as pyannote's `utils/receptive_field.py` does, then divided by the sample rate.
 *
 * For segmentation-3.0 (`SINCNET_KERNEL_SIZES`, `SINCNET_STRIDES`, 16 kHz): start 0, duration
 * 991 / 16000 s, step 270 / 16000 s.
 *
 * @param kernelSizes kernel size of each layer, input side first
 * @param strides stride of each layer, input side first
 * @param sampleRate input sample rate in Hz
 * @returns the frame grid, in seconds
 * @throws {WeSpeakerError} `invalid-argument` on empty or mismatched layer lists or a bad sample rate
 */
export function receptiveField(
  kernelSizes: readonly number[],
  strides: readonly number[],
  sampleRate: number,
): SlidingWindow {
  checkLayers(kernelSizes, strides);
  if (!(Number.isFinite(sampleRate) && sampleRate > 0)) {
    throw new WeSpeakerError("invalid-argument", `sample rate must be > 0, got ${sampleRate}`);
  }
  const size = receptiveFieldSize(1, kernelSizes, strides);
  const step = receptiveFieldSize(2, kernelSizes, strides) - size;
  let center = 0;
  for (let i = kernelSizes.length - 1; i >= 0; i--) {
    center = center * strides[i] + Math.floor((kernelSizes[i] - 1) / 2);
  }
  return new SlidingWindow({
    start: (center - (size - 1) / 2) / sampleRate,
    duration: size / sampleRate,
    step: step / sampleRate,
  });
}

/**
 * Number of output frames of unpadded, undilated 1-d convolutions over `numSamples` inputs (pyannote's
 * `multi_conv_num_frames`); 589 for 160000 samples through segmentation-3.0's SincNet.
 *
 * @param numSamples input length
 * @param kernelSizes kernel size of each layer, input side first
 * @param strides stride of each layer, input side first
 * @returns the output length
 * @throws {WeSpeakerError} `invalid-argument` when the input is shorter than one receptive field
 */
export function convOutputFrames(
  numSamples: number,
  kernelSizes: readonly number[],
  strides: readonly number[],
): number {
  checkLayers(kernelSizes, strides);
  if (!Number.isInteger(numSamples) || numSamples < receptiveFieldSize(1, kernelSizes, strides)) {
    throw new WeSpeakerError(
      "invalid-argument",
      `${numSamples} samples: need an integer of at least one receptive field ` +
        `(${receptiveFieldSize(1, kernelSizes, strides)} samples)`,
    );
  }
  let n = numSamples;
  for (let i = 0; i < kernelSizes.length; i++) n = Math.floor((n - kernelSizes[i]) / strides[i]) + 1;
  return n;
}
