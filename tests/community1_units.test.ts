// The pieces of the community-1 clustering against the libraries pyannote.audio 4 uses
// (tests/fixtures/community1/units.json, from scripts/reference/make_community1_units.py): numpy's
// RandomState, scikit-learn's KMeans, pyannote's PLDA and cluster_vbx; and the .npy / .npz reader on files
// numpy wrote.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { WeSpeakerError } from "../lib/errors.ts";
import { NpzFile, readNpy } from "../lib/hub/npz.ts";
import { generalizedSymmetricEigen, invert } from "../lib/math/linalg.ts";
import { RandomState } from "../lib/math/random_state.ts";
import { kmeansFitPredict } from "../lib/diarization/kmeans.ts";
import { PLDA } from "../lib/diarization/plda.ts";
import { clusterVbx } from "../lib/diarization/vbx.ts";
import { generatePldaFiles } from "../scripts/generate_pipeline.ts";
import { encodeNpz } from "./helpers/npy_writer.ts";
import { assertClose, f64 } from "./helpers/community1.ts";

const FIXTURES = new URL("./fixtures/community1/", import.meta.url);
const units = JSON.parse(readFileSync(new URL("units.json", FIXTURES), "utf8"));
const npyFile = (name: string) => new Uint8Array(readFileSync(new URL(`npy/${name}`, FIXTURES)));

/** The doubles numpy's RandomState(seed) draws one at a time, as the Python generator used them. */
function draws(seed: number): () => number {
  const random = new RandomState(seed);
  return () => random.randomSample();
}

/** make_community1_units.py's `dataset`: float32 data from uniforms, +, - and * only. */
function dataset(seed: number, kind: string, n: number, dim: number, k: number): Float32Array {
  const u = draws(seed);
  const rows: number[][] = [];
  if (kind === "uniform") {
    for (let i = 0; i < n; i++) rows.push(Array.from({ length: dim }, () => u() * 2 - 1));
  } else {
    const centres = Array.from({ length: k }, () => Array.from({ length: dim }, () => (u() * 2 - 1) * 2));
    for (let i = 0; i < n; i++) {
      const c = centres[Math.floor(u() * k)];
      rows.push(Array.from({ length: dim }, (_, d) => c[d] + (u() + u() + u() - 1.5) * 0.5));
    }
    if (kind === "duplicates") {
      for (let i = Math.floor(n / 2); i < n; i++) rows[i] = rows[i - Math.floor(n / 2)];
    }
  }
  return Float32Array.from(rows.flat());
}

describe("numpy RandomState (MT19937)", () => {
  const golden = units.randomState;
  test("raw words past a regeneration, random_sample, uniform", () => {
    const random = new RandomState(golden.seed);
    assert.deepEqual(Array.from({ length: golden.words.length }, () => random.nextU32()), golden.words);
    const again = new RandomState(golden.seed);
    assert.deepEqual(Array.from({ length: 5 }, () => again.randomSample()), golden.samples);
    assert.deepEqual(Array.from({ length: 3 }, () => again.uniform()), golden.uniforms);
    const p = new Float32Array(7).fill(1 / 7);
    assert.deepEqual(Array.from({ length: 20 }, () => again.choice(p)), golden.choices7);
  });

  test("seeds outside [0, 2^32) are refused", () => {
    assert.throws(() => new RandomState(-1), WeSpeakerError);
    assert.throws(() => new RandomState(2 ** 32), WeSpeakerError);
  });
});

describe("KMeans as scikit-learn 1.9 (n_init=3, random_state=42)", () => {
  for (const c of units.kmeans) {
    test(`${c.kind}: n=${c.n}, k=${c.k}, dim=${c.dim}: identical labels`, () => {
      const x = dataset(c.seed, c.kind, c.n, c.dim, c.k);
      assert.deepEqual(Array.from(kmeansFitPredict(x, c.n, c.dim, c.k)), c.labels);
    });
  }

  test("fewer points than clusters is an error, as in scikit-learn", () => {
    assert.throws(
      () => kmeansFitPredict(new Float32Array(6), 3, 2, 4),
      (err) => err instanceof WeSpeakerError && /n_samples=3 should be >= n_clusters=4/.test(err.message),
    );
  });
});

describe("PLDA as pyannote.audio 4 (vbx_setup)", () => {
  const embeddings = (() => {
    const u = draws(100);
    return Float32Array.from({ length: 6 * 256 }, () => (u() * 2 - 1) * 0.3 + 0.1);
  })();

  async function variant(name: string): Promise<PLDA> {
    const { transform, plda } = await generatePldaFiles();
    if (name === "f8") return await PLDA.fromBytes(transform, plda);
    const t = new NpzFile(transform, "t"), p = new NpzFile(plda, "p");
    const f32 = async (file: NpzFile, key: string, cast: boolean) => {
      const a = await file.get(key);
      return { data: cast ? Float32Array.from(a.data) : Float64Array.from(a.data), shape: a.shape };
    };
    const all = name === "f4";
    return await PLDA.fromBytes(
      await encodeNpz({
        mean1: await f32(t, "mean1", true),
        mean2: await f32(t, "mean2", all),
        lda: await f32(t, "lda", all),
      }),
      await encodeNpz({
        mu: await f32(p, "mu", all),
        tr: await f32(p, "tr", all),
        psi: await f32(p, "psi", all),
      }),
    );
  }

  for (const c of units.plda) {
    // numpy does the float32 files' inversions and eigendecomposition in float32 (LAPACK's ssygvd); this
    // stays in float64, so those features agree only to float32 precision.
    const [rtol, atol] = c.variant === "f4" ? [0, 1e-3] : [1e-9, 0];
    test(`${c.variant}: features equal up to the sign of each dimension, phi equal`, async () => {
      const plda = await variant(c.variant);
      assertClose(plda.phi, f64(c.phi), c.variant === "f4" ? 1e-5 : 1e-12, "phi");
      const got = plda.transform(embeddings, 6);
      const want = f64(c.features);
      const dim = plda.dim;
      for (let j = 0; j < dim; j++) {
        // LAPACK's sign for eigenvector j against ours: from the largest feature of the column.
        let big = 0;
        for (let i = 0; i < 6; i++) if (Math.abs(want[i * dim + j]) > Math.abs(want[big * dim + j])) big = i;
        const sign = Math.sign(want[big * dim + j]) * Math.sign(got[big * dim + j]);
        for (let i = 0; i < 6; i++) got[i * dim + j] *= sign;
      }
      assertClose(got, want, rtol, "features", atol);
    });
  }

  test("missing arrays, wrong shapes and non-positive psi are named errors", async () => {
    const { transform, plda } = await generatePldaFiles();
    const bad = await encodeNpz({ mu: { data: new Float64Array(4), shape: [4] } });
    await assert.rejects(PLDA.fromBytes(transform, bad, ["t.npz", "p.npz"]), /p\.npz: no array 'tr'/);
    const psi = await encodeNpz({
      mu: { data: new Float64Array(128), shape: [128] },
      tr: {
        data: Float64Array.from({ length: 128 * 128 }, (_, i) => (i % 129 === 0 ? 1 : 0)),
        shape: [128, 128],
      },
      psi: { data: new Float64Array(128).fill(1).fill(0, 5, 6), shape: [128] },
    });
    await assert.rejects(
      PLDA.fromBytes(transform, psi, ["t.npz", "p.npz"]),
      /p\.npz: psi must be positive, psi\[5\] is 0/,
    );
    const short = await encodeNpz({
      mu: { data: new Float64Array(3), shape: [3] },
      tr: { data: new Float64Array(9), shape: [3, 3] },
      psi: { data: new Float64Array(3).fill(1), shape: [3] },
    });
    await assert.rejects(PLDA.fromBytes(transform, short, ["t.npz", "p.npz"]), /LDA dimension 128/);
    await assert.rejects(PLDA.fromBytes(plda, plda, ["x.npz", "p.npz"]), /x\.npz: no array 'mean1'/);
  });
});

describe("cluster_vbx as pyannote.audio 4", () => {
  for (const c of units.vbx) {
    test(`n=${c.n}, dim=${c.dim}, ${c.k} initial speakers, Fa=${c.Fa}, Fb=${c.Fb}`, () => {
      const u = draws(c.seed);
      const means = Array.from({ length: 3 }, () => Array.from({ length: c.dim }, () => (u() * 2 - 1) * 4));
      const features: number[] = [];
      for (let t = 0; t < c.n; t++) {
        const m = means[Math.floor(u() * 3)];
        for (let d = 0; d < c.dim; d++) features.push(m[d] + (u() + u() + u() - 1.5) * 2);
      }
      const phi = Float64Array.from({ length: c.dim }, () => 0.5 + u() * 30).sort().reverse();
      const init = Int32Array.from({ length: c.n }, (_, j) => (j < c.k ? j : Math.floor(u() * c.k)));
      const result = clusterVbx(init, Float64Array.from(features), c.n, c.dim, phi, { Fa: c.Fa, Fb: c.Fb });
      assertClose(result.gamma, f64(c.gamma), 1e-9, "responsibilities", 1e-12);
      assertClose(result.pi, Float64Array.from(c.pi), 1e-9, "priors", 1e-12);
    });
  }
});

describe("dense linear algebra", () => {
  test("inverse and the generalised eigenproblem satisfy their definitions", () => {
    const u = draws(5);
    const n = 12;
    const m = Float64Array.from({ length: n * n }, () => u() - 0.5);
    const spd = (shift: number) => {
      const a = new Float64Array(n * n);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          for (let k = 0; k < n; k++) a[i * n + j] += m[k * n + i] * m[k * n + j];
        }
        a[i * n + i] += shift;
      }
      return a;
    };
    const a = spd(0.5), b = spd(2);
    const inv = invert(a, n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < n; k++) s += a[i * n + k] * inv[k * n + j];
        assert.ok(Math.abs(s - (i === j ? 1 : 0)) < 1e-12, `A A^-1 at ${i},${j}: ${s}`);
      }
    }
    const { values, vectors } = generalizedSymmetricEigen(a, b, n);
    for (let c = 0; c < n; c++) {
      if (c > 0) assert.ok(values[c] >= values[c - 1], "ascending");
      for (let i = 0; i < n; i++) {
        let av = 0, bv = 0;
        for (let k = 0; k < n; k++) {
          av += a[i * n + k] * vectors[k * n + c];
          bv += b[i * n + k] * vectors[k * n + c];
        }
        assert.ok(Math.abs(av - values[c] * bv) < 1e-11, `A v = lambda B v for ${c}`);
      }
      for (let c2 = 0; c2 < n; c2++) {
        let s = 0;
        for (let i = 0; i < n; i++) {
          for (let k = 0; k < n; k++) s += vectors[i * n + c] * b[i * n + k] * vectors[k * n + c2];
        }
        assert.ok(Math.abs(s - (c === c2 ? 1 : 0)) < 1e-11, `V^T B V at ${c},${c2}`);
      }
    }
    assert.throws(() => invert(new Float64Array(4), 2), /singular/);
    assert.throws(() => generalizedSymmetricEigen(a, new Float64Array(n * n), n), /not positive definite/);
  });
});

describe(".npy and .npz files written by numpy", () => {
  const a = f64(units.npy.a);
  test("C and Fortran order, big-endian, format 2.0, 0-d and empty arrays", () => {
    for (const name of ["c_f8.npy", "big_endian_f8.npy", "v2_f8.npy"]) {
      const got = readNpy(npyFile(name), name);
      assert.equal(got.dtype, "float64");
      assert.deepEqual(got.shape, [3, 4]);
      assert.deepEqual(Array.from(got.data), Array.from(a), name);
    }
    const fortran = readNpy(npyFile("fortran_f4.npy"), "fortran_f4.npy");
    assert.equal(fortran.dtype, "float32");
    assert.deepEqual(Array.from(fortran.data), Array.from(Float32Array.from(a)));
    assert.deepEqual(readNpy(npyFile("scalar_f8.npy"), "s").shape, []);
    assert.deepEqual(Array.from(readNpy(npyFile("scalar_f8.npy"), "s").data), [2.5]);
    const empty = readNpy(npyFile("empty_f4.npy"), "e");
    assert.deepEqual([empty.shape, empty.data.length], [[0, 3], 0]);
  });

  test("object arrays (pickles) and integer arrays are refused by name", () => {
    assert.throws(
      () => readNpy(npyFile("object.npy"), "object.npy"),
      /object\.npy: object arrays \(pickled Python objects\) are refused/,
    );
    assert.throws(
      () => readNpy(npyFile("int64.npy"), "int64.npy"),
      /int64\.npy: dtype '<i8' is not supported/,
    );
  });

  for (const name of ["stored.npz", "compressed.npz"]) {
    test(`np.${name === "stored.npz" ? "savez" : "savez_compressed"} archive`, async () => {
      const npz = new NpzFile(npyFile(name), name);
      assert.deepEqual(npz.keys, ["first", "second"]);
      assert.deepEqual(Array.from((await npz.get("first", [3, -1])).data), Array.from(a));
      assert.deepEqual(
        Array.from((await npz.get("second", [4])).data),
        Array.from(Float32Array.from(a.subarray(0, 4))),
      );
      await assert.rejects(
        npz.get("second", [5]),
        new RegExp(`${name.replace(".", "\\.")}: array 'second' has shape \\(4\\), expected \\(5\\)`),
      );
      await assert.rejects(npz.get("third"), /no array 'third' \(it holds first, second\)/);
    });
  }
});
