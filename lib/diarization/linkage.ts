/**
 * Centroid (UPGMC) hierarchical clustering and distance-criterion flat clusters, reproducing
 * `scipy.cluster.hierarchy.linkage(X, method="centroid", metric="euclidean")` and
 * `fcluster(Z, t, criterion="distance")` (scipy 1.17): SciPy's algorithm with its merge order, child order
 * in a row, tie-breaking and label numbering. pyannote's diarization clustering cuts this tree, so any
 * drift in a tie can move an embedding to another speaker.
 *
 * Memory is linear in the number of points: where SciPy keeps every pairwise distance (8 bytes per pair,
 * 40 GB for 100,000 points) and updates them with the Lance–Williams recurrence, distances here are taken
 * between the clusters' centroids, which is what that recurrence computes up to rounding. Heights
 * therefore agree with SciPy's to a few units in the last place (not always to the bit, see
 * {@link centroidLinkage}); a ball tree over the centroids ({@link CentroidTree}) finds the nearest
 * clusters without scanning them all.
 *
 * @module
 */

import { WeSpeakerError } from "../errors.ts";
import { freeLinkage, runLinkage, startLinkage } from "../native/library.ts";

/** Most points {@link centroidLinkage} takes: node ids up to 2n - 2 must fit in an int32. */
export const MAX_POINTS = 2 ** 30;

/** Progress of {@link centroidLinkage}: merges done out of n - 1. */
export type LinkageProgress = (done: number, total: number) => void;

/** Options of {@link centroidLinkage}. */
export interface LinkageOptions {
  /** Called every few thousand merges and at the end. */
  onProgress?: LinkageProgress;
}

/**
 * Hierarchical clustering with centroid linkage (UPGMC) on Euclidean distances, as
 * `scipy.cluster.hierarchy.linkage(points, method="centroid", metric="euclidean")` in scipy 1.17.
 *
 * It runs SciPy's generic algorithm (Müllner 2011) step for step: a heap of lower bounds on each
 * cluster's distance to its nearest higher-indexed cluster, the same stale-bound checks, the same
 * neighbour updates after each merge, in the same order, so ties between equally close pairs are broken
 * as SciPy breaks them. What differs is where distances come from: SciPy stores all n(n-1)/2 of them and
 * updates a merged cluster's row with the Lance–Williams formula (itself rounded, on rounded inputs);
 * here the distance between two clusters is the Euclidean distance between their centroids, each centroid
 * being the size-weighted mean `(nx * cx + ny * cy) / (nx + ny)` of its two children's in float64. Between
 * single points the two are the same bits (both sum the squared differences in coordinate order); after
 * merges they agree to about 1e-15 relative, and the tree (merge order, children, sizes) is the same
 * unless two merges differ by less than that: then SciPy's own order is an artefact of its rounding.
 * Memory is O(n · dim). A ball tree over the centroids answers SciPy's nearest-neighbour scans exactly, so
 * the time is far below SciPy's O(n²) where clusters are well separated at the scale of their merges,
 * and about a scan per merge where they are not.
 *
 * @param points row-major `n × dim` observations (pyannote passes unit-normalised float32 embeddings
 *   widened to float64)
 * @param n number of observations, at least 2
 * @param dim coordinates per observation, at least 1
 * @param options progress callback
 * @returns the linkage matrix, `(n - 1) × 4` row-major: the two merged node ids (smaller first; ids ≥ n
 *   name the cluster formed at row id - n), the merge distance, and the new cluster's size
 * @throws {WeSpeakerError} `invalid-argument` when the shape is inconsistent or a coordinate or distance
 *   is not finite
 */
export function centroidLinkage(
  points: Float64Array,
  n: number,
  dim: number,
  options: LinkageOptions = {},
): Float64Array {
  if (!Number.isInteger(n) || n < 2 || n > MAX_POINTS) {
    throw new WeSpeakerError(
      "invalid-argument",
      `centroidLinkage: n must be an integer in [2, ${MAX_POINTS}], got ${n}`,
    );
  }
  if (!Number.isInteger(dim) || dim < 1) {
    throw new WeSpeakerError("invalid-argument", `centroidLinkage: dim must be an integer >= 1, got ${dim}`);
  }
  if (points.length !== n * dim) {
    throw new WeSpeakerError(
      "invalid-argument",
      `centroidLinkage: points has ${points.length} values, expected n * dim = ${n} * ${dim}`,
    );
  }
  for (let i = 0; i < points.length; i++) {
    if (!Number.isFinite(points[i])) {
      throw new WeSpeakerError(
        "invalid-argument",
        `centroidLinkage: point ${Math.floor(i / dim)} coordinate ${i % dim} is ${points[i]}`,
      );
    }
  }
  return mergeCentroids(points, n, dim, options.onProgress);
}

/**
 * Units of native work between progress reports: the first neighbour searches and the merges both come
 * in thousands per second at the least.
 */
const PROGRESS_EVERY = 4096;

function mergeCentroids(
  points: Float64Array,
  n: number,
  dim: number,
  onProgress?: LinkageProgress,
): Float64Array {
  const z = new Float64Array((n - 1) * 4);
  const state = startLinkage(points, n, dim);
  try {
    const total = 2 * n - 1;
    for (let done = 0; done < total;) {
      onProgress?.(done, total);
      const next = runLinkage(state, PROGRESS_EVERY, z);
      if (next <= done || next > total) {
        throw new WeSpeakerError(
          "native",
          `centroidLinkage: the native clustering reported ${next} of ${total} steps`,
        );
      }
      done = next;
    }
    onProgress?.(total, total);
  } finally {
    freeLinkage(state);
  }
  return z;
}

/**
 * Checks that `z` is a linkage matrix over `n` observations that can be walked safely: right length, and
 * each row merging two distinct, existing, not-yet-merged nodes.
 */
function checkLinkage(z: Float64Array, n: number, caller: string): void {
  if (!Number.isInteger(n) || n < 2) {
    throw new WeSpeakerError("invalid-argument", `${caller}: n must be an integer >= 2, got ${n}`);
  }
  if (z.length !== (n - 1) * 4) {
    throw new WeSpeakerError(
      "invalid-argument",
      `${caller}: linkage matrix has ${z.length} values, expected (n - 1) * 4 = ${(n - 1) * 4}`,
    );
  }
  const used = new Uint8Array(2 * n - 1);
  for (let r = 0; r < n - 1; r++) {
    for (let c = 0; c < 2; c++) {
      const id = z[4 * r + c];
      if (!Number.isInteger(id) || id < 0 || id >= n + r || used[id]) {
        throw new WeSpeakerError(
          "invalid-argument",
          `${caller}: linkage row ${r} column ${c} holds ${id}, not an unmerged node id below ${n + r}`,
        );
      }
      used[id] = 1;
    }
  }
}

/**
 * Flat clusters from a linkage matrix by the distance criterion, identical to
 * `scipy.cluster.hierarchy.fcluster(z, t, criterion="distance")`: each observation joins the highest
 * subtree whose largest merge distance (over the subtree, since centroid linkage can invert) is ≤ `t`.
 *
 * @param z linkage matrix as returned by {@link centroidLinkage}
 * @param n number of observations (`z` has n - 1 rows), at least 2
 * @param t distance threshold
 * @returns 1-based cluster labels per observation, numbered in scipy's depth-first order
 * @throws {WeSpeakerError} `invalid-argument` when `z` does not describe a tree over `n` observations
 */
export function fcluster(z: Float64Array, n: number, t: number): Int32Array {
  checkLinkage(z, n, "fcluster");
  const maxBelow = new Float64Array(n - 1);
  for (let r = 0; r < n - 1; r++) {
    let m = z[4 * r + 2];
    const a = z[4 * r], b = z[4 * r + 1];
    if (a >= n && maxBelow[a - n] > m) m = maxBelow[a - n];
    if (b >= n && maxBelow[b - n] > m) m = maxBelow[b - n];
    maxBelow[r] = m;
  }

  const labels = new Int32Array(n);
  const visited = new Uint8Array(2 * n - 1);
  const stack = new Int32Array(n);
  let top = 0;
  stack[0] = 2 * n - 2;
  let label = 0;
  let leader = -1;
  while (top >= 0) {
    const row = stack[top] - n;
    const a = z[4 * row], b = z[4 * row + 1];
    if (leader === -1 && maxBelow[row] <= t) {
      leader = row;
      label++;
    }
    if (a >= n && !visited[a]) {
      visited[a] = 1;
      stack[++top] = a;
      continue;
    }
    if (b >= n && !visited[b]) {
      visited[b] = 1;
      stack[++top] = b;
      continue;
    }
    if (a < n) labels[a] = leader === -1 ? ++label : label;
    if (b < n) labels[b] = leader === -1 ? ++label : label;
    if (leader === row) leader = -1;
    top--;
  }
  return labels;
}
