/**
 * Band-limited resampling with the semantics of `torchaudio.functional.resample` at its defaults
 * (`sinc_interp_hann`, `lowpass_filter_width=6`, `rolloff=0.99`), which is what pyannote applies before
 * the embedding model. Matching it (rather than using any good resampler) keeps embeddings comparable
 * with the reference pipeline for non-16 kHz input.
 *
 * @module
 */

import { WeSpeakerError } from "./errors.ts";

const LOWPASS_FILTER_WIDTH = 6;
const ROLLOFF = 0.99;

/**
 * One polyphase filter bank for a reduced rate pair. Output sample `m * up + j` is the dot product of
 * `taps[j]` with the input starting at `m * down + first[j]` (indices outside the input read as zero,
 * which is torchaudio's zero padding).
 */
interface Polyphase {
  down: number;
  up: number;
  first: Int32Array;
  taps: Float64Array[];
}

const cache = new Map<string, Polyphase>();

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * torchaudio's `_get_sinc_resample_kernel` for one reduced pair, with each phase trimmed to the taps
 * inside the window. torchaudio clamps t to ±width and evaluates there, where the Hann factor is
 * cos(pi/2)^2 ≈ 4e-33 and sinc is ≈ 1e-17: those taps are below 1e-48 and dropping them changes
 * nothing, while it cuts the work from 2*width+orig taps per output (475 for 44.1 kHz) to about 34.
 */
function buildKernel(orig: number, up: number): Polyphase {
  const baseFreq = Math.min(orig, up) * ROLLOFF;
  const width = Math.ceil((LOWPASS_FILTER_WIDTH * orig) / baseFreq);
  const scale = baseFreq / orig;
  const kernelLen = 2 * width + orig;
  const first = new Int32Array(up);
  const taps: Float64Array[] = [];
  for (let j = 0; j < up; j++) {
    let lo = -1;
    let hi = -1;
    const row = new Float64Array(kernelLen);
    for (let k = 0; k < kernelLen; k++) {
      // Same expression order as torchaudio: (-j/new + idx/orig) * base_freq.
      const t = (-j / up + (k - width) / orig) * baseFreq;
      if (!(t > -LOWPASS_FILTER_WIDTH && t < LOWPASS_FILTER_WIDTH)) continue;
      const w = Math.cos((t * Math.PI) / LOWPASS_FILTER_WIDTH / 2) ** 2;
      const tp = t * Math.PI;
      row[k] = (tp === 0 ? 1 : Math.sin(tp) / tp) * (w * scale);
      if (lo < 0) lo = k;
      hi = k;
    }
    // The window is 12/base_freq*orig > 2 input samples wide, so no phase is ever empty.
    first[j] = lo - width;
    taps.push(row.slice(lo, hi + 1));
  }
  return { down: orig, up, first, taps };
}

function kernelFor(orig: number, up: number): Polyphase {
  const key = `${orig}/${up}`;
  let k = cache.get(key);
  if (!k) {
    k = buildKernel(orig, up);
    cache.set(key, k);
  }
  return k;
}

function checkRate(name: string, rate: number): void {
  if (typeof rate !== "number" || !Number.isInteger(rate) || rate <= 0) {
    throw new WeSpeakerError(
      "invalid-argument",
      `${name} sample rate must be a positive integer, got ${String(rate)}`,
    );
  }
}

/**
 * Resample `samples` from `fromRate` to `toRate` Hz with a windowed-sinc filter, reproducing
 * `torchaudio.functional.resample(x, fromRate, toRate)` (Hann-windowed sinc, 6 zero crossings, rolloff
 * 0.99; rates reduced by their gcd; output length `ceil(n * toRate / fromRate)`).
 *
 * Arithmetic is double precision, so results agree with torchaudio's float32 computation to float32
 * rounding. Filter tables are built once per rate pair and reused.
 *
 * @param samples mono input signal
 * @param fromRate rate of `samples`, Hz (positive integer)
 * @param toRate desired rate, Hz (positive integer)
 * @returns a new array at `toRate`; a copy of `samples` when the rates are equal
 * @throws {WeSpeakerError} code `invalid-argument` when a rate is not a positive integer
 */
export function resample(samples: Float32Array, fromRate: number, toRate: number): Float32Array {
  if (!(samples instanceof Float32Array)) {
    throw new WeSpeakerError("invalid-argument", "samples must be a Float32Array");
  }
  checkRate("source", fromRate);
  checkRate("target", toRate);
  if (fromRate === toRate) return samples.slice();

  const g = gcd(fromRate, toRate);
  const down = fromRate / g;
  const up = toRate / g;
  const n = samples.length;
  // Exact integer ceil; n * up stays far below 2^53 for any array that fits in memory.
  const outLen = Math.floor((n * up + down - 1) / down);
  const out = new Float32Array(outLen);
  if (outLen === 0) return out;

  const { first, taps } = kernelFor(down, up);
  let o = 0;
  for (let base = 0; o < outLen; base += down) {
    for (let j = 0; j < up && o < outLen; j++, o++) {
      const h = taps[j];
      const len = h.length;
      const s = base + first[j];
      let acc = 0;
      if (s >= 0 && s + len <= n) {
        for (let i = 0; i < len; i++) acc += h[i] * samples[s + i];
      } else {
        const i0 = s < 0 ? -s : 0;
        const i1 = Math.min(len, n - s);
        for (let i = i0; i < i1; i++) acc += h[i] * samples[s + i];
      }
      out[o] = acc;
    }
  }
  return out;
}
