/**
 * numpy's legacy `np.random.RandomState` (the Mersenne Twister MT19937), draw for draw: scikit-learn
 * seeds its estimators with it (`random_state=42`), so reproducing its stream is what makes KMeans
 * pick the same initial centres.
 *
 * @module
 */
import { WeSpeakerError } from "../errors.ts";

const N = 624;
const M = 397;

/** `np.random.RandomState(seed)` for an integer seed. */
export class RandomState {
  readonly #key = new Uint32Array(N);
  #pos = N;

  /**
   * Seeds as numpy does for an integer (`mt19937_seed`: Knuth's initialisation of the 624 words).
   *
   * @param seed integer in [0, 2^32)
   * @throws {WeSpeakerError} `invalid-argument` for any other seed (numpy raises too)
   */
  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new WeSpeakerError(
        "invalid-argument",
        `RandomState: seed must be between 0 and 2**32 - 1, got ${seed}`,
      );
    }
    let s = seed >>> 0;
    for (let i = 0; i < N; i++) {
      this.#key[i] = s;
      const x = s ^ (s >>> 30);
      // 1812433253 * x + i + 1, modulo 2^32, in exact integer arithmetic.
      s = (Math.imul(1812433253, x) + i + 1) >>> 0;
    }
  }

  #regenerate(): void {
    const key = this.#key;
    const mix = (i: number, next: number, far: number) => {
      const y = (key[i] & 0x80000000) | (key[next] & 0x7fffffff);
      key[i] = key[far] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    };
    let i = 0;
    for (; i < N - M; i++) mix(i, i + 1, i + M);
    for (; i < N - 1; i++) mix(i, i + 1, i + M - N);
    mix(N - 1, 0, M - 1);
    this.#pos = 0;
  }

  /** The next 32-bit output (`mt19937_next32`). */
  nextU32(): number {
    if (this.#pos === N) this.#regenerate();
    let y = this.#key[this.#pos++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** `random_sample()`: a double in [0, 1) from two outputs (27 + 26 bits), numpy's `next_double`. */
  randomSample(): number {
    const a = this.nextU32() >>> 5, b = this.nextU32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** `uniform(low, high)`: `low + (high - low) * random_sample()`. */
  uniform(low = 0, high = 1): number {
    return low + (high - low) * this.randomSample();
  }

  /**
   * `choice(n, p=p)` for one draw with replacement: the cumulative sum of `p` (float64, in order),
   * divided by its last value, searched (right side) for one `random_sample()`.
   *
   * @param p the probabilities as numpy holds them (the caller rounds them to their dtype first)
   */
  choice(p: ArrayLike<number>): number {
    const cdf = new Float64Array(p.length);
    let sum = 0;
    for (let i = 0; i < p.length; i++) cdf[i] = sum += p[i];
    const last = cdf[p.length - 1];
    for (let i = 0; i < cdf.length; i++) cdf[i] /= last;
    const u = this.randomSample();
    // searchsorted(side="right"): the first index whose value exceeds u.
    let lo = 0, hi = cdf.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] <= u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
