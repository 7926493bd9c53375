/**
 * Floating-point operation counts of the WeSpeaker ResNet34-LM network, from its architecture
 * (`lib/native/model_layout.ts`), for reporting achieved GFLOP/s.
 *
 * A convolution producing an `O × F_out × T_out` map from `I` input channels with a `kH × kW`
 * kernel counts `2 · O · kH · kW · I · F_out · T_out` (one multiply and one add per weight and
 * output position); the final Linear counts `2 · 5120 · 256`. Bias additions, ReLUs, residual
 * sums and the statistics pooling are left out: together they are well under 1 % of the total.
 * Every 3×3 convolution pads by 1 and a stride-2 one (3×3 or the 1×1 shortcut) gives
 * `ceil(n / 2)` outputs from `n`, on both frequency and time.
 *
 * ```ts
 * import { embeddingFlops } from "./flops.ts";
 * console.log(embeddingFlops(200) / 1e9); // ≈ 9.06 GFLOP for 2 s of audio (198 frames ≈ 200)
 * ```
 *
 * @module
 */
import {
  EMBEDDING_DIM,
  NUM_MEL_BINS,
  resnetBlocks,
  STATS_DIM,
  STEM_CHANNELS,
} from "./native/model_layout.ts";

/** The cost of one layer of the network for one clip. */
export interface LayerFlops {
  /** Weight name prefix of the layer, e.g. `layer2.0.shortcut` or `embedding`. */
  name: string;
  /** Floating-point operations (multiply and add counted separately). */
  flops: number;
}

function checkPositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
}

/** Output length of a stride-`s` convolution that keeps the size at stride 1: `ceil(n / s)`. */
function strided(n: number, stride: number): number {
  return Math.ceil(n / stride);
}

/**
 * The operations of each convolution and of the final Linear layer for one clip of `frames` fbank
 * frames, in network order.
 *
 * @param frames number of fbank frames (10 ms each), a positive integer
 * @throws {RangeError} when `frames` is not a positive integer
 */
export function layerFlops(frames: number): LayerFlops[] {
  checkPositiveInteger("frames", frames);
  const layers: LayerFlops[] = [];
  let F = NUM_MEL_BINS;
  let T = frames;
  const conv = (name: string, out: number, kernel: number, inp: number, fOut: number, tOut: number) =>
    layers.push({ name, flops: 2 * out * kernel * kernel * inp * fOut * tOut });
  conv("conv1", STEM_CHANNELS, 3, 1, F, T);
  for (const { prefix, inChannels, outChannels, stride, shortcut } of resnetBlocks()) {
    const fOut = strided(F, stride);
    const tOut = strided(T, stride);
    conv(`${prefix}.conv1`, outChannels, 3, inChannels, fOut, tOut);
    conv(`${prefix}.conv2`, outChannels, 3, outChannels, fOut, tOut);
    if (shortcut) conv(`${prefix}.shortcut`, outChannels, 1, inChannels, fOut, tOut);
    F = fOut;
    T = tOut;
  }
  layers.push({ name: "embedding", flops: 2 * STATS_DIM * EMBEDDING_DIM });
  return layers;
}

/**
 * Floating-point operations of one forward pass (convolutions and the final Linear) for `batch`
 * clips of `frames` fbank frames each: about 9.06 GFLOP per clip of 200 frames (2 s), and close
 * to proportional to `frames`.
 *
 * @param frames fbank frames per clip, a positive integer
 * @param batch number of clips (default 1)
 * @throws {RangeError} when `frames` or `batch` is not a positive integer
 */
export function embeddingFlops(frames: number, batch = 1): number {
  checkPositiveInteger("batch", batch);
  return batch * layerFlops(frames).reduce((sum, layer) => sum + layer.flops, 0);
}
