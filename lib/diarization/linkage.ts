/**
 * Centroid (UPGMC) hierarchical clustering and distance-criterion flat clusters, reproducing
 * `scipy.cluster.hierarchy.linkage(X, method="centroid", metric="euclidean")` and
 * `fcluster(Z, t, criterion="distance")` (scipy 1.17) to the bit: same merge order, same child order in a
 * row, same tie-breaking, same label numbering. pyannote's diarization clustering cuts this tree, so any
 * drift in a tie or a last-bit height can move an embedding to another speaker.
 *
 * @module
 */

import { WeSpeakerError } from "../errors.ts";

/** Reports how far a long computation got: steps done of the total (n distance rows, then n - 1 merges). */
export type Progress = (done: number, total: number) => void;

/** Largest n whose n(n-1)/2 pair indices fit in an int32 (and whose matrix would already need 8.6 GB). */
export const MAX_POINTS = 46341;

/** Offsets such that the condensed index of pair (i, j), i < j, is `rowBase[i] + j`. */
function condensedRowBases(n: number): Int32Array {
  const rowBase = new Int32Array(n);
  for (let i = 0; i < n; i++) rowBase[i] = i * n - (i * (i + 1)) / 2 - i - 1;
  return rowBase;
}

/**
 * Pairwise Euclidean distances in scipy's condensed order. Each sum runs over the coordinates in order in
 * float64, as scipy's pdist does, so equal inputs give bit-equal distances. Rows are taken four at a time
 * against each later row, so that a later row is read from memory once per four pairs (at n = 10000 and
 * dim = 256 the row-by-row loop is memory-bound), without reordering any single sum.
 */
function condensedEuclidean(points: Float64Array, n: number, dim: number, progress?: Progress): Float64Array {
  const dist = new Float64Array((n * (n - 1)) / 2);
  const rowBase = condensedRowBases(n);
  const single = (i: number, j: number) => {
    let s = 0;
    for (let d = 0, a = i * dim, b = j * dim; d < dim; d++) {
      const t = points[a + d] - points[b + d];
      s += t * t;
    }
    dist[rowBase[i] + j] = Math.sqrt(s);
  };
  for (let i0 = 0; i0 < n; i0 += 4) {
    if (progress && i0 % 256 === 0) progress(i0, 2 * n - 1);
    const rows = Math.min(4, n - i0);
    for (let i = i0; i < i0 + rows; i++) for (let j = i + 1; j < i0 + rows; j++) single(i, j);
    if (rows < 4) {
      for (let i = i0; i < i0 + rows; i++) for (let j = i0 + rows; j < n; j++) single(i, j);
      continue;
    }
    const a0 = i0 * dim, a1 = a0 + dim, a2 = a1 + dim, a3 = a2 + dim;
    const o0 = rowBase[i0], o1 = rowBase[i0 + 1], o2 = rowBase[i0 + 2], o3 = rowBase[i0 + 3];
    for (let j = i0 + 4; j < n; j++) {
      const b = j * dim;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let d = 0; d < dim; d++) {
        const y = points[b + d];
        const t0 = points[a0 + d] - y;
        const t1 = points[a1 + d] - y;
        const t2 = points[a2 + d] - y;
        const t3 = points[a3 + d] - y;
        s0 += t0 * t0;
        s1 += t1 * t1;
        s2 += t2 * t2;
        s3 += t3 * t3;
      }
      dist[o0 + j] = Math.sqrt(s0);
      dist[o1 + j] = Math.sqrt(s1);
      dist[o2 + j] = Math.sqrt(s2);
      dist[o3 + j] = Math.sqrt(s3);
    }
  }
  return dist;
}

/**
 * Binary min-heap over keys 0..size-1 with changeable values. Its sift rules (strict comparisons, the
 * right child only when strictly smaller) decide which of several equal minima surfaces first, which is
 * how scipy breaks ties between equally close cluster pairs; they must not be "improved".
 */
class KeyedMinHeap {
  readonly values: Float64Array;
  readonly keyAt: Int32Array;
  readonly slotOf: Int32Array;
  size: number;

  constructor(initial: Float64Array) {
    this.size = initial.length;
    this.values = initial.slice();
    this.keyAt = new Int32Array(this.size);
    this.slotOf = new Int32Array(this.size);
    for (let i = 0; i < this.size; i++) this.keyAt[i] = this.slotOf[i] = i;
    for (let i = (this.size >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  removeTop(): void {
    this.swap(0, this.size - 1);
    this.size--;
    this.siftDown(0);
  }

  update(key: number, value: number): void {
    const slot = this.slotOf[key];
    const old = this.values[slot];
    this.values[slot] = value;
    if (value < old) this.siftUp(slot);
    else this.siftDown(slot);
  }

  private siftUp(slot: number): void {
    while (slot > 0) {
      const parent = (slot - 1) >> 1;
      if (!(this.values[parent] > this.values[slot])) return;
      this.swap(slot, parent);
      slot = parent;
    }
  }

  private siftDown(slot: number): void {
    for (let child = 2 * slot + 1; child < this.size; child = 2 * slot + 1) {
      if (child + 1 < this.size && this.values[child + 1] < this.values[child]) child++;
      if (!(this.values[slot] > this.values[child])) return;
      this.swap(slot, child);
      slot = child;
    }
  }

  private swap(i: number, j: number): void {
    const v = this.values[i];
    this.values[i] = this.values[j];
    this.values[j] = v;
    const ki = this.keyAt[i], kj = this.keyAt[j];
    this.keyAt[i] = kj;
    this.keyAt[j] = ki;
    this.slotOf[ki] = j;
    this.slotOf[kj] = i;
  }
}

/**
 * Hierarchical clustering with centroid linkage (UPGMC) on Euclidean distances, identical to
 * `scipy.cluster.hierarchy.linkage(points, method="centroid", metric="euclidean")` in scipy 1.17.
 *
 * It is scipy's generic algorithm (Müllner 2011): a heap of lower bounds on each cluster's distance to its
 * nearest higher-indexed cluster, with inter-cluster distances updated by the Lance–Williams centroid
 * formula evaluated in the same operation order as scipy. Memory is one float64 per pair (n = 10000 needs
 * 400 MB, hence the cap at 46341 points); time is O(n² · dim) for the distances plus about O(n²) for the
 * merges (n = 10000, dim = 256: about 10 s, of which 2.5 s merging; scipy takes longer on the same machine).
 *
 * @param points row-major `n × dim` observations (pyannote passes unit-normalised float32 embeddings
 *   widened to float64)
 * @param n number of observations, at least 2
 * @param dim coordinates per observation, at least 1
 * @returns the linkage matrix, `(n - 1) × 4` row-major: the two merged node ids (smaller first; ids ≥ n
 *   name the cluster formed at row id - n), the merge distance, and the new cluster's size
 * @throws {WeSpeakerError} `invalid-argument` when the shape is inconsistent, a coordinate or distance
 *   is not finite, or the update formula breaks down numerically (scipy raises there too)
 */
export function centroidLinkage(
  points: Float64Array,
  n: number,
  dim: number,
  progress?: Progress,
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
  const dist = condensedEuclidean(points, n, dim, progress);
  for (let i = 0; i < dist.length; i++) {
    if (!Number.isFinite(dist[i])) {
      throw new WeSpeakerError("invalid-argument", "centroidLinkage: a pairwise distance overflows");
    }
  }
  const z = mergeCentroids(dist, n, progress);
  progress?.(2 * n - 1, 2 * n - 1);
  return z;
}

function mergeCentroids(dist: Float64Array, n: number, progress?: Progress): Float64Array {
  const rowBase = condensedRowBases(n);
  const at = (i: number, j: number) => (i < j ? rowBase[i] + j : rowBase[j] + i);
  const size = new Int32Array(n).fill(1);
  const nodeId = Int32Array.from({ length: n }, (_, i) => i);
  const z = new Float64Array((n - 1) * 4);

  // Nearest live cluster among higher indices; index n - 1 is never dropped (the lower index of a merged
  // pair is the one dropped), so a live x < n - 1 always has a candidate unless distances went NaN.
  let foundDist = Infinity;
  const nearestAbove = (x: number): number => {
    let best = -1;
    foundDist = Infinity;
    const base = rowBase[x];
    for (let i = x + 1; i < n; i++) {
      if (size[i] === 0) continue;
      const d = dist[base + i];
      if (d < foundDist) {
        foundDist = d;
        best = i;
      }
    }
    if (best < 0) {
      throw new WeSpeakerError(
        "invalid-argument",
        "centroidLinkage: no finite distance left between clusters (degenerate input)",
      );
    }
    return best;
  };

  const neighbor = new Int32Array(n - 1);
  const bound = new Float64Array(n - 1);
  for (let x = 0; x < n - 1; x++) {
    neighbor[x] = nearestAbove(x);
    bound[x] = foundDist;
  }
  const heap = new KeyedMinHeap(bound);

  for (let k = 0; k < n - 1; k++) {
    if (progress && k % 256 === 0) progress(n + k, 2 * n - 1);
    let x = 0, y = 0, d = 0;
    // Bounded like scipy's loop, so a float quirk cannot spin forever; the last candidate wins then.
    for (let attempt = 0; attempt < n - k; attempt++) {
      x = heap.keyAt[0];
      d = heap.values[0];
      y = neighbor[x];
      if (d === dist[rowBase[x] + y]) break;
      y = nearestAbove(x);
      d = foundDist;
      neighbor[x] = y;
      bound[x] = d;
      heap.update(x, d);
    }
    heap.removeTop();

    const nx = size[x], ny = size[y];
    const idX = nodeId[x], idY = nodeId[y];
    z[4 * k] = Math.min(idX, idY);
    z[4 * k + 1] = Math.max(idX, idY);
    z[4 * k + 2] = d;
    z[4 * k + 3] = nx + ny;
    size[x] = 0;
    size[y] = nx + ny;
    nodeId[y] = n + k;

    const nxy = nx + ny, nxny = nx * ny;
    for (let w = 0; w < n; w++) {
      if (size[w] === 0 || w === y) continue;
      const dx = dist[at(w, x)], wy = at(w, y), dy = dist[wy];
      // scipy's operand order, including the integer product nx * ny, to get the same last bit.
      dist[wy] = Math.sqrt((nx * dx * dx + ny * dy * dy - (nxny * d * d) / nxy) / nxy);
    }
    for (let w = 0; w < x; w++) {
      if (size[w] > 0 && neighbor[w] === x) neighbor[w] = y;
    }
    for (let w = 0; w < y; w++) {
      if (size[w] === 0) continue;
      const dw = dist[rowBase[w] + y];
      if (dw < bound[w]) {
        neighbor[w] = y;
        bound[w] = dw;
        heap.update(w, dw);
      }
    }
    if (y < n - 1) {
      neighbor[y] = nearestAbove(y);
      bound[y] = foundDist;
      heap.update(y, foundDist);
    }
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
