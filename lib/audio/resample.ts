/**
 * Band-limited resampling with the semantics of `torchaudio.functional.resample` at its defaults
 * (`sinc_interp_hann`, `lowpass_filter_width=6`, `rolloff=0.99`), which is what pyannote applies before
 * the embedding model. Matching it (rather than using any good resampler) keeps embeddings comparable
 * with the reference pipeline for non-16 kHz input.
 *
 * @module
 */

import { WeSpeakerError } from "../errors.ts";

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

/** Output samples for `n` input samples: torchaudio's `ceil(n * up / down)`, in exact integers. */
function outputLength(n: number, k: Polyphase): number {
  // n * up stays far below 2^53 for any signal that fits in memory or on a disk.
  return Math.floor((n * k.up + k.down - 1) / k.down);
}

/**
 * Output samples `[from, to)` into `out[0 .. to - from)`, with `x` holding input samples
 * `[x0, x0 + x.length)` of a signal whose samples before 0 and from `n` on are the zero padding. The
 * caller keeps in `x` every other sample these outputs read. Each output sums its taps in ascending
 * order in float64, so a signal filtered in pieces gives exactly what it gives filtered whole.
 */
function filter(
  k: Polyphase,
  x: Float32Array,
  x0: number,
  n: number,
  from: number,
  to: number,
  out: Float32Array,
): void {
  const { down, up, first, taps } = k;
  let j = from % up;
  let base = ((from - j) / up) * down;
  for (let o = from; o < to; o++) {
    const h = taps[j];
    const len = h.length;
    const s = base + first[j];
    const p = s - x0;
    let acc = 0;
    if (s >= 0 && s + len <= n) {
      for (let i = 0; i < len; i++) acc += h[i] * x[p + i];
    } else {
      const i0 = s < 0 ? -s : 0;
      const i1 = Math.min(len, n - s);
      for (let i = i0; i < i1; i++) acc += h[i] * x[p + i];
    }
    out[o - from] = acc;
    if (++j === up) {
      j = 0;
      base += down;
    }
  }
}

function reducedKernel(fromRate: number, toRate: number): Polyphase {
  const g = gcd(fromRate, toRate);
  return kernelFor(fromRate / g, toRate / g);
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
  const k = reducedKernel(fromRate, toRate);
  const out = new Float32Array(outputLength(samples.length, k));
  filter(k, samples, 0, samples.length, 0, out.length, out);
  return out;
}

/**
 * {@link resample} for a signal that arrives in pieces: each {@link push} returns the output samples
 * that the input so far fully determines, and {@link flush} the rest once the signal has ended. The
 * pieces concatenated are exactly `resample(wholeSignal, fromRate, toRate)`, bit for bit and of the
 * same length, for any way of cutting the input; only the filter's reach of input (tens of samples)
 * is held between calls.
 *
 * ```ts
 * const r = new StreamingResampler(44100, 16000);
 * for await (const chunk of source) sink(r.push(chunk));
 * sink(r.flush());
 * ```
 */
export class StreamingResampler {
  /** Rate of the input, Hz. */
  readonly fromRate: number;
  /** Rate of the output, Hz. */
  readonly toRate: number;
  // null when the rates are equal: input passes through.
  readonly #kernel: Polyphase | null;
  // Lowest first tap over the phases: how far before an output's row of input its taps may start.
  readonly #reachBack: number;
  // Input samples [#x0, #x0 + #held.length) that outputs still to come may read.
  #held = new Float32Array(0);
  #x0 = 0;
  #received = 0;
  #produced = 0;

  /**
   * Creates a resampler for one rate pair, with the filter {@link resample} uses (built once per pair).
   *
   * @param fromRate rate of the input, Hz (positive integer)
   * @param toRate desired rate, Hz (positive integer)
   * @throws {WeSpeakerError} code `invalid-argument` when a rate is not a positive integer
   */
  constructor(fromRate: number, toRate: number) {
    checkRate("source", fromRate);
    checkRate("target", toRate);
    this.fromRate = fromRate;
    this.toRate = toRate;
    this.#kernel = fromRate === toRate ? null : reducedKernel(fromRate, toRate);
    this.#reachBack = this.#kernel ? this.#kernel.first.reduce((a, b) => Math.min(a, b)) : 0;
  }

  /**
   * Takes the next piece of input.
   *
   * @param chunk the next samples of the signal (any length, including 0)
   * @returns the output samples now determined (possibly none); a copy of `chunk` when the rates are equal
   * @throws {WeSpeakerError} code `invalid-argument` when `chunk` is not a Float32Array
   */
  push(chunk: Float32Array): Float32Array {
    if (!(chunk instanceof Float32Array)) {
      throw new WeSpeakerError("invalid-argument", "samples must be a Float32Array");
    }
    const k = this.#kernel;
    if (!k) return chunk.slice();
    const x = new Float32Array(this.#held.length + chunk.length);
    x.set(this.#held);
    x.set(chunk, this.#held.length);
    const n = this.#received += chunk.length;

    // Outputs are ready while they surely exist (whatever follows) and their last tap has arrived.
    const { down, up, first, taps } = k;
    const limit = outputLength(n, k);
    let to = this.#produced;
    let j = to % up;
    let base = ((to - j) / up) * down;
    while (to < limit && base + first[j] + taps[j].length <= n) {
      to++;
      if (++j === up) {
        j = 0;
        base += down;
      }
    }
    const out = new Float32Array(to - this.#produced);
    filter(k, x, this.#x0, n, this.#produced, to, out);
    this.#produced = to;

    const keep = Math.max(this.#x0, Math.floor(to / up) * down + this.#reachBack);
    this.#held = x.subarray(keep - this.#x0);
    this.#x0 = keep;
    return out;
  }

  /**
   * Ends the signal: returns the output samples that remained (those whose taps reach past the end,
   * where torchaudio pads with zeros) and makes the resampler ready for a new signal.
   *
   * @returns the last output samples; empty when the rates are equal
   */
  flush(): Float32Array {
    const k = this.#kernel;
    const out = new Float32Array(k ? outputLength(this.#received, k) - this.#produced : 0);
    if (k) filter(k, this.#held, this.#x0, this.#received, this.#produced, this.#produced + out.length, out);
    this.#held = new Float32Array(0);
    this.#x0 = this.#received = this.#produced = 0;
    return out;
  }
}
