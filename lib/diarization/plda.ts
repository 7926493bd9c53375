/**
 * pyannote.audio 4's `PLDA` (`pyannote.audio.core.plda` over `utils.vbx.vbx_setup`): the x-vector
 * transform (centring, length normalisation, LDA to 128 dimensions, centring, length normalisation)
 * and the PLDA transform into the space where the within-speaker covariance is the identity and the
 * between-speaker covariance is diagonal (`phi`), loaded from the two files of community-1's `plda/`
 * folder, `xvec_transform.npz` (`mean1`, `mean2`, `lda`) and `plda.npz` (`mu`, `tr`, `psi`).
 *
 * As in pyannote, the PLDA basis is recomputed at load time: `W = inv(trᵀ tr)`, `B = inv((trᵀ / psi)
 * tr)`, the generalised symmetric eigenproblem `B v = λ W v`, eigenvalues (and eigenvectors) in
 * decreasing order. The arithmetic is float64 throughout (numpy's too, for float64 files), with one
 * float32 step where numpy has one: when `mean1` is stored as float32, `x - mean1` and its length
 * normalisation stay float32, as numpy computes them for float32 embeddings.
 *
 * Eigenvectors are only defined up to sign (and, for equal eigenvalues, up to a rotation); LAPACK picks
 * one, this picks another (largest component positive), so a feature dimension can come out negated.
 * VBx only uses the features through squares and products with its own per-dimension estimates, so its
 * output does not depend on that choice (tests/community1.test.ts checks it).
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { WeSpeakerError } from "../errors.ts";
import { generalizedSymmetricEigen, invert } from "../math/linalg.ts";
import { type NpyArray, NpzFile } from "../hub/npz.ts";
import { normalizeRowsF32 } from "./numpy_ops.ts";

/** The dimension pyannote truncates PLDA features to (`PLDA(lda_dimension=128)`). */
export const PLDA_DIMENSION = 128;

function invalid(source: string, what: string): never {
  throw new WeSpeakerError("invalid-weights", `${source}: ${what}`);
}

function finite(array: NpyArray, source: string, name: string): void {
  const bad = array.data.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) invalid(source, `array '${name}' holds ${array.data[bad]} at index ${bad}`);
}

/** The PLDA model of a community-1 style pipeline. */
export class PLDA {
  /** Embedding (x-vector) dimension the transform takes. */
  readonly inputDim: number;
  /** Dimension after LDA. */
  readonly ldaDim: number;
  /** Dimension of the features {@link transform} returns (at most {@link PLDA_DIMENSION}). */
  readonly dim: number;
  readonly #mean1: Float32Array | Float64Array;
  readonly #mean2: Float64Array;
  readonly #lda: Float64Array;
  readonly #mu: Float64Array;
  /** PLDA basis, one row per output dimension, in decreasing order of `psi`. */
  readonly #tr: Float64Array;
  readonly #psi: Float64Array;

  private constructor(
    transform: Record<string, NpyArray>,
    plda: Record<string, NpyArray>,
    sources: string[],
  ) {
    const [transformSource, pldaSource] = sources;
    const { mean1, mean2, lda } = transform;
    const { mu, tr, psi } = plda;
    this.inputDim = lda.shape[0];
    this.ldaDim = lda.shape[1];
    if (mean1.shape[0] !== this.inputDim || mean2.shape[0] !== this.ldaDim) {
      invalid(
        transformSource,
        `mean1 (${mean1.shape[0]}), mean2 (${mean2.shape[0]}) and lda (${
          lda.shape.join(" x ")
        }) do not fit together`,
      );
    }
    const n = tr.shape[0];
    if (tr.shape[1] !== n || psi.shape[0] !== n || mu.shape[0] !== n || n !== this.ldaDim) {
      invalid(
        pldaSource,
        `mu (${mu.shape[0]}), tr (${tr.shape.join(" x ")}) and psi (${psi.shape[0]}) must all have the ` +
          `LDA dimension ${this.ldaDim} of ${transformSource}`,
      );
    }
    for (const [name, a] of Object.entries(transform)) finite(a, transformSource, name);
    for (const [name, a] of Object.entries(plda)) finite(a, pldaSource, name);
    const nonPositive = psi.data.findIndex((v) => !(v > 0));
    if (nonPositive >= 0) {
      invalid(pldaSource, `psi must be positive, psi[${nonPositive}] is ${psi.data[nonPositive]}`);
    }
    this.#mean1 = mean1.data;
    this.#mean2 = Float64Array.from(mean2.data);
    this.#lda = Float64Array.from(lda.data);
    this.#mu = Float64Array.from(mu.data);
    this.dim = Math.min(PLDA_DIMENSION, n);

    // vbx_setup: W = inv(trᵀ tr), B = inv((trᵀ / psi) tr), eigh(B, W), reversed.
    const t = Float64Array.from(tr.data);
    const w = new Float64Array(n * n), bInv = new Float64Array(n * n);
    for (let a = 0; a < n; a++) {
      for (let b = 0; b < n; b++) {
        let sw = 0, sb = 0;
        for (let j = 0; j < n; j++) {
          const p = t[j * n + a] * t[j * n + b];
          sw += p;
          sb += (t[j * n + a] / psi.data[j]) * t[j * n + b];
        }
        w[a * n + b] = sw;
        bInv[a * n + b] = sb;
      }
    }
    try {
      const { values, vectors } = generalizedSymmetricEigen(
        invert(bInv, n, "(trᵀ / psi) tr"),
        invert(w, n, "trᵀ tr"),
        n,
        "inv(trᵀ tr)",
      );
      this.#psi = values.reverse();
      this.#tr = new Float64Array(n * n);
      for (let row = 0; row < n; row++) {
        const col = n - 1 - row;
        for (let k = 0; k < n; k++) this.#tr[row * n + k] = vectors[k * n + col];
      }
    } catch (err) {
      if (!(err instanceof WeSpeakerError)) throw err;
      throw new WeSpeakerError(
        "invalid-weights",
        `${pldaSource}: tr and psi do not define a PLDA model: ${err.message}`,
        {
          cause: err,
        },
      );
    }
  }

  /**
   * Loads the two files, checking every array's presence, shape and values.
   *
   * @param transform the bytes of `xvec_transform.npz`
   * @param plda the bytes of `plda.npz`
   * @param sources names of the two files for error messages
   * @throws {WeSpeakerError} `invalid-weights` naming the file and array at fault
   */
  static async fromBytes(
    transform: Uint8Array,
    plda: Uint8Array,
    sources: [string, string] = ["xvec_transform.npz", "plda.npz"],
  ): Promise<PLDA> {
    const t = new NpzFile(transform, sources[0]);
    const p = new NpzFile(plda, sources[1]);
    return new PLDA(
      {
        mean1: await t.get("mean1", [-1]),
        mean2: await t.get("mean2", [-1]),
        lda: await t.get("lda", [-1, -1]),
      },
      { mu: await p.get("mu", [-1]), tr: await p.get("tr", [-1, -1]), psi: await p.get("psi", [-1]) },
      sources,
    );
  }

  /**
   * Loads `xvec_transform.npz` and `plda.npz` from disk.
   *
   * @throws {WeSpeakerError} `io` when a file cannot be read, `invalid-weights` as {@link fromBytes}
   */
  static async load(transformPath: string, pldaPath: string): Promise<PLDA> {
    const read = async (path: string) => {
      try {
        return new Uint8Array(await readFile(path));
      } catch (err) {
        throw new WeSpeakerError("io", `cannot read ${path}: ${(err as Error).message}`, { cause: err });
      }
    };
    return await PLDA.fromBytes(await read(transformPath), await read(pldaPath), [transformPath, pldaPath]);
  }

  /** Between-speaker variances of the feature dimensions, decreasing (`PLDA.phi`). */
  get phi(): Float64Array {
    return this.#psi.slice(0, this.dim);
  }

  /**
   * Embeddings into the PLDA space (`PLDA.__call__`).
   *
   * @param embeddings row-major `n × inputDim` float32 embeddings (as the network returns them)
   * @param n number of embeddings
   * @returns row-major `n × dim` float64 features
   * @throws {WeSpeakerError} `invalid-argument` for a wrong size or an embedding equal to `mean1` (whose
   *   length normalisation divides by zero; numpy would return NaN)
   */
  transform(embeddings: Float32Array, n: number): Float64Array {
    const d = this.inputDim, l = this.ldaDim;
    if (embeddings.length !== n * d) {
      throw new WeSpeakerError("invalid-argument", `PLDA: ${embeddings.length} values, expected ${n} x ${d}`);
    }
    // sqrt(D) * l2_norm(x - mean1), in float32 when mean1 is (numpy keeps float32 - float32 in float32).
    const centred = new Float64Array(n * d);
    if (this.#mean1 instanceof Float32Array) {
      const diff = embeddings.map((v, i) => v - this.#mean1[i % d]);
      const { rows, badRow } = normalizeRowsF32(diff, n, d);
      if (badRow >= 0) this.#degenerate(badRow);
      rows.forEach((v, i) => (centred[i] = Math.sqrt(d) * v));
    } else {
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let k = i * d; k < (i + 1) * d; k++) {
          centred[k] = embeddings[k] - this.#mean1[k - i * d];
          s += centred[k] * centred[k];
        }
        const norm = Math.sqrt(s);
        if (!(norm > 0)) this.#degenerate(i);
        for (let k = i * d; k < (i + 1) * d; k++) centred[k] = Math.sqrt(d) * (centred[k] / norm);
      }
    }
    const out = new Float64Array(n * this.dim);
    const y = new Float64Array(l);
    for (let i = 0; i < n; i++) {
      // sqrt(L) * l2_norm(ldaᵀ x - mean2)
      y.fill(0);
      for (let k = 0; k < d; k++) {
        const x = centred[i * d + k];
        for (let j = 0; j < l; j++) y[j] += this.#lda[k * l + j] * x;
      }
      let s = 0;
      for (let j = 0; j < l; j++) {
        y[j] -= this.#mean2[j];
        s += y[j] * y[j];
      }
      const norm = Math.sqrt(s);
      if (!(norm > 0)) this.#degenerate(i);
      for (let j = 0; j < l; j++) y[j] = Math.sqrt(l) * (y[j] / norm) - this.#mu[j];
      // (x0 - mu) trᵀ, first `dim` columns.
      for (let c = 0; c < this.dim; c++) {
        let v = 0;
        for (let j = 0; j < l; j++) v += y[j] * this.#tr[c * l + j];
        out[i * this.dim + c] = v;
      }
    }
    return out;
  }

  #degenerate(row: number): never {
    throw new WeSpeakerError(
      "invalid-argument",
      `PLDA: embedding ${row} has zero length after centring (it equals the transform's mean)`,
    );
  }
}
