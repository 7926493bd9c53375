/**
 * numpy's `argsort` (default `kind="quicksort"`) on a short float row, reproducing the order it gives
 * to equal keys. That order is not stable and depends on the machine numpy runs on:
 *
 * - `"numpy-generic"`: numpy's own introsort (median-of-3 quicksort, insertion sort on ranges of at most
 *   16 elements, heapsort past the depth limit). Used by numpy on arm64 (Apple silicon, Linux aarch64)
 *   and on x86-64 without AVX2. Rows of at most 16 elements are sorted stably.
 * - `"numpy-x86-simd"`: the x86-simd-sort bitonic networks numpy 2.x runs for float32/float64 argsort on
 *   x86-64 with AVX2 or AVX-512 (rows of at most 256 elements). Not stable from 4 elements on: numpy
 *   2.4.6 sorts `-[0, 0, 1, 1]` to `[3, 2, 1, 0]`, not `[2, 3, 0, 1]`.
 *
 * Both orders were checked against numpy 2.4.6 on AVX-512, AVX2 and generic code paths (see
 * scripts/reference/make_postprocess_goldens.py). numpy 1.25/1.26 on AVX-512 used older networks that
 * were not checked.
 *
 * @module
 */

import { WeSpeakerError } from "../errors.ts";

/** Which of numpy's argsort implementations to reproduce; see the module documentation. */
export type TieOrder = "numpy-generic" | "numpy-x86-simd";

/** Largest row the x86-simd-sort emulation handles (numpy partitions longer rows first). */
export const MAX_X86_SIMD_ROW = 256;

const SMALL_QUICKSORT = 15;
const LANES = 8;

/** Index of the highest set bit (numpy's `npy_get_msb`). */
function msb(n: number): number {
  let depth = 0;
  while ((n >>>= 1) !== 0) depth++;
  return depth;
}

/**
 * Sorts rows of keys into index order with numpy's tie order; reuses its buffers across rows.
 */
export class NumpyArgsort {
  /** The implementation reproduced. */
  readonly order: TieOrder;
  #stack = new Int32Array(128);
  #depths = new Int32Array(64);
  #keys = new Float64Array(MAX_X86_SIMD_ROW);
  #index = new Int32Array(MAX_X86_SIMD_ROW);

  /**
   * Creates a sorter reproducing one of numpy's implementations.
   *
   * @param order which numpy implementation to reproduce
   * @throws {WeSpeakerError} `invalid-argument` on an unknown order
   */
  constructor(order: TieOrder) {
    if (order !== "numpy-generic" && order !== "numpy-x86-simd") {
      throw new WeSpeakerError(
        "invalid-argument",
        `tie order must be "numpy-generic" or "numpy-x86-simd", got ${JSON.stringify(order)}`,
      );
    }
    this.order = order;
  }

  /**
   * Writes into `out[0..n)` the indices that sort `keys[0..n)` ascending, as `numpy.argsort` would.
   * Keys must not be NaN (numpy handles NaN rows differently).
   *
   * @param keys the row (only the first `n` entries are read)
   * @param n row length
   * @param out receives the permutation
   * @throws {WeSpeakerError} `invalid-argument` when a `"numpy-x86-simd"` row is longer than 256
   */
  sort(keys: Float64Array, n: number, out: Int32Array): void {
    for (let i = 0; i < n; i++) out[i] = i;
    if (n < 2) return;
    if (this.order === "numpy-generic") this.#introsort(keys, n, out);
    else this.#bitonic(keys, n, out);
  }

  #introsort(v: Float64Array, num: number, a: Int32Array): void {
    const stack = this.#stack, depths = this.#depths;
    let sp = 0, dp = 0;
    let pl = 0, pr = num - 1;
    let cdepth = msb(num) * 2;
    const swap = (i: number, j: number) => {
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    };
    for (;;) {
      if (cdepth < 0) {
        heapsort(v, a, pl, pr - pl + 1);
      } else {
        while (pr - pl > SMALL_QUICKSORT) {
          const pm = pl + ((pr - pl) >> 1);
          if (v[a[pm]] < v[a[pl]]) swap(pm, pl);
          if (v[a[pr]] < v[a[pm]]) swap(pr, pm);
          if (v[a[pm]] < v[a[pl]]) swap(pm, pl);
          const vp = v[a[pm]];
          let pi = pl, pj = pr - 1;
          swap(pm, pj);
          for (;;) {
            do pi++; while (v[a[pi]] < vp);
            do pj--; while (vp < v[a[pj]]);
            if (pi >= pj) break;
            swap(pi, pj);
          }
          swap(pi, pr - 1);
          // The larger part waits on the stack; the smaller one is sorted next.
          if (pi - pl < pr - pi) {
            stack[sp++] = pi + 1;
            stack[sp++] = pr;
            pr = pi - 1;
          } else {
            stack[sp++] = pl;
            stack[sp++] = pi - 1;
            pl = pi + 1;
          }
          depths[dp++] = --cdepth;
        }
        for (let pi = pl + 1; pi <= pr; pi++) {
          const vi = a[pi], vv = v[vi];
          let pj = pi;
          while (pj > pl && vv < v[a[pj - 1]]) {
            a[pj] = a[pj - 1];
            pj--;
          }
          a[pj] = vi;
        }
      }
      if (sp === 0) break;
      pr = stack[--sp];
      pl = stack[--sp];
      cdepth = depths[--dp];
    }
  }

  // Every step below is a compare-exchange of two positions lo < hi that swaps only when
  // key[lo] > key[hi]: the SIMD min/max keep each lane's own index when the keys are equal.
  #bitonic(v: Float64Array, n: number, out: Int32Array): void {
    if (n > MAX_X86_SIMD_ROW) {
      throw new WeSpeakerError(
        "invalid-argument",
        `"numpy-x86-simd" tie order handles rows of at most ${MAX_X86_SIMD_ROW} keys, got ${n}`,
      );
    }
    let numVecs = MAX_X86_SIMD_ROW / LANES;
    while (numVecs > 1 && n * 2 <= numVecs * LANES) numVecs >>= 1;
    const size = numVecs * LANES;
    const keys = this.#keys, index = this.#index;
    for (let i = 0; i < size; i++) {
      keys[i] = i < n ? v[i] : Infinity;
      index[i] = i;
    }
    const cx = (lo: number, hi: number) => {
      if (keys[lo] > keys[hi]) {
        const k = keys[lo];
        keys[lo] = keys[hi];
        keys[hi] = k;
        const t = index[lo];
        index[lo] = index[hi];
        index[hi] = t;
      }
    };
    // One register: lanes i and i ^ m for each (mask, "reverse within groups of 2m" | "swap halves").
    const stage = (base: number, partner: (lane: number) => number) => {
      for (let lane = 0; lane < LANES; lane++) {
        const other = partner(lane);
        if (lane < other) cx(base + lane, base + other);
      }
    };
    const reverse = (width: number) => (lane: number) => lane ^ (width - 1);
    const swapHalves = (width: number) => (lane: number) => lane ^ (width >> 1);
    const sortRegister = (base: number) => {
      stage(base, reverse(2));
      stage(base, reverse(4));
      stage(base, swapHalves(2));
      stage(base, reverse(8));
      stage(base, swapHalves(4));
      stage(base, swapHalves(2));
    };
    const mergeRegister = (base: number) => {
      stage(base, swapHalves(8));
      stage(base, swapHalves(4));
      stage(base, swapHalves(2));
    };
    for (let r = 0; r < numVecs; r++) sortRegister(r * LANES);
    for (let per = 2; per <= numVecs; per *= 2) {
      for (let g = 0; g < numVecs; g += per) {
        // Upper half reversed against lower half, then half-cleaners across registers, then in-register.
        for (let i = 0; i < per / 2; i++) {
          const lo = (g + i) * LANES, hi = (g + per - 1 - i) * LANES;
          for (let lane = 0; lane < LANES; lane++) cx(lo + lane, hi + LANES - 1 - lane);
        }
        for (let num = per / 2; num >= 2; num /= 2) {
          for (let j = 0; j < per; j += num) {
            for (let i = 0; i < num / 2; i++) {
              const lo = (g + j + i) * LANES, hi = (g + j + i + num / 2) * LANES;
              for (let lane = 0; lane < LANES; lane++) cx(lo + lane, hi + lane);
            }
          }
        }
        for (let r = 0; r < per; r++) mergeRegister((g + r) * LANES);
      }
    }
    for (let i = 0; i < n; i++) out[i] = index[i];
  }
}

/** numpy's `aheapsort_` on `a[start .. start + n)`. */
function heapsort(v: Float64Array, a: Int32Array, start: number, n: number): void {
  // 1-based heap positions, as numpy's: position p lives at a[start + p - 1].
  const at = (p: number) => start + p - 1;
  const siftDown = (top: number, end: number, tmp: number) => {
    let i = top;
    for (let j = top << 1; j <= end;) {
      if (j < end && v[a[at(j)]] < v[a[at(j + 1)]]) j++;
      if (v[tmp] < v[a[at(j)]]) {
        a[at(i)] = a[at(j)];
        i = j;
        j += j;
      } else {
        break;
      }
    }
    a[at(i)] = tmp;
  };
  for (let l = n >> 1; l > 0; l--) siftDown(l, n, a[at(l)]);
  for (let end = n; end > 1;) {
    const tmp = a[at(end)];
    a[at(end)] = a[at(1)];
    end--;
    siftDown(1, end, tmp);
  }
}
