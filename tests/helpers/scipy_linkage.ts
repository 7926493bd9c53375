/**
 * Test oracles for lib/diarization/linkage.ts (whose work is done natively, csrc/linkage.cpp).
 *
 * `scipyCentroidLinkage` is SciPy's own algorithm for
 * `scipy.cluster.hierarchy.linkage(X, method="centroid")` (scipy 1.17), line by line. Müllner's generic
 * algorithm over the condensed float64 distance matrix, distances between merged clusters updated by the
 * Lance–Williams centroid formula in SciPy's operation order: bit-identical to SciPy (the committed
 * goldens check it), and quadratic in memory, which is why the library computes distances from centroids
 * instead. The tests compare the two on inputs small enough for this one.
 *
 * `bruteForceCentroidLinkage` is the library's algorithm without its ball tree: the same generic loop
 * with distances between centroids, every one of them computed by a scan. The library must give the same
 * bits; anything else would mean that its tree skipped a cluster it should have looked at.
 *
 * @module
 */

import { WeSpeakerError } from "../../lib/errors.ts";

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
function condensedEuclidean(points: Float64Array, n: number, dim: number): Float64Array {
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

function mergeCentroids(dist: Float64Array, n: number): Float64Array {
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
 * SciPy's centroid linkage, bit for bit; for finite points only (the caller checks).
 *
 * @returns the `(n - 1) × 4` linkage matrix, as `centroidLinkage` in lib/diarization/linkage.ts returns it
 */
export function scipyCentroidLinkage(points: Float64Array, n: number, dim: number): Float64Array {
  return mergeCentroids(condensedEuclidean(points, n, dim), n);
}

/**
 * Binary min-heap over keys 0..size-1 with changeable values. Its sift rules (strict comparisons, the
 * right child only when strictly smaller) decide which of several equal minima surfaces first, which is
 * how scipy breaks ties between equally close cluster pairs; they must not be "improved".
 */
class KeyedMinHeap {
  /** Values by heap slot. */
  readonly values: Float64Array;
  /** Key at each heap slot (slot 0 holds the minimum). */
  readonly keyAt: Int32Array;
  /** Heap slot of each key. */
  readonly slotOf: Int32Array;
  /** Keys still in the heap. */
  size: number;

  /** A heap over keys 0..initial.length-1 with those values. */
  constructor(initial: Float64Array) {
    this.size = initial.length;
    this.values = initial.slice();
    this.keyAt = new Int32Array(this.size);
    this.slotOf = new Int32Array(this.size);
    for (let i = 0; i < this.size; i++) this.keyAt[i] = this.slotOf[i] = i;
    for (let i = (this.size >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  /** Removes the minimum's key. */
  removeTop(): void {
    this.swap(0, this.size - 1);
    this.size--;
    this.siftDown(0);
  }

  /** Changes a key's value. */
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

/** Euclidean distance between rows a and b, summed in coordinate order (csrc/linkage.cpp's exact_distance). */
function rowDistance(c: Float64Array, a: number, b: number, dim: number): number {
  let s = 0;
  for (let d = 0, i = a * dim, j = b * dim; d < dim; d++) {
    const t = c[i + d] - c[j + d];
    s += t * t;
  }
  return Math.sqrt(s);
}

/** SciPy's generic loop with distances between centroids, by plain scans: O(n^2 dim) per merge at worst. */
export function bruteForceCentroidLinkage(points: Float64Array, n: number, dim: number): Float64Array {
  const c = points.slice();
  const size = new Int32Array(n).fill(1);
  const nodeId = Int32Array.from({ length: n }, (_, i) => i);
  const z = new Float64Array((n - 1) * 4);
  let found = Infinity;
  const nearestAbove = (x: number) => {
    let best = -1;
    found = Infinity;
    for (let i = x + 1; i < n; i++) {
      if (size[i] === 0) continue;
      const d = rowDistance(c, x, i, dim);
      if (d < found) {
        found = d;
        best = i;
      }
    }
    return best;
  };
  const neighbor = new Int32Array(n - 1), bound = new Float64Array(n - 1);
  for (let x = 0; x < n - 1; x++) {
    neighbor[x] = nearestAbove(x);
    bound[x] = found;
  }
  const heap = new KeyedMinHeap(bound);
  for (let k = 0; k < n - 1; k++) {
    let x = 0, y = 0, d = 0;
    for (let attempt = 0; attempt < n - k; attempt++) {
      x = heap.keyAt[0];
      d = heap.values[0];
      y = neighbor[x];
      if (d === rowDistance(c, x, y, dim)) break;
      y = nearestAbove(x);
      d = found;
      neighbor[x] = y;
      bound[x] = d;
      heap.update(x, d);
    }
    heap.removeTop();
    const nx = size[x], ny = size[y], nxy = nx + ny;
    z.set([Math.min(nodeId[x], nodeId[y]), Math.max(nodeId[x], nodeId[y]), d, nxy], 4 * k);
    for (let t = 0; t < dim; t++) c[y * dim + t] = (nx * c[x * dim + t] + ny * c[y * dim + t]) / nxy;
    size[x] = 0;
    size[y] = nxy;
    nodeId[y] = n + k;
    for (let w = 0; w < x; w++) if (size[w] > 0 && neighbor[w] === x) neighbor[w] = y;
    for (let w = 0; w < y; w++) {
      if (size[w] === 0) continue;
      const dw = rowDistance(c, w, y, dim);
      if (dw < bound[w]) {
        neighbor[w] = y;
        bound[w] = dw;
        heap.update(w, dw);
      }
    }
    if (y < n - 1) {
      neighbor[y] = nearestAbove(y);
      bound[y] = found;
      heap.update(y, found);
    }
  }
  return z;
}
