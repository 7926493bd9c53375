/**
 * A real-input FFT for power-of-two sizes, in float64.
 *
 * An `n`-point real transform is computed as an `n/2`-point complex radix-2 transform of the
 * even/odd samples packed as real/imaginary parts, followed by one "untangling" pass; this halves
 * the work of a plain complex FFT over zero imaginary parts.
 *
 * @module
 */

/** A precomputed real FFT of one power-of-two size; get one with {@linkcode RealFft.forSize}. */
export class RealFft {
  static #cache = new Map<number, RealFft>();

  /** Transform length `n`: a power of two, at least 2. */
  readonly size: number;
  /** Bit-reversal permutation of the `n/2`-point complex transform. */
  readonly #bitReverse: Uint32Array;
  /** `e^{-2πik/(n/2)}` for `k < n/4`: the butterfly twiddles of the complex transform. */
  readonly #twiddleRe: Float64Array;
  readonly #twiddleIm: Float64Array;
  /** `e^{-2πik/n}` for `k < n/4`: the twiddles that untangle the packed result. */
  readonly #splitRe: Float64Array;
  readonly #splitIm: Float64Array;

  /**
   * Returns the transform of the given size, building its tables on first use and caching them,
   * since callers transform many frames of the same size.
   *
   * @param size transform length: a power of two, at least 2
   * @throws {RangeError} when `size` is not a power of two of at least 2
   */
  static forSize(size: number): RealFft {
    let fft = RealFft.#cache.get(size);
    if (!fft) {
      fft = new RealFft(size);
      RealFft.#cache.set(size, fft);
    }
    return fft;
  }

  private constructor(size: number) {
    if (!Number.isSafeInteger(size) || size < 2 || (size & (size - 1)) !== 0 || size > 2 ** 30) {
      throw new RangeError(`FFT size must be a power of two between 2 and 2^30, got ${size}`);
    }
    this.size = size;
    const half = size / 2;
    const bits = Math.log2(half);
    this.#bitReverse = new Uint32Array(half);
    for (let i = 0; i < half; i++) {
      let r = 0;
      for (let b = 0, v = i; b < bits; b++, v >>>= 1) r = (r << 1) | (v & 1);
      this.#bitReverse[i] = r;
    }
    const quarter = Math.max(1, half / 2);
    this.#twiddleRe = new Float64Array(quarter);
    this.#twiddleIm = new Float64Array(quarter);
    this.#splitRe = new Float64Array(quarter);
    this.#splitIm = new Float64Array(quarter);
    for (let k = 0; k < quarter; k++) {
      // Each angle is evaluated directly rather than by repeated rotation, so table error stays at
      // one rounding instead of growing with k.
      this.#twiddleRe[k] = Math.cos((2 * Math.PI * k) / half);
      this.#twiddleIm[k] = -Math.sin((2 * Math.PI * k) / half);
      this.#splitRe[k] = Math.cos((2 * Math.PI * k) / size);
      this.#splitIm[k] = -Math.sin((2 * Math.PI * k) / size);
    }
  }

  /**
   * Computes `X[k] = Σ_j input[j]·e^{-2πijk/n}` for `k = 0 … n/2` (the non-redundant half of the
   * spectrum of a real signal). Allocates nothing, so it can run once per frame.
   *
   * @param input `n` real samples; only read
   * @param re receives the real parts; length at least `n/2 + 1`
   * @param im receives the imaginary parts; length at least `n/2 + 1`
   * @throws {RangeError} when a buffer is too short
   */
  transform(input: Float64Array, re: Float64Array, im: Float64Array): void {
    const n = this.size;
    const half = n / 2;
    if (input.length < n || re.length < half + 1 || im.length < half + 1) {
      throw new RangeError(
        `FFT of size ${n} needs ${n} inputs and ${
          half + 1
        } outputs, got ${input.length}, ${re.length} and ${im.length}`,
      );
    }

    // Pack z[j] = x[2j] + i·x[2j+1] into bit-reversed order, ready for in-place decimation in time.
    const rev = this.#bitReverse;
    for (let j = 0; j < half; j++) {
      const r = rev[j];
      re[r] = input[2 * j];
      im[r] = input[2 * j + 1];
    }

    const twRe = this.#twiddleRe;
    const twIm = this.#twiddleIm;
    for (let len = 2; len <= half; len *= 2) {
      const span = len / 2;
      const stride = half / len;
      for (let start = 0; start < half; start += len) {
        for (let j = 0, t = 0; j < span; j++, t += stride) {
          const a = start + j;
          const b = a + span;
          const wr = twRe[t];
          const wi = twIm[t];
          const xr = re[b] * wr - im[b] * wi;
          const xi = re[b] * wi + im[b] * wr;
          re[b] = re[a] - xr;
          im[b] = im[a] - xi;
          re[a] += xr;
          im[a] += xi;
        }
      }
    }

    // Untangle Z = E + i·O (E, O: spectra of the even and odd samples) into X[k] = E[k] + w^k·O[k].
    // Bins k and half-k share their inputs, so each pair is computed together and written in place.
    const z0r = re[0];
    const z0i = im[0];
    re[0] = z0r + z0i;
    im[0] = 0;
    re[half] = z0r - z0i;
    im[half] = 0;
    // The middle bin pairs with itself: there w^k = -i and the formula reduces to X[n/4] = conj(Z[n/4]).
    if (half >= 2) im[half / 2] = -im[half / 2];
    const spRe = this.#splitRe;
    const spIm = this.#splitIm;
    for (let k = 1; k < half / 2; k++) {
      const l = half - k;
      const ar = re[k];
      const ai = im[k];
      const br = re[l];
      const bi = -im[l];
      const er = 0.5 * (ar + br);
      const ei = 0.5 * (ai + bi);
      const or = 0.5 * (ai - bi);
      const oi = -0.5 * (ar - br);
      const wr = spRe[k];
      const wi = spIm[k];
      const tr = wr * or - wi * oi;
      const ti = wr * oi + wi * or;
      re[k] = er + tr;
      im[k] = ei + ti;
      re[l] = er - tr;
      im[l] = ti - ei;
    }
  }
}
