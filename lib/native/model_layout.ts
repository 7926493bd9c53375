/**
 * The tensor layout of the MLX WeSpeaker ResNet34-LM weights: the single source of truth for the names
 * and shapes that a weights file must hold (used by the random-weights generator and by the tests).
 *
 * Every tensor is float32. BatchNorm is fused into the convolutions, so every convolution has a bias.
 * Convolution weights are `[O, kH, kW, I]` (MLX channels-last) where **H is frequency and W is time**:
 * the network sees its input as `[B, 80 (frequency), T (time), C]`. Relative to PyTorch's
 * `[O, I, kH, kW]` (input `(B, C, F, T)`) the MLX weight is `w_pt.transpose(0, 2, 3, 1)`.
 *
 * @module
 */

/** One tensor that the weights file must hold. */
export interface WeightSpec {
  /** Key in the safetensors header, e.g. `layer2.0.shortcut.weight`. */
  name: string;
  /** Expected shape, outermost dimension first. */
  shape: number[];
}

/** Number of BasicBlocks in each of the four stages (ResNet34). */
export const STAGE_BLOCKS: readonly number[] = [3, 4, 6, 3];

/** Output channels of each of the four stages (ResNet34-LM, `m_channels = 32`). */
export const STAGE_CHANNELS: readonly number[] = [32, 64, 128, 256];

/** Stride (frequency and time) of the first block of each stage; the other blocks have stride 1. */
export const STAGE_STRIDES: readonly number[] = [1, 2, 2, 2];

/** Output channels of the stem convolution `conv1`. */
export const STEM_CHANNELS = 32;

/** Number of fbank bins the network takes (the frequency axis). */
export const NUM_MEL_BINS = 80;

/** Frequency bins left after the trunk: 80 / 8. */
export const POOLED_FREQUENCY_BINS = 10;

/** Dimension of the pooled statistics: 2 (mean, std) × 256 channels × 10 frequency bins. */
export const STATS_DIM = 2 * 256 * POOLED_FREQUENCY_BINS;

/** Dimension of the speaker embedding. */
export const EMBEDDING_DIM = 256;

/** One BasicBlock of the trunk: its key prefix, input and output channels, and its stride. */
export interface BlockSpec {
  /** `layer{L}.{B}` */
  prefix: string;
  /** Input channels. */
  inChannels: number;
  /** Output channels. */
  outChannels: number;
  /** Stride of conv1 (and of the shortcut): 2 for the first block of stages 2-4, else 1. */
  stride: number;
  /** Whether the block has a 1×1 shortcut conv (it changes stride or width). */
  shortcut: boolean;
}

/** The trunk's BasicBlocks after the stem, in network order. */
export function resnetBlocks(): BlockSpec[] {
  const blocks: BlockSpec[] = [];
  let inChannels = STEM_CHANNELS;
  for (let stage = 0; stage < STAGE_BLOCKS.length; stage++) {
    const outChannels = STAGE_CHANNELS[stage];
    for (let block = 0; block < STAGE_BLOCKS[stage]; block++) {
      const stride = block === 0 ? STAGE_STRIDES[stage] : 1;
      const shortcut = stride !== 1 || inChannels !== outChannels;
      blocks.push({ prefix: `layer${stage + 1}.${block}`, inChannels, outChannels, stride, shortcut });
      inChannels = outChannels;
    }
  }
  return blocks;
}

/**
 * Every tensor of the MLX ResNet34-LM weights, in network order (stem, stages, embedding layer), with
 * its expected shape.
 *
 * - `conv1.weight` `[32, 3, 3, 1]`, `conv1.bias` `[32]`
 * - `layer{L}.{B}.conv1.weight` `[O, 3, 3, I]` and `layer{L}.{B}.conv2.weight` `[O, 3, 3, O]`, each
 *   with a `.bias` `[O]`
 * - `layer{L}.0.shortcut.weight` `[O, 1, 1, I]` + `.bias` `[O]` for stages 2-4 (1×1 conv, stride 2)
 * - `embedding.weight` `[256, 5120]`, `embedding.bias` `[256]`
 *
 * @returns a fresh array (callers may mutate it)
 */
export function expectedWeights(): WeightSpec[] {
  const specs: WeightSpec[] = [];
  const conv = (name: string, out: number, k: number, inp: number) => {
    specs.push({ name: `${name}.weight`, shape: [out, k, k, inp] });
    specs.push({ name: `${name}.bias`, shape: [out] });
  };
  conv("conv1", STEM_CHANNELS, 3, 1);
  for (const { prefix, inChannels, outChannels, shortcut } of resnetBlocks()) {
    conv(`${prefix}.conv1`, outChannels, 3, inChannels);
    conv(`${prefix}.conv2`, outChannels, 3, outChannels);
    if (shortcut) conv(`${prefix}.shortcut`, outChannels, 1, inChannels);
  }
  specs.push({ name: "embedding.weight", shape: [EMBEDDING_DIM, STATS_DIM] });
  specs.push({ name: "embedding.bias", shape: [EMBEDDING_DIM] });
  return specs;
}
