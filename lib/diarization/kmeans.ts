/**
 * scikit-learn's `KMeans(n_clusters, n_init=3, random_state=42).fit_predict(X)` on float32 data, as
 * pyannote.audio 4 calls it to force a speaker count (scikit-learn 1.9, Lloyd's algorithm, k-means++
 * seeding), reproduced step by step so that the labels are scikit-learn's:
 *
 * - the data is centred on its float32 column means, and the tolerance is 1e-4 times the mean float32
 *   column variance (`_tolerance`), both with numpy's float32 roundings;
 * - k-means++ draws from numpy's MT19937 stream ({@link RandomState}): the first centre by
 *   `choice(n, p=weights)`, then `2 + floor(ln k)` candidates per centre by `uniform() * potential`
 *   searched in the float32 cumulative sum of the squared distances, keeping the candidate that lowers
 *   the potential most; squared distances are computed in float64 and stored in float32, as
 *   `_euclidean_distances` does for float32 input;
 * - Lloyd iterations label each point by the strictly smallest `‖c‖² − 2 x·c` in float32 (the product
 *   accumulated in order over the features, as BLAS's sgemm micro-kernels do), sum the members in
 *   float32 in sample order, multiply by the float32 reciprocal of the count, relocate empty clusters
 *   to the points farthest from their centres, and stop when the labels no longer change or the total
 *   squared centre shift falls to the tolerance (then label once more);
 * - of the `nInit` runs, a later one replaces the best only if its float32 inertia is smaller and its
 *   clustering differs.
 *
 * Where this cannot be scikit-learn's to the bit, and so where labels can differ: BLAS and numpy's
 * einsum sum in an order of their own (SIMD partial sums), so a float32 squared distance or norm can
 * differ in its last bit; a point then changes cluster only if two centres are within that rounding
 * (~1e-7 relative) of equally close. With more than 256 points and several OpenMP threads, scikit-learn
 * merges per-thread partial sums in an unspecified order (its own results vary from run to run in the
 * last bit); this follows the single-thread order. When several clusters empty at once, numpy's
 * `argpartition` orders the farthest points among themselves in an unspecified way; here they go by
 * decreasing distance, then increasing index.
 *
 * @module
 */
import { WeSpeakerError } from "../errors.ts";
import { RandomState } from "../math/random_state.ts";
import { pairwiseSumF32 } from "./numpy_ops.ts";

const f32 = Math.fround;

/** scikit-learn's defaults that pyannote keeps, and the two it sets. */
export interface KMeansOptions {
  /** Independent k-means++ runs (pyannote: 3). */
  nInit?: number;
  /** Seed of numpy's RandomState (pyannote: 42). */
  randomState?: number;
  /** Lloyd iterations per run (scikit-learn: 300). */
  maxIter?: number;
  /** Relative tolerance on the centre shift (scikit-learn: 1e-4). */
  tol?: number;
}

/** Float32 column means as numpy's `X.mean(axis=0)`: a float32 running sum per column, then one division. */
function columnMeans(x: Float32Array, n: number, dim: number): Float32Array {
  const sum = new Float32Array(dim);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) sum[d] += x[i * dim + d];
  return sum.map((s) => s / n);
}

/** `_tolerance(X, tol)`: `np.mean(np.var(X, axis=0)) * tol`, all in float32. */
function tolerance(x: Float32Array, n: number, dim: number, tol: number): number {
  const mean = columnMeans(x, n, dim);
  // numpy squares the deviations into a float32 buffer, then sums each column in row order.
  const sq = new Float32Array(dim);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < dim; d++) {
      const diff = f32(x[i * dim + d] - mean[d]);
      sq[d] += f32(diff * diff);
    }
  }
  const variances = sq.map((s) => s / n);
  const meanVariance = f32(pairwiseSumF32(variances, 0, dim) / dim);
  return f32(meanVariance * f32(tol));
}

/** scikit-learn's `_euclidean_dense_dense(a, b, squared=True)` in float32: four products per step. */
function squaredDistanceF32(a: Float32Array, ai: number, b: Float32Array, bi: number, dim: number): number {
  let result = 0;
  const blocks = dim - (dim % 4);
  for (let k = 0; k < blocks; k += 4) {
    const d0 = f32(a[ai + k] - b[bi + k]), d1 = f32(a[ai + k + 1] - b[bi + k + 1]);
    const d2 = f32(a[ai + k + 2] - b[bi + k + 2]), d3 = f32(a[ai + k + 3] - b[bi + k + 3]);
    const group = f32(f32(f32(f32(d0 * d0) + f32(d1 * d1)) + f32(d2 * d2)) + f32(d3 * d3));
    result = f32(result + group);
  }
  for (let k = blocks; k < dim; k++) {
    const d = f32(a[ai + k] - b[bi + k]);
    result = f32(result + f32(d * d));
  }
  return result;
}

/** The data k-means works on, and the float64 squared norms of its rows. */
interface Data {
  x: Float32Array;
  n: number;
  dim: number;
  norms: Float64Array;
}

/**
 * Squared distances from row `c` to every row, as `_euclidean_distances(X[[c]], X, squared=True)` gives
 * them for float32 data: `−2 x·y + ‖x‖² + ‖y‖²` in float64, clipped at 0, stored as float32.
 */
function distancesFrom(data: Data, c: number, out: Float32Array): void {
  const { x, n, dim, norms } = data;
  const base = c * dim;
  for (let i = 0; i < n; i++) {
    let dot = 0;
    for (let d = 0, o = i * dim; d < dim; d++) dot += x[base + d] * x[o + d];
    const value = f32(-2 * dot + norms[c] + norms[i]);
    out[i] = value > 0 ? value : 0;
  }
}

/** `distances @ weights` with unit weights: the sum of float32 values, rounded to float32. */
function potential(distances: Float32Array): number {
  let s = 0;
  for (const v of distances) s += v;
  return f32(s);
}

/** `_kmeans_plusplus`: the indices of the `k` initial centres. */
function kmeansPlusPlus(data: Data, k: number, random: RandomState): number[] {
  const { n } = data;
  const trials = 2 + Math.floor(Math.log(k));
  const centers = [random.choice(new Float32Array(n).fill(1 / n))];
  let closest = new Float32Array(n);
  distancesFrom(data, centers[0], closest);
  let currentPot = potential(closest);
  const cumsum = new Float32Array(n);
  const candidate = Array.from({ length: trials }, () => new Float32Array(n));
  for (let c = 1; c < k; c++) {
    const randVals = Array.from({ length: trials }, () => random.uniform() * currentPot);
    let running = 0;
    for (let i = 0; i < n; i++) cumsum[i] = running = f32(running + closest[i]);
    let best = -1, bestPot = 0, bestId = 0;
    randVals.forEach((value, t) => {
      // np.searchsorted (left side): the first index whose cumulative sum reaches the value.
      let lo = 0, hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (cumsum[mid] < value) lo = mid + 1;
        else hi = mid;
      }
      const id = Math.min(lo, n - 1);
      const row = candidate[t];
      distancesFrom(data, id, row);
      for (let i = 0; i < n; i++) if (closest[i] < row[i]) row[i] = closest[i];
      const pot = potential(row);
      if (best < 0 || pot < bestPot) {
        best = t;
        bestPot = pot;
        bestId = id;
      }
    });
    currentPot = bestPot;
    closest = candidate[best].slice();
    centers.push(bestId);
  }
  return centers;
}

/** One E-step: labels by the smallest `‖c‖² − 2 x·c` in float32 (first on ties). */
function assign(data: Data, centers: Float32Array, k: number, labels: Int32Array): void {
  const { x, n, dim } = data;
  const centerNorms = new Float32Array(k);
  for (let j = 0; j < k; j++) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += centers[j * dim + d] * centers[j * dim + d];
    centerNorms[j] = s;
  }
  for (let i = 0; i < n; i++) {
    let label = 0, min = 0;
    for (let j = 0; j < k; j++) {
      let acc = 0;
      for (let d = 0, a = i * dim, b = j * dim; d < dim; d++) acc = f32(acc + x[a + d] * centers[b + d]);
      const dist = f32(centerNorms[j] - 2 * acc);
      if (j === 0 || dist < min) {
        min = dist;
        label = j;
      }
    }
    labels[i] = label;
  }
}

/** `_relocate_empty_clusters_dense`: each empty cluster takes the point farthest from its centre. */
function relocateEmpty(
  data: Data,
  oldCenters: Float32Array,
  sums: Float32Array,
  weights: Float32Array,
  labels: Int32Array,
): void {
  const empty = [...weights.keys()].filter((j) => weights[j] === 0);
  if (empty.length === 0) return;
  const { x, n, dim } = data;
  const distances = new Float32Array(n);
  const squares = new Float32Array(dim);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < dim; d++) {
      const diff = f32(x[i * dim + d] - oldCenters[labels[i] * dim + d]);
      squares[d] = diff * diff;
    }
    distances[i] = pairwiseSumF32(squares, 0, dim);
  }
  if (Math.max(...distances) === 0) return;
  const far = [...distances.keys()].sort((a, b) => distances[b] - distances[a] || a - b);
  empty.forEach((cluster, e) => {
    const i = far[e];
    const old = labels[i];
    for (let d = 0; d < dim; d++) {
      sums[old * dim + d] -= x[i * dim + d];
      sums[cluster * dim + d] = x[i * dim + d];
    }
    weights[cluster] = 1;
    weights[old] -= 1;
  });
}

/** One k-means run from the given centres: labels and float32 inertia. */
function lloyd(
  data: Data,
  initial: Float32Array,
  k: number,
  maxIter: number,
  tol: number,
): { labels: Int32Array; inertia: number } {
  const { x, n, dim } = data;
  let centers: Float32Array = initial;
  let next: Float32Array = new Float32Array(k * dim);
  const labels = new Int32Array(n).fill(-1);
  const previous = labels.slice();
  const weights = new Float32Array(k);
  const shift = new Float32Array(k);
  let strict = false;
  for (let iter = 0; iter < maxIter; iter++) {
    assign(data, centers, k, labels);
    next.fill(0);
    weights.fill(0);
    for (let i = 0; i < n; i++) {
      const j = labels[i];
      weights[j] += 1;
      for (let d = 0; d < dim; d++) next[j * dim + d] += x[i * dim + d];
    }
    relocateEmpty(data, centers, next, weights, labels);
    const heaviest = weights.indexOf(Math.max(...weights));
    for (let j = 0; j < k; j++) {
      if (weights[j] > 0) {
        const alpha = f32(1 / weights[j]);
        for (let d = 0; d < dim; d++) next[j * dim + d] *= alpha;
      }
    }
    for (let j = 0; j < k; j++) {
      if (!(weights[j] > 0)) next.copyWithin(j * dim, heaviest * dim, (heaviest + 1) * dim);
      shift[j] = Math.sqrt(squaredDistanceF32(next, j * dim, centers, j * dim, dim));
    }
    [centers, next] = [next, centers];
    if (labels.every((l, i) => l === previous[i])) {
      strict = true;
      break;
    }
    const squares = shift.map((s) => s * s);
    if (pairwiseSumF32(squares, 0, k) <= tol) break;
    previous.set(labels);
  }
  if (!strict) assign(data, centers, k, labels);
  let inertia = 0;
  for (let i = 0; i < n; i++) {
    inertia = f32(inertia + squaredDistanceF32(x, i * dim, centers, labels[i] * dim, dim));
  }
  return { labels, inertia };
}

/** `_is_same_clustering`: equal up to a renaming of the clusters. */
function sameClustering(a: Int32Array, b: Int32Array, k: number): boolean {
  const mapping = new Int32Array(k).fill(-1);
  for (let i = 0; i < a.length; i++) {
    if (mapping[a[i]] === -1) mapping[a[i]] = b[i];
    else if (mapping[a[i]] !== b[i]) return false;
  }
  return true;
}

/**
 * `KMeans(n_clusters=k, n_init, random_state).fit_predict(X)` for float32 `X` (scikit-learn 1.9).
 *
 * @param points row-major `n × dim` float32 observations (not modified)
 * @param n number of observations (at least `k`)
 * @param dim values per observation
 * @param k number of clusters
 * @returns the 0-based cluster of each observation
 * @throws {WeSpeakerError} `invalid-argument` for inconsistent sizes or fewer observations than clusters
 *   (scikit-learn raises too), or non-finite values
 */
export function kmeansFitPredict(
  points: Float32Array,
  n: number,
  dim: number,
  k: number,
  options: KMeansOptions = {},
): Int32Array {
  const nInit = options.nInit ?? 3, maxIter = options.maxIter ?? 300;
  for (
    const [name, v] of [["n", n], ["dim", dim], ["k", k], ["nInit", nInit], ["maxIter", maxIter]] as const
  ) {
    if (!Number.isInteger(v) || v < 1) {
      throw new WeSpeakerError(
        "invalid-argument",
        `kmeans: bad ${name}: ${v}`,
      );
    }
  }
  if (points.length !== n * dim) {
    throw new WeSpeakerError("invalid-argument", `kmeans: ${points.length} values, expected ${n} x ${dim}`);
  }
  if (n < k) {
    throw new WeSpeakerError("invalid-argument", `kmeans: n_samples=${n} should be >= n_clusters=${k}`);
  }
  if (!points.every(Number.isFinite)) {
    throw new WeSpeakerError("invalid-argument", "kmeans: non-finite input");
  }
  const tol = tolerance(points, n, dim, options.tol ?? 1e-4);
  const mean = columnMeans(points, n, dim);
  const x = points.map((v, i) => v - mean[i % dim]);
  const norms = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let d = i * dim; d < (i + 1) * dim; d++) s += x[d] * x[d];
    norms[i] = s;
  }
  const data: Data = { x, n, dim, norms };
  const random = new RandomState(options.randomState ?? 42);
  let best: { labels: Int32Array; inertia: number } | undefined;
  for (let run = 0; run < nInit; run++) {
    const seeds = kmeansPlusPlus(data, k, random);
    const initial = new Float32Array(k * dim);
    seeds.forEach((s, j) => initial.set(x.subarray(s * dim, (s + 1) * dim), j * dim));
    const result = lloyd(data, initial, k, maxIter, tol);
    if (!best || (result.inertia < best.inertia && !sameClustering(result.labels, best.labels, k))) {
      best = result;
    }
  }
  return best!.labels;
}
