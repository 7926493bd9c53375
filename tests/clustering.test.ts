import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { centroidLinkage, fcluster } from "../lib/diarization/linkage.ts";
import {
  agglomerativeCluster,
  clusterEmbeddings,
  DIARIZATION_31_CLUSTERING,
} from "../lib/diarization/clustering.ts";
import { normalizeRowsF32 } from "../lib/diarization/numpy_ops.ts";
import { WeSpeakerError } from "../lib/errors.ts";

// Goldens from scripts/reference/make_clustering_goldens.py (scipy 1.17.1, numpy 2.4.6). Our linkage takes
// distances between centroids where SciPy updates them by the Lance-Williams formula: heights agree to a
// few ulps (the largest relative difference over all these goldens is 2.1e-15), the trees are identical.
interface Tree {
  children: number[];
  heights: number[];
  sizes: number[];
}
interface LinkageCase extends Tree {
  name: string;
  n: number;
  dim: number;
  points: number[];
  cuts: { t: number; labels: number[] }[];
}
interface ClusterCase extends Partial<Tree> {
  name: string;
  n: number;
  dim: number;
  scale: number;
  q: number[];
  normalized?: number[];
  runs: {
    name: string;
    options: {
      minClusters: number;
      maxClusters: number;
      numClusters?: number;
      threshold: number;
      minClusterSize: number;
    };
    labels: number[];
    thresholdLabels?: number[];
  }[];
}
interface PipelineCase {
  name: string;
  numChunks: number;
  numSpeakers: number;
  dim: number;
  scale: number;
  q: number[];
  active: number[];
  runs: {
    name: string;
    options: Record<string, number | string>;
    hardClusters: number[];
    centroids: number[];
    numClusters: number;
  }[];
}

function load<T>(name: string): T[] {
  const url = new URL(`./fixtures/clustering/${name}.json`, import.meta.url);
  return (JSON.parse(readFileSync(fileURLToPath(url), "utf8")) as { cases: T[] }).cases;
}

const dequantize = (q: number[], scale: number) => Float32Array.from(q, (v) => v * scale);

/** Heights may differ from SciPy's by rounding; anything beyond this would be a different computation. */
const HEIGHT_TOLERANCE = 1e-14;

/**
 * Compares a linkage matrix with scipy's: the same merges (children, sizes) in the same order, heights
 * within {@link HEIGHT_TOLERANCE} relative. Returns the largest relative height difference.
 */
function assertTree(z: Float64Array, expected: Tree): number {
  const rows = expected.sizes.length;
  assert.equal(z.length, rows * 4);
  let worst = 0;
  for (let r = 0; r < rows; r++) {
    const at = `row ${r}`;
    assert.deepEqual([z[4 * r], z[4 * r + 1]], expected.children.slice(2 * r, 2 * r + 2), at);
    assert.equal(z[4 * r + 3], expected.sizes[r], at);
    const want = expected.heights[r];
    const rel = Math.abs(z[4 * r + 2] - want) / Math.max(Math.abs(want), 1e-300);
    assert.ok(rel <= HEIGHT_TOLERANCE, `${at}: height ${z[4 * r + 2]} vs ${want}`);
    worst = Math.max(worst, rel);
  }
  return worst;
}

/** The golden tree as a linkage matrix. */
function goldenZ(t: Tree): Float64Array {
  return Float64Array.from(
    t.sizes.flatMap((size, r) => [t.children[2 * r], t.children[2 * r + 1], t.heights[r], size]),
  );
}

/**
 * The two golden cuts that sit exactly on a merge height whose last bit differs: there the cut is decided
 * by that bit. In the grid, SciPy's Lance-Williams update gives 1.5000000000000002 for merges whose
 * centroids are exactly 1.5 apart (ours: 1.5), so a cut at 1.5 keeps them apart in SciPy's tree and merges
 * them in ours; in the blobs, the cut was placed on SciPy's height 0.6683703454188034, ours is one ulp
 * above. Both are checked on SciPy's own tree (that is fcluster's test); everything else on ours.
 */
const ON_SCIPYS_LAST_BIT = new Set([
  "integer grid (many exact ties) at 1.5",
  "overlapping blobs at 0.6683703454188034",
]);

function assertInvalid(fn: () => unknown, ...fragments: string[]) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof WeSpeakerError, `expected WeSpeakerError, got ${e}`);
    assert.equal(e.code, "invalid-argument");
    for (const f of fragments) assert.ok(e.message.includes(f), `"${e.message}" should contain "${f}"`);
    return true;
  });
}

describe("centroidLinkage and fcluster vs scipy", () => {
  let worst = 0;
  for (const c of load<LinkageCase>("linkage")) {
    test(c.name, () => {
      const z = centroidLinkage(Float64Array.from(c.points), c.n, c.dim);
      worst = Math.max(worst, assertTree(z, c));
      for (const cut of c.cuts) {
        const tree = ON_SCIPYS_LAST_BIT.has(`${c.name} at ${cut.t}`) ? goldenZ(c) : z;
        assert.deepEqual([...fcluster(tree, c.n, cut.t)], cut.labels, `t=${cut.t}`);
      }
    });
  }
  test("largest height difference", () => {
    // Observed: 2.1e-15 (a few ulps); single points' distances are the same bits as SciPy's.
    assert.ok(worst <= HEIGHT_TOLERANCE, String(worst));
  });
});

describe("agglomerativeCluster vs pyannote's AgglomerativeClustering.cluster", () => {
  for (const c of load<ClusterCase>("cluster")) {
    const embeddings = dequantize(c.q, c.scale);
    test(c.name, () => {
      if (c.normalized) {
        assert.deepEqual(normalizeRowsF32(embeddings, c.n, c.dim).rows, Float32Array.from(c.normalized));
      }
      let z: Float64Array | undefined;
      if (c.n > 1) {
        z = centroidLinkage(Float64Array.from(normalizeRowsF32(embeddings, c.n, c.dim).rows), c.n, c.dim);
        assertTree(z, c as Tree);
      }
      for (const run of c.runs) {
        if (z && run.thresholdLabels) {
          const tree = ON_SCIPYS_LAST_BIT.has(`${c.name} at ${run.options.threshold}`)
            ? goldenZ(c as Tree)
            : z;
          assert.deepEqual([...fcluster(tree, c.n, run.options.threshold)], run.thresholdLabels, run.name);
        }
        // pyannote's labels: identical in every run, that one included (its re-cut does not use that merge).
        assert.deepEqual(
          [...agglomerativeCluster(embeddings, c.n, c.dim, run.options)],
          run.labels,
          run.name,
        );
      }
    });
  }
});

describe("clusterEmbeddings vs pyannote's BaseClustering.__call__", () => {
  for (const c of load<PipelineCase>("pipeline")) {
    const embeddings = dequantize(c.q, c.scale);
    // Inactive rows are never read: poison them to prove it.
    c.active.forEach((a, p) => a === 0 && embeddings.fill(NaN, p * c.dim, (p + 1) * c.dim));
    for (const run of c.runs) {
      test(`${c.name}, ${run.name}`, () => {
        const options = Object.fromEntries(Object.entries(run.options).map(([k, v]) => [k, Number(v)]));
        const out = clusterEmbeddings(
          embeddings,
          Uint8Array.from(c.active),
          c.numChunks,
          c.numSpeakers,
          c.dim,
          options,
        );
        assert.deepEqual([...out.hardClusters], run.hardClusters);
        assert.equal(out.numClusters, run.numClusters);
        assert.equal(out.centroids.length, run.centroids.length);
        // Observed: bit-identical float32 centroids; 1e-6 is the contract.
        let worst = 0;
        out.centroids.forEach((
          v,
          i,
        ) => (worst = Math.max(worst, Math.abs(v - Math.fround(run.centroids[i])))));
        assert.ok(worst <= 1e-6, `centroid max abs difference ${worst}`);
        assert.equal(worst, 0);
      });
    }
  }
});

describe("clustering edge cases", () => {
  const blob = (n: number, dim: number) =>
    Float32Array.from({ length: n * dim }, (_, i) => 1 + Math.sin(i * 12.9898) * 0.01 * (i % 7));

  test("defaults are the speaker-diarization-3.1 hyper-parameters", () => {
    assert.deepEqual(DIARIZATION_31_CLUSTERING, { threshold: 0.7045654963945799, minClusterSize: 12 });
  });

  test("no active entry gives zero clusters", () => {
    const out = clusterEmbeddings(new Float32Array(6 * 4).fill(NaN), new Uint8Array(6), 2, 3, 4);
    assert.deepEqual([...out.hardClusters], [-2, -2, -2, -2, -2, -2]);
    assert.equal(out.numClusters, 0);
    assert.equal(out.centroids.length, 0);
  });

  test("numClusters larger than the number of embeddings is capped to it", () => {
    const run = (numClusters: number) =>
      clusterEmbeddings(blob(5, 4), new Uint8Array(5).fill(1), 1, 5, 4, { numClusters });
    assert.deepEqual(run(10), run(5));
    // The re-cut only stops after a merge, so n clusters out of n points is out of reach; pyannote (via the
    // reference script's port) also gives these labels.
    assert.deepEqual([...run(5).hardClusters], [2, 0, 1, 3, 2]);
    assert.equal(run(5).numClusters, 4);
  });

  test("fcluster with a threshold above every height gives one cluster", () => {
    const z = centroidLinkage(Float64Array.of(0, 1, 5, 9, 2), 5, 1);
    assert.deepEqual([...fcluster(z, 5, 100)], [1, 1, 1, 1, 1]);
    assert.deepEqual([...fcluster(z, 5, -1)].sort(), [1, 2, 3, 4, 5]);
  });

  test("bad inputs are rejected with the offending field", () => {
    const active = Uint8Array.of(1, 1, 0, 1);
    const good = blob(4, 3);
    assertInvalid(() => clusterEmbeddings(good.subarray(1), active, 2, 2, 3), "embeddings has 11 values");
    assertInvalid(() => clusterEmbeddings(good, active.subarray(1), 2, 2, 3), "active has 3 entries");
    const nan = good.slice();
    nan[3 * 3 + 1] = NaN;
    assertInvalid(() => clusterEmbeddings(nan, active, 2, 2, 3), "chunk 1 speaker 1", "NaN");
    const zero = good.slice();
    zero.fill(0, 3, 6);
    assertInvalid(() => clusterEmbeddings(zero, active, 2, 2, 3), "chunk 0 speaker 1", "zero");
    assertInvalid(
      () => clusterEmbeddings(good, active, 2, 2, 3, { minClusters: 3, maxClusters: 2 }),
      "minClusters=3 and maxClusters=2",
    );
    assertInvalid(() => clusterEmbeddings(good, active, 2, 2, 3, { numClusters: 0 }), "numClusters");
    assertInvalid(() => clusterEmbeddings(good, active, 2, 2, 3, { maxClusters: 1.5 }), "maxClusters");
    assertInvalid(() => clusterEmbeddings(good, active, 2, 2, 3, { threshold: NaN }), "threshold");
    const options = { minClusters: 1, maxClusters: 4, threshold: 0.7, minClusterSize: 12 };
    assertInvalid(() => agglomerativeCluster(good, 3, 3, options), "expected n * dim");
    assertInvalid(
      () => agglomerativeCluster(good, 4, 3, { ...options, minClusterSize: 0 }),
      "minClusterSize",
    );
    assertInvalid(() => centroidLinkage(Float64Array.of(1, 2), 1, 2), "n must be");
    assertInvalid(() => centroidLinkage(Float64Array.of(1, Infinity), 2, 1), "point 1 coordinate 0");
    assertInvalid(() => fcluster(Float64Array.of(0, 0, 1, 2), 2, 1), "row 0 column 1");
    assertInvalid(() => fcluster(Float64Array.of(0, 1, 1), 2, 1), "expected (n - 1) * 4");
  });
});
