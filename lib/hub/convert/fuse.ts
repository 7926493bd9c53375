/**
 * From a PyTorch WeSpeaker ResNet34 state dict (separate BatchNorm layers, `[O, I, kH, kW]` convs)
 * to the MLX safetensors layout this library loads (BatchNorm fused, `[O, kH, kW, I]` convs). Shared
 * by every converter: the checkpoint readers only have to produce the state dict.
 *
 * @module
 */
import { WeSpeakerError } from "../../errors.ts";
import { encodeSafetensors, type F32Tensor } from "../safetensors.ts";
import { EMBEDDING_DIM, expectedWeights, NUM_MEL_BINS, STATS_DIM } from "../../native/model_layout.ts";

/** A float32 tensor in row-major order, as read from a checkpoint. */
export interface Tensor {
  shape: number[];
  data: Float32Array;
}

/** The four tensors of an eval-mode BatchNorm layer. */
export interface BatchNorm {
  weight: Tensor;
  bias: Tensor;
  runningMean: Tensor;
  runningVar: Tensor;
}

/** PyTorch's BatchNorm2d default, used when a checkpoint does not record its own. */
export const DEFAULT_BN_EPS = 1e-5;

/** `config.json` written next to converted weights. */
export const MLX_CONFIG = {
  model_type: "wespeaker-resnet34",
  architecture: "ResNet34",
  layers: [3, 4, 6, 3],
  channels: [32, 64, 128, 256],
  num_mel_bins: NUM_MEL_BINS,
  embedding_dim: EMBEDDING_DIM,
  stats_dim: STATS_DIM,
  pooling: "TSTP",
  sample_rate: 16000,
  batchnorm_fused: true,
  conv_weight_layout: "O,H(frequency),W(time),I",
} as const;

function fail(source: string, what: string): never {
  throw new WeSpeakerError("invalid-weights", `${source}: ${what}`);
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/**
 * One convolution in MLX layout, with the BatchNorm that follows it folded in (in float64):
 * `w·γ/√(σ²+ε)` and `(b − μ)·γ/√(σ²+ε) + β`, where `b` is the conv's own bias (0 when absent).
 *
 * @param weight `[O, I, kH, kW]`
 * @returns weight `[O, kH, kW, I]` and bias `[O]`
 */
export function convToMlx(
  weight: Tensor,
  bias: Tensor | undefined,
  bn: BatchNorm | undefined,
  eps = DEFAULT_BN_EPS,
): { weight: F32Tensor; bias: F32Tensor } {
  const [O, I, H, W] = weight.shape;
  const scale = new Float64Array(O).fill(1);
  const shift = new Float64Array(O);
  for (let o = 0; o < O; o++) {
    const b = bias ? bias.data[o] : 0;
    if (bn) {
      scale[o] = bn.weight.data[o] / Math.sqrt(bn.runningVar.data[o] + eps);
      shift[o] = (b - bn.runningMean.data[o]) * scale[o] + bn.bias.data[o];
    } else {
      shift[o] = b;
    }
  }
  const out = new Float32Array(O * H * W * I);
  for (let o = 0; o < O; o++) {
    for (let i = 0; i < I; i++) {
      for (let h = 0; h < H; h++) {
        for (let w = 0; w < W; w++) {
          out[((o * H + h) * W + w) * I + i] = weight.data[((o * I + i) * H + h) * W + w] * scale[o];
        }
      }
    }
  }
  return {
    weight: { dtype: "F32", shape: [O, H, W, I], data: out },
    bias: { dtype: "F32", shape: [O], data: Float32Array.from(shift) },
  };
}

/** Options of {@link stateDictToMlx}. */
export interface StateDictOptions {
  /** BatchNorm epsilon (default {@link DEFAULT_BN_EPS}). */
  eps?: number;
  /** Name of the checkpoint, for error messages. */
  source?: string;
  /** Key prefixes to drop silently, e.g. a training head (`projection.`). */
  ignorePrefixes?: string[];
}

/**
 * Maps a WeSpeaker ResNet34 state dict to the MLX tensors: strips a `resnet.` prefix, renames
 * `seg_1` to `embedding`, fuses every BatchNorm into its conv, transposes convs to
 * `[O, kH, kW, I]` and drops `num_batches_tracked`. Every key and shape is checked.
 *
 * @throws {WeSpeakerError} `invalid-weights` naming the first missing, mis-shaped or unexpected key
 */
export function stateDictToMlx(
  stateDict: ReadonlyMap<string, Tensor>,
  options: StateDictOptions = {},
): Record<string, F32Tensor> {
  const source = options.source ?? "checkpoint";
  const eps = options.eps ?? DEFAULT_BN_EPS;
  const hasPrefix = [...stateDict.keys()].some((k) => k.startsWith("resnet."));
  const remaining = new Map<string, Tensor>();
  for (const [key, tensor] of stateDict) {
    const name = hasPrefix && key.startsWith("resnet.") ? key.slice("resnet.".length) : key;
    if (name.endsWith("num_batches_tracked")) continue;
    if ((options.ignorePrefixes ?? []).some((p) => name.startsWith(p))) continue;
    remaining.set(name, tensor);
  }
  const prefix = hasPrefix ? "resnet." : "";
  const take = (name: string, shape: number[]): Tensor => {
    const t = remaining.get(name);
    if (!t) fail(source, `missing key '${prefix}${name}' (expected shape ${shapeText(shape)})`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      fail(source, `key '${prefix}${name}' has shape ${shapeText(t.shape)}, expected ${shapeText(shape)}`);
    }
    remaining.delete(name);
    return t;
  };
  const batchNorm = (name: string, channels: number): BatchNorm => ({
    weight: take(`${name}.weight`, [channels]),
    bias: take(`${name}.bias`, [channels]),
    runningMean: take(`${name}.running_mean`, [channels]),
    runningVar: take(`${name}.running_var`, [channels]),
  });

  const out: Record<string, F32Tensor> = {};
  for (const spec of expectedWeights()) {
    if (!spec.name.endsWith(".weight")) continue;
    const base = spec.name.slice(0, -".weight".length);
    if (base === "embedding") {
      out["embedding.weight"] = { dtype: "F32", ...take("seg_1.weight", spec.shape) };
      out["embedding.bias"] = { dtype: "F32", ...take("seg_1.bias", [spec.shape[0]]) };
      continue;
    }
    const [O, H, W, I] = spec.shape;
    // conv1 -> bn1; layerL.B.convK -> layerL.B.bnK; layerL.B.shortcut -> shortcut.0 + shortcut.1
    const convName = base.endsWith("shortcut") ? `${base}.0` : base;
    const bnName = base.endsWith("shortcut") ? `${base}.1` : base.replace(/conv(\d)$/, "bn$1");
    const weight = take(`${convName}.weight`, [O, I, H, W]);
    const bias = remaining.has(`${convName}.bias`) ? take(`${convName}.bias`, [O]) : undefined;
    const fused = convToMlx(weight, bias, batchNorm(bnName, O), eps);
    out[`${base}.weight`] = fused.weight;
    out[`${base}.bias`] = fused.bias;
  }
  if (remaining.size > 0) {
    const first = [...remaining.keys()].sort()[0];
    fail(source, `unexpected key '${prefix}${first}' (${remaining.size} unexpected in all)`);
  }
  for (const [name, t] of Object.entries(out)) {
    const bad = t.data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) fail(source, `tensor '${name}' holds a non-finite value at index ${bad} after fusing`);
  }
  return out;
}

/**
 * The bytes of a converted `.safetensors` file: deterministic (sorted keys, no timestamps), with
 * metadata naming the format and what it was converted from.
 */
export function encodeMlxWeights(tensors: Record<string, F32Tensor>, convertedFrom: string): Uint8Array {
  return encodeSafetensors(tensors, {
    format: "mlx",
    model_type: MLX_CONFIG.model_type,
    converted_from: convertedFrom,
  });
}
