/**
 * The dense float64 linear algebra pyannote's PLDA set-up needs (`np.linalg.inv`, `scipy.linalg.eigh`
 * for the generalised symmetric problem), on row-major `n × n` matrices. LAPACK's algorithms differ
 * (blocked LU, divide and conquer), so results agree with numpy's to rounding, not to the bit; the
 * callers only need that (see lib/diarization/plda.ts).
 *
 * @module
 */
import { WeSpeakerError } from "../errors.ts";

function square(a: Float64Array, n: number, what: string): void {
  if (!Number.isInteger(n) || n < 1 || a.length !== n * n) {
    throw new WeSpeakerError(
      "invalid-argument",
      `${what}: expected an ${n} x ${n} matrix, got ${a.length} values`,
    );
  }
}

/**
 * The inverse of a square matrix by LU decomposition with partial pivoting (what LAPACK's `dgesv`,
 * behind `np.linalg.inv`, does).
 *
 * @param a row-major `n × n` matrix (not modified)
 * @param n its order
 * @param what names the matrix in errors
 * @throws {WeSpeakerError} `invalid-argument` when the matrix is singular (numpy raises too)
 */
export function invert(a: Float64Array, n: number, what = "matrix"): Float64Array {
  square(a, n, what);
  const lu = a.slice();
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) inv[i * n + i] = 1;
  for (let k = 0; k < n; k++) {
    let pivot = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(lu[i * n + k]) > Math.abs(lu[pivot * n + k])) pivot = i;
    if (!(Math.abs(lu[pivot * n + k]) > 0)) {
      throw new WeSpeakerError("invalid-argument", `${what} is singular (no pivot in column ${k})`);
    }
    if (pivot !== k) {
      for (let j = 0; j < n; j++) {
        [lu[k * n + j], lu[pivot * n + j]] = [lu[pivot * n + j], lu[k * n + j]];
        [inv[k * n + j], inv[pivot * n + j]] = [inv[pivot * n + j], inv[k * n + j]];
      }
    }
    const p = lu[k * n + k];
    for (let i = k + 1; i < n; i++) {
      const f = lu[i * n + k] / p;
      if (f === 0) continue;
      for (let j = k; j < n; j++) lu[i * n + j] -= f * lu[k * n + j];
      for (let j = 0; j < n; j++) inv[i * n + j] -= f * inv[k * n + j];
    }
  }
  for (let k = n - 1; k >= 0; k--) {
    const p = lu[k * n + k];
    for (let j = 0; j < n; j++) inv[k * n + j] /= p;
    for (let i = 0; i < k; i++) {
      const f = lu[i * n + k];
      if (f === 0) continue;
      for (let j = 0; j < n; j++) inv[i * n + j] -= f * inv[k * n + j];
    }
  }
  for (const v of inv) {
    if (!Number.isFinite(v)) throw new WeSpeakerError("invalid-argument", `${what} is numerically singular`);
  }
  return inv;
}

/**
 * The lower Cholesky factor `L` of a symmetric positive-definite matrix (`a = L Lᵀ`).
 *
 * @throws {WeSpeakerError} `invalid-argument` when the matrix is not positive definite
 */
export function cholesky(a: Float64Array, n: number, what = "matrix"): Float64Array {
  square(a, n, what);
  const l = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j];
    for (let k = 0; k < j; k++) d -= l[j * n + k] * l[j * n + k];
    if (!(d > 0)) {
      throw new WeSpeakerError("invalid-argument", `${what} is not positive definite (pivot ${j} is ${d})`);
    }
    const ljj = Math.sqrt(d);
    l[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let s = a[i * n + j];
      for (let k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
      l[i * n + j] = s / ljj;
    }
  }
  return l;
}

/**
 * Eigenvalues and eigenvectors of a symmetric matrix: Householder reduction to tridiagonal form, then
 * the implicit QL algorithm with Wilkinson shifts (EISPACK's `tred2` and `tql2`, as in the public-domain
 * JAMA library). Accurate to a few ulps of the largest eigenvalue, as LAPACK's solvers are.
 *
 * @param a row-major symmetric `n × n` matrix (only its lower triangle is read; not modified)
 * @returns eigenvalues ascending, and the eigenvectors as the columns of a row-major `n × n` matrix,
 *   each of unit norm and with its largest-magnitude component positive
 * @throws {WeSpeakerError} `invalid-argument` for non-finite values or when QL does not converge
 */
export function symmetricEigen(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  square(a, n, "symmetricEigen");
  if (!a.every(Number.isFinite)) {
    throw new WeSpeakerError("invalid-argument", "symmetricEigen: the matrix holds non-finite values");
  }
  const v = a.slice();
  const d = new Float64Array(n), e = new Float64Array(n);
  // tred2: Householder tridiagonalisation, accumulating the transformations in v.
  for (let j = 0; j < n; j++) d[j] = v[(n - 1) * n + j];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0, h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = v[(i - 1) * n + j];
        v[i * n + j] = 0;
        v[j * n + i] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j];
        v[j * n + i] = f;
        g = e[j] + v[j * n + j] * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += v[k * n + j] * d[k];
          e[k] += v[k * n + j] * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        for (let k = j; k <= i - 1; k++) v[k * n + j] -= f * e[k] + g * d[k];
        d[j] = v[(i - 1) * n + j];
        v[i * n + j] = 0;
      }
    }
    d[i] = h;
  }
  for (let i = 0; i < n - 1; i++) {
    v[(n - 1) * n + i] = v[i * n + i];
    v[i * n + i] = 1;
    const h = d[i + 1];
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = v[k * n + i + 1] / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += v[k * n + i + 1] * v[k * n + j];
        for (let k = 0; k <= i; k++) v[k * n + j] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) v[k * n + i + 1] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = v[(n - 1) * n + j];
    v[(n - 1) * n + j] = 0;
  }
  v[(n - 1) * n + n - 1] = 1;
  e[0] = 0;

  // tql2: implicit QL on the tridiagonal matrix (d, e).
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0, tst1 = 0;
  const eps = 2 ** -52;
  // JAMA's overflow-safe hypot (Math.hypot is variadic and slow in the inner loop).
  const hypot = (x: number, y: number) => {
    const ax = Math.abs(x), ay = Math.abs(y);
    if (ax > ay) return ax * Math.sqrt(1 + (ay / ax) ** 2);
    return ay === 0 ? 0 : ay * Math.sqrt(1 + (ax / ay) ** 2);
  };
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n && Math.abs(e[m]) > eps * tst1) m++;
    if (m > l) {
      for (let iter = 0;; iter++) {
        if (iter === 60) throw new WeSpeakerError("invalid-argument", "symmetricEigen: QL did not converge");
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1, c2 = c, c3 = c, s = 0, s2 = 0;
        const el1 = e[l + 1];
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          for (let k = 0; k < n; k++) {
            h = v[k * n + i + 1];
            v[k * n + i + 1] = s * v[k * n + i] + c * h;
            v[k * n + i] = c * v[k * n + i] - s * h;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
        if (!(Math.abs(e[l]) > eps * tst1)) break;
      }
    }
    d[l] += f;
    e[l] = 0;
  }

  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => d[i] - d[j] || i - j);
  const values = Float64Array.from(order, (i) => d[i]);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    let big = 0;
    for (let k = 0; k < n; k++) if (Math.abs(v[k * n + src]) > Math.abs(v[big * n + src])) big = k;
    const sign = v[big * n + src] < 0 ? -1 : 1;
    for (let k = 0; k < n; k++) vectors[k * n + dst] = sign * v[k * n + src];
  });
  return { values, vectors };
}

/**
 * The generalised symmetric-definite eigenproblem `a x = λ b x` (`scipy.linalg.eigh(a, b)`): with
 * `b = L Lᵀ`, the eigenvectors of `L⁻¹ a L⁻ᵀ` mapped back by `L⁻ᵀ`, so that `Xᵀ b X = I`.
 *
 * @param a row-major symmetric `n × n` matrix
 * @param b row-major symmetric positive-definite `n × n` matrix
 * @returns eigenvalues ascending and the eigenvectors as columns (row-major), each with its
 *   largest-magnitude component positive (LAPACK's signs are arbitrary; the callers are invariant to them)
 * @throws {WeSpeakerError} `invalid-argument` when `b` is not positive definite
 */
export function generalizedSymmetricEigen(
  a: Float64Array,
  b: Float64Array,
  n: number,
  what = "b",
): { values: Float64Array; vectors: Float64Array } {
  square(a, n, "generalizedSymmetricEigen");
  const l = cholesky(b, n, what);
  // y = L⁻¹ a, then c = y L⁻ᵀ = L⁻¹ (L⁻¹ a)ᵀ since a is symmetric: two forward substitutions.
  const forward = (rhs: Float64Array) => {
    const out = new Float64Array(n * n);
    for (let col = 0; col < n; col++) {
      for (let i = 0; i < n; i++) {
        let s = rhs[i * n + col];
        for (let k = 0; k < i; k++) s -= l[i * n + k] * out[k * n + col];
        out[i * n + col] = s / l[i * n + i];
      }
    }
    return out;
  };
  const y = forward(a);
  const yt = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) yt[j * n + i] = y[i * n + j];
  const { values, vectors: z } = symmetricEigen(forward(yt), n);
  // x = L⁻ᵀ z: back substitution with Lᵀ.
  const x = new Float64Array(n * n);
  for (let col = 0; col < n; col++) {
    for (let i = n - 1; i >= 0; i--) {
      let s = z[i * n + col];
      for (let k = i + 1; k < n; k++) s -= l[k * n + i] * x[k * n + col];
      x[i * n + col] = s / l[i * n + i];
    }
  }
  // Same sign rule on the final vectors.
  for (let col = 0; col < n; col++) {
    let big = 0;
    for (let k = 0; k < n; k++) if (Math.abs(x[k * n + col]) > Math.abs(x[big * n + col])) big = k;
    if (x[big * n + col] < 0) { for (let k = 0; k < n; k++) x[k * n + col] = -x[k * n + col]; }
  }
  return { values, vectors: x };
}
