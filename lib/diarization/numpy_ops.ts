/**
 * The few numpy/scipy vector operations pyannote's clustering performs, with their exact rounding:
 * float32 row normalisation (`x /= np.linalg.norm(x, axis=-1, keepdims=True)`), float32 row means
 * (`np.mean(x[mask], axis=0)`) and scipy's float64 cosine distance (`cdist(..., metric="cosine")`).
 * Bit-equality matters because the results feed argmin/argmax decisions and a tree built on them.
 *
 * @module
 */

const f32 = Math.fround;

/**
 * numpy's float32 pairwise summation (`add.reduce` over a contiguous axis): sequential below 8 values,
 * eight interleaved partial sums up to 128, halving (at a multiple of 8) above that. Float32 rounding via
 * `Math.fround` of float64 results is exact for sums (float64 has more than twice float32's precision).
 */
export function pairwiseSumF32(v: Float32Array, start: number, count: number): number {
  if (count < 8) {
    let s = 0;
    for (let i = 0; i < count; i++) s = f32(s + v[start + i]);
    return s;
  }
  if (count <= 128) {
    const r = new Float64Array(8);
    for (let j = 0; j < 8; j++) r[j] = v[start + j];
    let i = 8;
    for (; i < count - (count % 8); i += 8) {
      for (let j = 0; j < 8; j++) r[j] = f32(r[j] + v[start + i + j]);
    }
    let s = f32(f32(f32(r[0] + r[1]) + f32(r[2] + r[3])) + f32(f32(r[4] + r[5]) + f32(r[6] + r[7])));
    for (; i < count; i++) s = f32(s + v[start + i]);
    return s;
  }
  let half = Math.floor(count / 2);
  half -= half % 8;
  return f32(pairwiseSumF32(v, start, half) + pairwiseSumF32(v, start + half, count - half));
}

/**
 * Divides each row of a row-major `n × dim` float32 matrix by its Euclidean norm, rounding exactly like
 * numpy on float32 input (squares, pairwise sum, sqrt and quotient all in float32).
 *
 * @param x row-major values (not modified)
 * @param n number of rows
 * @param dim values per row
 * @returns `rows`, the normalised matrix, and `badRow`: -1, or the first row whose norm is zero or not
 *   finite (numpy would yield NaN or zeros there; the rows from it on are not filled)
 */
export function normalizeRowsF32(
  x: Float32Array,
  n: number,
  dim: number,
): { rows: Float32Array; badRow: number } {
  const rows = new Float32Array(n * dim);
  const squares = new Float32Array(dim);
  for (let i = 0; i < n; i++) {
    const base = i * dim;
    for (let d = 0; d < dim; d++) squares[d] = x[base + d] * x[base + d];
    const norm = f32(Math.sqrt(pairwiseSumF32(squares, 0, dim)));
    if (!(norm > 0 && norm < Infinity)) return { rows, badRow: i };
    for (let d = 0; d < dim; d++) rows[base + d] = x[base + d] / norm;
  }
  return { rows, badRow: -1 };
}

/**
 * Float32 mean of selected rows, as `np.mean(x[rows], axis=0)` computes it: a float32 running sum in row
 * order, then one division by the count.
 *
 * @param x row-major float32 matrix
 * @param dim values per row
 * @param rows indices of the rows to average (non-empty)
 * @param out receives the `dim` means
 * @param outOffset where in `out` to write
 */
export function meanRowsF32(
  x: Float32Array,
  dim: number,
  rows: ArrayLike<number>,
  out: Float32Array,
  outOffset: number,
): void {
  const sum = x.slice(rows[0] * dim, rows[0] * dim + dim);
  for (let r = 1; r < rows.length; r++) {
    const base = rows[r] * dim;
    for (let d = 0; d < dim; d++) sum[d] += x[base + d];
  }
  for (let d = 0; d < dim; d++) out[outOffset + d] = sum[d] / rows.length;
}

/**
 * Euclidean norms of float32 (or float64) rows in float64, summed in order from zero as scipy's cosine `cdist` does.
 *
 * @param x row-major float32 matrix
 * @param n number of rows
 * @param dim values per row
 * @returns one norm per row
 */
export function rowNormsF64(x: Float32Array | Float64Array, n: number, dim: number): Float64Array {
  const norms = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let d = i * dim, end = d + dim; d < end; d++) s += x[d] * x[d];
    norms[i] = Math.sqrt(s);
  }
  return norms;
}

/**
 * scipy's cosine distance between row `i` of `a` and row `j` of `b`, in float64: in-order dot product
 * over the product of precomputed norms, clipped to [-1, 1], subtracted from 1.
 *
 * @param a row-major float32 matrix
 * @param i row of `a`
 * @param normA norm of that row, from {@link rowNormsF64}
 * @param b row-major float32 matrix
 * @param j row of `b`
 * @param normB norm of that row
 * @param dim values per row
 * @returns `1 - cos`, NaN when a norm is zero (as scipy gives)
 */
export function cosineDistance(
  a: Float32Array | Float64Array,
  i: number,
  normA: number,
  b: Float32Array | Float64Array,
  j: number,
  normB: number,
  dim: number,
): number {
  let dot = 0;
  const ai = i * dim, bj = j * dim;
  for (let d = 0; d < dim; d++) dot += a[ai + d] * b[bj + d];
  let cos = dot / (normA * normB);
  if (Math.abs(cos) > 1) cos = Math.sign(cos);
  return 1 - cos;
}
