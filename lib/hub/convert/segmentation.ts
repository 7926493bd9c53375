/**
 * pyannote segmentation-3.0's PyTorch state dict → the safetensors file libwespeaker loads. Everything
 * is copied as is but SincNet's parametrised filterbank, whose filters are computed here once, in
 * float32 and in the same order, as asteroid-filterbanks' ParamSincFB computes them at every forward pass.
 *
 * @module
 */
import { WeSpeakerError } from "../../errors.ts";
import { encodeSafetensors, type F32Tensor } from "../safetensors.ts";
import {
  SEGMENTATION_CONFIG,
  segmentationWeights,
  SINC_FILTERS,
  SINC_KERNEL,
} from "../../native/segmentation_layout.ts";
import type { Tensor } from "./fuse.ts";

/** The key that tells a segmentation state dict from an embedding one. */
export const SINC_LOW_HZ_KEY = "sincnet.conv1d.0.filterbank.low_hz_";

// ParamSincFB(80, 251, min_low_hz=50, min_band_hz=50, sample_rate=16000) as PyanNet builds it.
const MIN_LOW_HZ = 50;
const MIN_BAND_HZ = 50;
const NYQUIST_HZ = 8000;
const HALF_KERNEL = (SINC_KERNEL - 1) / 2;
const FILTERBANK_KEYS = ["low_hz_", "band_hz_", "n_", "window_"].map((k) =>
  `sincnet.conv1d.0.filterbank.${k}`
);

function fail(source: string, what: string): never {
  throw new WeSpeakerError("invalid-weights", `${source}: ${what}`);
}

function take(stateDict: Map<string, Tensor>, name: string, shape: number[], source: string): Float32Array {
  const tensor = stateDict.get(name);
  if (!tensor) fail(source, `missing tensor '${name}' (expected shape [${shape.join(", ")}])`);
  if (tensor.shape.join(",") !== shape.join(",")) {
    fail(source, `tensor '${name}' has shape [${tensor.shape.join(", ")}], expected [${shape.join(", ")}]`);
  }
  for (const v of tensor.data) {
    if (!Number.isFinite(v)) fail(source, `tensor '${name}' holds NaN or infinite values`);
  }
  return tensor.data;
}

/**
 * The 80 band-pass filters of SincNet's first layer, `[80, 1, 251]`: 40 cosine (even) filters then 40
 * sine (odd) ones, from the learned low cut-offs and bandwidths (ParamSincFB's formulas).
 *
 * @param lowHz `low_hz_` `[40]`
 * @param bandHz `band_hz_` `[40]`
 * @param n `n_` `[125]`: 2π·t/sample_rate for the left half's time steps
 * @param window `window_` `[125]`: the left half of a Hamming window
 */
export function sincFilters(
  lowHz: Float32Array,
  bandHz: Float32Array,
  n: Float32Array,
  window: Float32Array,
) {
  // Every operation rounds to float32 in PyTorch's order: pyannote computes these filters in float32,
  // and sin/cos of arguments up to ~400 rad rounded to float32 move its log-probabilities by up to 4e-5
  // from the float64 filters, enough to flip near-tied frames of the powerset argmax.
  const f32 = Math.fround;
  const half = SINC_FILTERS / 2;
  const out = new Float32Array(SINC_FILTERS * SINC_KERNEL);
  for (let f = 0; f < half; f++) {
    const low = f32(MIN_LOW_HZ + Math.abs(lowHz[f]));
    const high = Math.min(
      Math.max(f32(f32(low + MIN_BAND_HZ) + Math.abs(bandHz[f])), MIN_LOW_HZ),
      NYQUIST_HZ,
    );
    const twoBand = f32(2 * f32(high - low));
    const cos = out.subarray(f * SINC_KERNEL, (f + 1) * SINC_KERNEL);
    const sin = out.subarray((f + half) * SINC_KERNEL, (f + half + 1) * SINC_KERNEL);
    for (let t = 0; t < HALF_KERNEL; t++) {
      const ftLow = f32(low * n[t]), ftHigh = f32(high * n[t]);
      const halfN = f32(n[t] / 2);
      const even = f32(
        f32(f32(f32(f32(Math.sin(ftHigh)) - f32(Math.sin(ftLow))) / halfN) * window[t]) / twoBand,
      );
      const odd = f32(
        f32(f32(f32(f32(Math.cos(ftLow)) - f32(Math.cos(ftHigh))) / halfN) * window[t]) / twoBand,
      );
      cos[t] = even;
      cos[SINC_KERNEL - 1 - t] = even;
      sin[t] = odd;
      sin[SINC_KERNEL - 1 - t] = -odd;
    }
    cos[HALF_KERNEL] = 1; // ParamSincFB's centre tap 2·band, divided by 2·band like every tap
    sin[HALF_KERNEL] = 0;
  }
  return out;
}

/**
 * Converts a segmentation-3.0 state dict (from {@link readTorchCheckpoint}) to the tensors of the
 * converted file, checking every key and shape.
 *
 * @throws {WeSpeakerError} `invalid-weights` naming the first missing, mis-shaped or unexpected key
 */
export function segmentationStateDictToTensors(
  stateDict: Map<string, Tensor>,
  source: string,
): Record<string, F32Tensor> {
  const half = SINC_FILTERS / 2;
  const filters = sincFilters(
    take(stateDict, FILTERBANK_KEYS[0], [half, 1], source),
    take(stateDict, FILTERBANK_KEYS[1], [half, 1], source),
    take(stateDict, FILTERBANK_KEYS[2], [1, HALF_KERNEL], source),
    take(stateDict, FILTERBANK_KEYS[3], [HALF_KERNEL], source),
  );
  const tensors: Record<string, F32Tensor> = {};
  for (const spec of segmentationWeights()) {
    const data = spec.name === "sincnet.conv1d.0.weight"
      ? filters
      : take(stateDict, spec.name, spec.shape, source);
    tensors[spec.name] = { dtype: "F32", shape: spec.shape, data };
  }
  const known = new Set([...FILTERBANK_KEYS, ...Object.keys(tensors)]);
  const unexpected = [...stateDict.keys()].filter((k) => !known.has(k)).sort();
  if (unexpected.length > 0) {
    fail(
      source,
      `unexpected tensor '${unexpected[0]}' for a segmentation-3.0 checkpoint (${unexpected.length} in all)`,
    );
  }
  return tensors;
}

/** The bytes of a converted segmentation file, identical for identical tensors. */
export function encodeSegmentationWeights(
  tensors: Record<string, F32Tensor>,
  convertedFrom: string,
): Uint8Array {
  return encodeSafetensors(tensors, {
    format: "mlx",
    model_type: SEGMENTATION_CONFIG.model_type,
    converted_from: convertedFrom,
  });
}
