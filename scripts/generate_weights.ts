/**
 * Seeded random weights in the exact MLX WeSpeaker ResNet34-LM safetensors layout, and deterministic
 * synthetic inputs (fbank-like features, speaker-activity masks) for the network parity tests.
 *
 * Write a weights file (the default seed is {@link DEFAULT_WEIGHTS_SEED}):
 *
 *     deno run -A scripts/generate_weights.ts OUT.safetensors [--seed N]
 *     bun scripts/generate_weights.ts OUT.safetensors [--seed N]
 *
 * Everything here is bit-reproducible across JavaScript engines (V8 in Deno, JavaScriptCore in Bun):
 * the random numbers come from 32-bit integer arithmetic (`Math.imul`, `>>>`) and are shaped only
 * with IEEE-exact double operations (`+ - * /`, `Math.sqrt`) before a single rounding to float32;
 * no `Math.exp/log/sin/cos`, whose results differ between engines.
 *
 * The weights are meaningless for speech but are scaled like a trained network with fused
 * BatchNorm: activations neither explode nor vanish through the 16 residual blocks, and embeddings
 * of different inputs clearly differ. Kernels are not symmetric in frequency vs time, so a
 * transposed `[O, kH, kW, I]` convention changes the output.
 *
 * @module
 */

import { runGenerator } from "./generator_cli.ts";
import { encodeSafetensors, type F32Tensor } from "../lib/hub/safetensors.ts";
import { expectedWeights, NUM_MEL_BINS, POOLED_FREQUENCY_BINS } from "../lib/native/model_layout.ts";

/** Seed of the weights used by the parity tests and written by default. */
export const DEFAULT_WEIGHTS_SEED = 20250;

const SQRT3 = Math.sqrt(3);

/** FNV-1a over the UTF-16 code units of `text` (ASCII names here), as an unsigned 32-bit integer. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** MurmurHash3's 32-bit finaliser: a bijective mix of a 32-bit integer. */
function fmix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

function checkSeed(seed: number, what: string): number {
  if (!Number.isSafeInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new RangeError(`${what}: seed must be an integer in [0, 2^32), got ${seed}`);
  }
  return seed;
}

/**
 * mulberry32: a small 32-bit PRNG built from integer operations only, so every engine produces the
 * same sequence. Each stream is keyed by a seed and a name, so streams are independent of the order
 * in which they are used.
 */
export class Rng {
  #state: number;

  /**
   * @param seed integer in [0, 2^32)
   * @param stream name of the stream (e.g. a tensor name)
   */
  constructor(seed: number, stream: string) {
    checkSeed(seed, "Rng");
    this.#state = fmix32((fmix32(seed) ^ fnv1a(stream)) >>> 0);
  }

  /** Next unsigned 32-bit integer. */
  nextU32(): number {
    this.#state = (this.#state + 0x6d2b79f5) | 0;
    let t = Math.imul(this.#state ^ (this.#state >>> 15), 1 | this.#state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1) on a grid of 2^-24 (exact in float32 and double). */
  uniform(): number {
    return (this.nextU32() >>> 8) / 16777216;
  }

  /** Uniform in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }

  /** Approximately standard normal: the centred sum of 4 uniforms scaled to unit variance (|z| < 3.47). */
  normal(): number {
    const s = this.uniform() + this.uniform() + this.uniform() + this.uniform();
    return (s - 2) * SQRT3;
  }
}

function numElements(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Standard deviation of each kind of weight, from its name and shape `[O, kH, kW, I]`. He-style
 * `sqrt(2 / fan_in)` scaled by a gain: the stem sees features of std ~3, so it is damped; the second
 * convolution of each block is damped so that the residual sum grows gently; the 1×1 shortcuts keep
 * their input's scale.
 */
function weightStd(name: string, shape: readonly number[]): number {
  if (name === "embedding.weight") return 1 / Math.sqrt(shape[1]);
  const fanIn = shape[1] * shape[2] * shape[3];
  const he = Math.sqrt(2 / fanIn);
  if (name === "conv1.weight") return 0.4 * he;
  if (name.endsWith(".conv1.weight")) return he;
  if (name.endsWith(".conv2.weight")) return 0.4 * he;
  if (name.endsWith(".shortcut.weight")) return 0.7 * he;
  throw new Error(`no initialisation rule for ${name}`);
}

/**
 * `embedding.weight` `[256, 5120]`: Gaussian, then each row made zero-sum over the 10 frequency
 * entries of every (statistic, channel) group (inputs `c * 10 + f`, PyTorch's flattening order).
 * A trained projection ignores the per-channel offsets that every input shares (they come from the
 * biases and from the positive ReLU outputs); a plain random one would be dominated by them and
 * give embeddings of different inputs cosines above 0.99. Rescaled by sqrt(10 / 9) to keep the
 * per-entry variance.
 */
function embeddingWeight(rng: Rng, shape: readonly number[], data: Float32Array): void {
  const [rows, cols] = shape;
  const group = POOLED_FREQUENCY_BINS;
  const std = weightStd("embedding.weight", shape) * Math.sqrt(group / (group - 1));
  const row = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < cols; i++) row[i] = std * rng.normal();
    for (let g = 0; g < cols; g += group) {
      let sum = 0;
      for (let i = g; i < g + group; i++) sum += row[i];
      const mean = sum / group;
      for (let i = g; i < g + group; i++) data[r * cols + i] = row[i] - mean;
    }
  }
}

/** Half-width of the uniform distribution of each bias. */
function biasHalfWidth(name: string): number {
  if (name === "embedding.bias") return 0.02;
  return 0.1;
}

/**
 * Random weights in the MLX ResNet34-LM layout of {@link expectedWeights}, as safetensors bytes.
 * Identical bytes for the same seed on every engine and platform.
 *
 * @param seed integer in [0, 2^32)
 * @returns the bytes of a `.safetensors` file
 */
export function generateWeights(seed: number = DEFAULT_WEIGHTS_SEED): Uint8Array {
  checkSeed(seed, "generateWeights");
  const tensors: Record<string, F32Tensor> = {};
  for (const { name, shape } of expectedWeights()) {
    const rng = new Rng(seed, name);
    const data = new Float32Array(numElements(shape));
    if (name.endsWith(".bias")) {
      const h = biasHalfWidth(name);
      for (let i = 0; i < data.length; i++) data[i] = h * (2 * rng.uniform() - 1);
    } else if (name === "embedding.weight") {
      embeddingWeight(rng, shape, data);
    } else {
      const std = weightStd(name, shape);
      for (let i = 0; i < data.length; i++) data[i] = std * rng.normal();
    }
    tensors[name] = { dtype: "F32", shape: [...shape], data };
  }
  return encodeSafetensors(tensors, {
    format: "mlx",
    generator: "wespeaker scripts/generate_weights.ts (random weights, meaningless for speech)",
    seed: String(seed),
  });
}

/** Three passes of a [1/4, 1/2, 1/4] smoother over a vector, edges replicated. */
function smooth(v: Float64Array, passes: number): void {
  const tmp = new Float64Array(v.length);
  for (let p = 0; p < passes; p++) {
    for (let i = 0; i < v.length; i++) {
      const l = v[i === 0 ? 0 : i - 1];
      const r = v[i === v.length - 1 ? i : i + 1];
      tmp[i] = 0.25 * l + 0.5 * v[i] + 0.25 * r;
    }
    v.set(tmp);
  }
}

/**
 * Deterministic fbank-like features: `frames` × 80 values, frame-major (frame t, bin f at
 * `t * 80 + f`), like mean-normalised log-mel: each bin has zero mean over the clip and the overall
 * standard deviation is 2-4. Each seed draws its own "voice": a few smooth spectral patterns driven
 * by temporally correlated (AR(1)) sources, per-bin noise, and speech/pause loudness runs.
 *
 * @param seed integer in [0, 2^32)
 * @param frames number of frames (≥ 1)
 * @returns a fresh Float32Array of `frames * 80` values
 */
export function syntheticFeatures(seed: number, frames: number): Float32Array {
  checkSeed(seed, "syntheticFeatures");
  if (!Number.isSafeInteger(frames) || frames < 1) {
    throw new RangeError(`syntheticFeatures: frames must be a positive integer, got ${frames}`);
  }
  const F = NUM_MEL_BINS;
  const rng = new Rng(seed, "features");
  const numSources = 6;
  const patterns: Float64Array[] = [];
  const rhos: number[] = [];
  const state = new Float64Array(numSources);
  for (let k = 0; k < numSources; k++) {
    const p = new Float64Array(F);
    for (let f = 0; f < F; f++) p[f] = rng.normal();
    smooth(p, 2 + (rng.nextU32() % 6));
    let ss = 0;
    for (let f = 0; f < F; f++) ss += p[f] * p[f];
    const gain = rng.range(0.5, 1.5) / Math.sqrt(ss / F);
    for (let f = 0; f < F; f++) p[f] *= gain;
    patterns.push(p);
    rhos.push(rng.range(0.5, 0.95));
    state[k] = rng.normal();
  }
  const noiseStd = new Float64Array(F);
  for (let f = 0; f < F; f++) noiseStd[f] = rng.range(0.3, 1.0);
  smooth(noiseStd, 2);
  const tilt = new Float64Array(F);
  const tiltSlope = rng.range(-1, 1);
  for (let f = 0; f < F; f++) tilt[f] = 1 + tiltSlope * (f / (F - 1) - 0.5);
  const pauseDepth = rng.range(2, 6);
  const switchProb = rng.range(0.02, 0.06);
  const noiseRho = 0.3;
  const noiseInnov = Math.sqrt(1 - noiseRho * noiseRho);
  const innov = rhos.map((r) => Math.sqrt(1 - r * r));

  const x = new Float64Array(frames * F);
  const noise = new Float64Array(F);
  for (let f = 0; f < F; f++) noise[f] = rng.normal();
  let speaking = rng.uniform() < 0.7;
  for (let t = 0; t < frames; t++) {
    if (rng.uniform() < switchProb) speaking = !speaking;
    for (let k = 0; k < numSources; k++) state[k] = rhos[k] * state[k] + innov[k] * rng.normal();
    const loud = speaking ? 0 : -pauseDepth;
    for (let f = 0; f < F; f++) {
      noise[f] = noiseRho * noise[f] + noiseInnov * rng.normal();
      let v = loud * tilt[f] + noiseStd[f] * noise[f];
      if (speaking) {
        for (let k = 0; k < numSources; k++) v += patterns[k][f] * state[k];
      }
      x[t * F + f] = v;
    }
  }
  // Mean normalisation per bin, then scale to the seed's overall standard deviation.
  let ss = 0;
  for (let f = 0; f < F; f++) {
    let sum = 0;
    for (let t = 0; t < frames; t++) sum += x[t * F + f];
    const mean = sum / frames;
    for (let t = 0; t < frames; t++) {
      const d = x[t * F + f] - mean;
      x[t * F + f] = d;
      ss += d * d;
    }
  }
  const target = rng.range(2, 4);
  const scale = ss > 0 ? target / Math.sqrt(ss / (frames * F)) : 1;
  const out = new Float32Array(frames * F);
  for (let i = 0; i < out.length; i++) out[i] = x[i] * scale;
  return out;
}

/**
 * Deterministic speaker-activity masks: `numMasks` rows of `frames` weights in [0, 1], row-major
 * (mask s, frame t at `s * frames + t`). Each row alternates runs of exact 0 and exact 1, with
 * fractional ramps at some transitions and a few fractional values inside active runs; at least about
 * a quarter of each row is active.
 *
 * @param seed integer in [0, 2^32)
 * @param numMasks number of rows (≥ 1)
 * @param frames frames per row (≥ 1)
 * @returns a fresh Float32Array of `numMasks * frames` values
 */
export function syntheticMasks(seed: number, numMasks: number, frames: number): Float32Array {
  checkSeed(seed, "syntheticMasks");
  if (!Number.isSafeInteger(numMasks) || numMasks < 1) {
    throw new RangeError(`syntheticMasks: numMasks must be a positive integer, got ${numMasks}`);
  }
  if (!Number.isSafeInteger(frames) || frames < 1) {
    throw new RangeError(`syntheticMasks: frames must be a positive integer, got ${frames}`);
  }
  const out = new Float32Array(numMasks * frames);
  const minRun = Math.max(1, Math.floor(frames / 20));
  const maxRun = Math.max(minRun + 1, Math.floor(frames / 5));
  for (let s = 0; s < numMasks; s++) {
    const rng = new Rng(seed, `mask ${s}`);
    const row = new Float64Array(frames);
    let active = rng.uniform() < 0.5;
    let t = 0;
    while (t < frames) {
      const run = minRun + (rng.nextU32() % (maxRun - minRun));
      const end = Math.min(frames, t + run);
      for (let i = t; i < end; i++) {
        row[i] = active ? (rng.uniform() < 0.05 ? rng.range(0.3, 0.95) : 1) : 0;
      }
      // A fractional ramp into the next run, sometimes.
      if (end < frames && rng.uniform() < 0.5) {
        const ramp = 1 + (rng.nextU32() % 3);
        for (let r = 1; r <= ramp && end - r > t; r++) {
          const frac = r / (ramp + 1);
          row[end - r] = active ? frac : 1 - frac;
        }
      }
      t = end;
      active = !active;
    }
    let sum = 0;
    for (let i = 0; i < frames; i++) sum += row[i];
    if (sum < 0.25 * frames) {
      // Too quiet: make one long stretch active (deterministically placed).
      const len = Math.ceil(0.3 * frames);
      const start = rng.nextU32() % (frames - len + 1);
      for (let i = start; i < start + len; i++) row[i] = 1;
    }
    for (let i = 0; i < frames; i++) out[s * frames + i] = row[i];
  }
  return out;
}

if (import.meta.main) {
  await runGenerator(
    "deno run -A scripts/generate_weights.ts OUT.safetensors [--seed N]",
    DEFAULT_WEIGHTS_SEED,
    generateWeights,
  );
}
