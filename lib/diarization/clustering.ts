/**
 * The clustering stage of pyannote `speaker-diarization-3.1`: `AgglomerativeClustering` with
 * `metric="cosine"`, `method="centroid"`, no embedding subsampling and unconstrained assignment. It groups
 * the (chunk, local speaker) embeddings into global speakers, reproducing pyannote.audio 3.3.2 on
 * scipy 1.17 / numpy 2 exactly (same labels, same centroids).
 *
 * @module
 */

import { WeSpeakerError } from "../errors.ts";
import { centroidLinkage, fcluster } from "./linkage.ts";
import { cosineDistance, meanRowsF32, normalizeRowsF32, rowNormsF64 } from "./numpy_ops.ts";

/** The tuned clustering hyper-parameters shipped with `pyannote/speaker-diarization-3.1`. */
export const DIARIZATION_31_CLUSTERING: { readonly threshold: number; readonly minClusterSize: number } = {
  threshold: 0.7045654963945799,
  minClusterSize: 12,
};

/** Cluster-count bounds and hyper-parameters for {@link agglomerativeCluster}. */
export interface AgglomerativeOptions {
  /** Fewest clusters wanted (≥ 1); fewer large clusters than this triggers a re-cut of the tree. */
  minClusters: number;
  /** Most clusters wanted (≥ minClusters, may be `Infinity`); more triggers a re-cut of the tree. */
  maxClusters: number;
  /** Exact number of clusters wanted, when known. */
  numClusters?: number;
  /** Cut height of the centroid-linkage tree over unit-normalised embeddings. */
  threshold: number;
  /** Clusters smaller than this (after pyannote's shrinking for small inputs) are merged into others. */
  minClusterSize: number;
  /** Called as the linkage advances: distance rows, then merges (it is quadratic in the input). */
  onProgress?: (done: number, total: number) => void;
}

function fail(message: string): never {
  throw new WeSpeakerError("invalid-argument", message);
}

function checkCount(name: string, value: number | undefined, allowInfinity = false): void {
  if (value === undefined) return;
  if (!((Number.isInteger(value) && value >= 1) || (allowInfinity && value === Infinity))) {
    fail(`${name} must be a positive integer${allowInfinity ? " or Infinity" : ""}, got ${value}`);
  }
}

function checkOptions(options: AgglomerativeOptions): void {
  const { minClusters, maxClusters, threshold } = options;
  checkCount("minClusters", minClusters);
  checkCount("maxClusters", maxClusters, true);
  checkCount("numClusters", options.numClusters);
  checkCount("minClusterSize", options.minClusterSize);
  if (minClusters > maxClusters) fail(`minClusters (${minClusters}) exceeds maxClusters (${maxClusters})`);
  if (!Number.isFinite(threshold)) fail(`threshold must be finite, got ${threshold}`);
}

/** Python's `round()` on a float: ties go to the even integer. */
function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const frac = x - floor;
  if (frac !== 0.5) return frac < 0.5 ? floor : floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** numpy's argmin/argmax convention: the first NaN wins, otherwise the first extreme value. */
function argBest(values: Float64Array, better: (a: number, b: number) => boolean): number {
  let best = 0;
  for (let i = 0; i < values.length; i++) {
    if (Number.isNaN(values[i])) return i;
    if (better(values[i], values[best])) best = i;
  }
  return best;
}

/** Cluster sizes for 0-based contiguous labels. */
function labelCounts(labels: Int32Array): Int32Array {
  let max = 0;
  for (const l of labels) if (l > max) max = l;
  const counts = new Int32Array(max + 1);
  for (const l of labels) counts[l]++;
  return counts;
}

/** Rows of each listed label, in row order (what a numpy boolean mask selects). */
function rowsOf(labels: Int32Array, wanted: number[]): number[][] {
  const slot = new Map(wanted.map((l, i) => [l, i]));
  const rows: number[][] = wanted.map(() => []);
  labels.forEach((l, i) => slot.has(l) && rows[slot.get(l)!].push(i));
  return rows;
}

/**
 * The tree cut pyannote falls back to when the threshold cut gives a wrong number of large clusters:
 * it tries "stop after merge row i" for rows in order of |height - threshold| and keeps the first that
 * yields the target count of large clusters, else the closest count seen.
 *
 * pyannote orders rows with numpy's default (unstable, platform-dependent) argsort; equal distances to
 * the threshold are ordered here by row index (a stable sort), which is what numpy gives whenever there
 * are no ties and is the reproducible choice when there are.
 */
function recutRow(z: Float64Array, n: number, threshold: number, target: number, mcs: number): number {
  const order = Array.from({ length: n - 1 }, (_, r) => r);
  const gap = order.map((r) => Math.abs(z[4 * r + 2] - threshold));
  order.sort((a, b) => gap[a] - gap[b] || a - b);

  // Row of the merge that absorbs each node; the root is "absorbed" after every row.
  const parentRow = new Int32Array(2 * n - 1).fill(n - 1);
  for (let r = 0; r < n - 1; r++) parentRow[z[4 * r]] = parentRow[z[4 * r + 1]] = r;
  // Large clusters once rows 0..last are merged: subtrees whose parent merges later, big enough.
  const largeAfter = (last: number): number => {
    let count = 0;
    for (let r = 0; r <= last; r++) if (parentRow[n + r] > last && z[4 * r + 3] >= mcs) count++;
    if (mcs <= 1) { for (let i = 0; i < n; i++) if (parentRow[i] > last) count++; }
    return count;
  };

  let best = n - 1;
  let bestLarge = 1;
  for (const row of order) {
    if (z[4 * row + 3] < mcs) continue;
    const large = largeAfter(row);
    if (Math.abs(large - target) < Math.abs(bestLarge - target)) {
      best = row;
      bestLarge = large;
    }
    if (large === target) break;
  }
  return best;
}

/**
 * pyannote's `AgglomerativeClustering.cluster` (centroid method, cosine metric): unit-normalise (float32,
 * as numpy), build the centroid-linkage tree, cut it at `threshold`, re-cut by merge index if the number
 * of large clusters breaks the bounds, then merge each small cluster into the large cluster whose centroid
 * is nearest in cosine distance and renumber.
 *
 * The minimum cluster size is `min(minClusterSize, max(1, round(0.1 * n)))` with Python's half-to-even
 * rounding, so short inputs are not all declared "small". The re-cut visits merge rows by increasing
 * |height - threshold|; pyannote sorts with numpy's default (unstable) argsort, and rows at exactly equal
 * distance from the threshold are taken here in row order (stable), which can only differ from numpy when
 * such a tie exists and changes which row first hits the target count.
 *
 * @param embeddings row-major `n × dim` float32 embeddings (not modified)
 * @param n number of embeddings, at least 1
 * @param dim embedding size
 * @param options bounds (already resolved as {@link clusterEmbeddings} does) and hyper-parameters
 * @returns 0-based cluster label per embedding, contiguous from 0
 * @throws {WeSpeakerError} `invalid-argument` for inconsistent shapes or options, or an embedding whose
 *   norm is zero or not finite
 */
export function agglomerativeCluster(
  embeddings: Float32Array,
  n: number,
  dim: number,
  options: AgglomerativeOptions,
): Int32Array {
  if (!Number.isInteger(n) || n < 1) fail(`agglomerativeCluster: n must be a positive integer, got ${n}`);
  if (!Number.isInteger(dim) || dim < 1) {
    fail(`agglomerativeCluster: dim must be a positive integer, got ${dim}`);
  }
  if (embeddings.length !== n * dim) {
    fail(
      `agglomerativeCluster: embeddings has ${embeddings.length} values, expected n * dim = ${n} * ${dim}`,
    );
  }
  checkOptions(options);

  if (n === 1) return new Int32Array(1);
  const { rows: unit, badRow } = normalizeRowsF32(embeddings, n, dim);
  if (badRow >= 0) fail(`agglomerativeCluster: embedding ${badRow} has a zero or non-finite norm`);
  return clusterUnitRows(unit, n, dim, options);
}

/** {@link agglomerativeCluster} after normalisation, for n ≥ 2 and validated options. */
function clusterUnitRows(
  unit: Float32Array,
  n: number,
  dim: number,
  options: AgglomerativeOptions,
): Int32Array {
  const { minClusters, maxClusters, threshold } = options;
  const mcs = Math.min(options.minClusterSize, Math.max(1, roundHalfEven(0.1 * n)));
  const z = centroidLinkage(Float64Array.from(unit), n, dim, options.onProgress);

  let labels = fcluster(z, n, threshold).map((l) => l - 1);
  let counts = labelCounts(labels);
  let numLarge = counts.filter((c) => c >= mcs).length;

  let target = options.numClusters;
  if (numLarge < minClusters) target = minClusters;
  else if (numLarge > maxClusters) target = maxClusters;
  if (target !== undefined && numLarge !== target) {
    const row = recutRow(z, n, threshold, target, mcs);
    const byRow = z.slice();
    for (let r = 0; r < n - 1; r++) byRow[4 * r + 2] = r;
    labels = fcluster(byRow, n, row).map((l) => l - 1);
    counts = labelCounts(labels);
    numLarge = counts.filter((c) => c >= mcs).length;
  }
  if (numLarge === 0) return new Int32Array(n);

  const large: number[] = [], small: number[] = [];
  counts.forEach((c, l) => (c >= mcs ? large : small).push(l));
  if (small.length === 0) return labels;

  const centroidsOf = (which: number[]) => {
    const out = new Float32Array(which.length * dim);
    rowsOf(labels, which).forEach((rows, k) => meanRowsF32(unit, dim, rows, out, k * dim));
    return out;
  };
  const largeC = centroidsOf(large), smallC = centroidsOf(small);
  const largeNorms = rowNormsF64(largeC, large.length, dim),
    smallNorms = rowNormsF64(smallC, small.length, dim);
  const target2large = new Map<number, number>();
  const dist = new Float64Array(large.length);
  small.forEach((s, j) => {
    for (let k = 0; k < large.length; k++) {
      dist[k] = cosineDistance(largeC, k, largeNorms[k], smallC, j, smallNorms[j], dim);
    }
    target2large.set(s, large[argBest(dist, (a, b) => a < b)]);
  });
  // np.unique(return_inverse=True): the surviving (large) labels, ranked.
  const rank = new Map(large.map((l, i) => [l, i]));
  return labels.map((l) => rank.get(target2large.get(l) ?? l)!);
}

/** Options for {@link clusterEmbeddings}; counts follow pyannote's `num/min/max_speakers` semantics. */
export interface EmbeddingClusteringOptions {
  /** Exact number of speakers, when known (overrides the bounds). */
  numClusters?: number;
  /** Fewest speakers (default 1). */
  minClusters?: number;
  /** Most speakers (default: no bound). */
  maxClusters?: number;
  /** Linkage cut height; defaults to {@link DIARIZATION_31_CLUSTERING}'s. */
  threshold?: number;
  /** Smallest cluster kept on its own; defaults to {@link DIARIZATION_31_CLUSTERING}'s. */
  minClusterSize?: number;
  /** Called as the linkage advances: distance rows, then merges (it is quadratic in the input). */
  onProgress?: (done: number, total: number) => void;
}

/** Output of {@link clusterEmbeddings}. */
export interface EmbeddingClusters {
  /** Global speaker per (chunk, local speaker), row-major `numChunks × numSpeakers`; -2 where inactive. */
  hardClusters: Int32Array;
  /** Mean raw (un-normalised) embedding of each cluster's active members, row-major `numClusters × dim`. */
  centroids: Float32Array;
  /**
   * Number of centroids. A cluster can end up with no (chunk, speaker) assigned to it, as in pyannote,
   * so the largest label in `hardClusters` may be smaller. 0 when nothing is active.
   */
  numClusters: number;
}

/**
 * pyannote's `BaseClustering.__call__` for the 3.1 pipeline: resolve the cluster-count bounds
 * (`set_num_clusters`: capped by the number of active embeddings; equal bounds fix the count), cluster the
 * active embeddings with {@link agglomerativeCluster}, then give every active (chunk, speaker) the cluster
 * whose centroid (mean of the raw member embeddings) has the highest `2 - cosine distance`, first index on
 * ties. With at most one cluster allowed it skips clustering and puts every active entry in cluster 0.
 *
 * Inactive entries get -2 (the pipeline's marker) and their embeddings are never read, so they may hold
 * NaN. Unlike pyannote, which silently drops an active entry with a NaN embedding from training, that is
 * reported as an error; and with no active entry at all the result has zero clusters rather than a NaN
 * centroid.
 *
 * @param embeddings raw embeddings, row-major `numChunks × numSpeakers × dim`
 * @param active non-zero where the local speaker is active in the chunk
 * @param numChunks number of chunks
 * @param numSpeakers local speakers per chunk
 * @param dim embedding size
 * @param options speaker-count bounds and hyper-parameters
 * @returns hard assignments, centroids and their count
 * @throws {WeSpeakerError} `invalid-argument` for inconsistent shapes, bad counts, `minClusters` above
 *   `maxClusters` (after capping), or an active embedding that is not finite or has zero norm
 */
export function clusterEmbeddings(
  embeddings: Float32Array,
  active: Uint8Array,
  numChunks: number,
  numSpeakers: number,
  dim: number,
  options: EmbeddingClusteringOptions = {},
): EmbeddingClusters {
  for (const [name, v] of [["numChunks", numChunks], ["numSpeakers", numSpeakers], ["dim", dim]] as const) {
    if (!Number.isInteger(v) || v < (name === "dim" ? 1 : 0)) fail(`clusterEmbeddings: bad ${name}: ${v}`);
  }
  const pairs = numChunks * numSpeakers;
  if (embeddings.length !== pairs * dim) {
    fail(
      `clusterEmbeddings: embeddings has ${embeddings.length} values, expected ` +
        `numChunks * numSpeakers * dim = ${numChunks} * ${numSpeakers} * ${dim}`,
    );
  }
  if (active.length !== pairs) {
    fail(`clusterEmbeddings: active has ${active.length} entries, expected ${numChunks} * ${numSpeakers}`);
  }
  checkCount("numClusters", options.numClusters);
  checkCount("minClusters", options.minClusters);
  checkCount("maxClusters", options.maxClusters, true);
  const threshold = options.threshold ?? DIARIZATION_31_CLUSTERING.threshold;
  const minClusterSize = options.minClusterSize ?? DIARIZATION_31_CLUSTERING.minClusterSize;
  checkCount("minClusterSize", minClusterSize);
  if (!Number.isFinite(threshold)) fail(`threshold must be finite, got ${threshold}`);

  const train: number[] = [];
  for (let p = 0; p < pairs; p++) {
    if (active[p] === 0) continue;
    for (let d = p * dim; d < (p + 1) * dim; d++) {
      if (!Number.isFinite(embeddings[d])) {
        fail(
          `clusterEmbeddings: embedding of chunk ${Math.floor(p / numSpeakers)} speaker ${p % numSpeakers} ` +
            `has ${embeddings[d]} at dimension ${d - p * dim}`,
        );
      }
    }
    train.push(p);
  }
  const n = train.length;
  const hardClusters = new Int32Array(pairs).fill(-2);
  if (n === 0) return { hardClusters, centroids: new Float32Array(0), numClusters: 0 };

  const cap = (v: number) => Math.max(1, Math.min(n, v));
  const minClusters = cap(options.numClusters ?? options.minClusters ?? 1);
  const maxClusters = cap(options.numClusters ?? options.maxClusters ?? n);
  if (minClusters > maxClusters) {
    fail(
      `minClusters must not exceed maxClusters (here minClusters=${minClusters} and ` +
        `maxClusters=${maxClusters}, after capping both at the ${n} active embeddings)`,
    );
  }
  const numClusters = minClusters === maxClusters ? minClusters : options.numClusters;

  if (maxClusters < 2) {
    const centroids = new Float32Array(dim);
    meanRowsF32(embeddings, dim, train, centroids, 0);
    for (const p of train) hardClusters[p] = 0;
    return { hardClusters, centroids, numClusters: 1 };
  }

  const trainEmbeddings = new Float32Array(n * dim);
  train.forEach((p, i) => trainEmbeddings.set(embeddings.subarray(p * dim, (p + 1) * dim), i * dim));
  const { rows: unit, badRow } = normalizeRowsF32(trainEmbeddings, n, dim);
  if (badRow >= 0) {
    const p = train[badRow];
    fail(
      `clusterEmbeddings: embedding of chunk ${Math.floor(p / numSpeakers)} speaker ${p % numSpeakers} ` +
        "has a zero (or float32-overflowing) norm",
    );
  }
  const trainLabels = clusterUnitRows(unit, n, dim, {
    minClusters,
    maxClusters,
    numClusters,
    threshold,
    minClusterSize,
    onProgress: options.onProgress,
  });

  const k = labelCounts(trainLabels).length;
  const centroids = new Float32Array(k * dim);
  rowsOf(trainLabels, Array.from({ length: k }, (_, i) => i))
    .forEach((rows, c) => meanRowsF32(trainEmbeddings, dim, rows, centroids, c * dim));
  const centroidNorms = rowNormsF64(centroids, k, dim);
  const embeddingNorms = rowNormsF64(trainEmbeddings, n, dim);
  const score = new Float64Array(k);
  train.forEach((p, i) => {
    for (let c = 0; c < k; c++) {
      score[c] = 2 -
        cosineDistance(trainEmbeddings, i, embeddingNorms[i], centroids, c, centroidNorms[c], dim);
    }
    hardClusters[p] = argBest(score, (a, b) => a > b);
  });
  return { hardClusters, centroids, numClusters: k };
}
