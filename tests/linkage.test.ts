// centroidLinkage (csrc/linkage.cpp) against its two oracles (tests/helpers/scipy_linkage.ts): bit for bit
// against the same algorithm without its ball tree, on inputs chosen to catch a pruning mistake (ties,
// duplicates, every dimension class, offsets and scales that stress the float32 stages); and against
// SciPy's own quadratic algorithm on a long generated conversation, where both must build the same tree.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { centroidLinkage, fcluster } from "../lib/diarization/linkage.ts";
import { clusterEmbeddings, DIARIZATION_31_CLUSTERING } from "../lib/diarization/clustering.ts";
import { WeSpeakerError } from "../lib/errors.ts";
import { Rng } from "../scripts/generate_weights.ts";
import { activeUnitRows, conversationEmbeddings } from "./helpers/conversation_embeddings.ts";
import { bruteForceCentroidLinkage, scipyCentroidLinkage } from "./helpers/scipy_linkage.ts";

function gaussian(n: number, dim: number, seed: number, scale = 1, offset = 0): Float64Array {
  const rng = new Rng(seed, "linkage test");
  return Float64Array.from({ length: n * dim }, () => offset + scale * rng.normal());
}

/** `groups` blobs of `per` points each, shuffled: close pairs inside a blob, far ones across. */
function blobs(groups: number, per: number, dim: number, seed: number, spread: number): Float64Array {
  const rng = new Rng(seed, "linkage blobs");
  const centers = gaussian(groups, dim, seed + 1);
  const rows: number[][] = [];
  for (let g = 0; g < groups; g++) {
    for (let i = 0; i < per; i++) {
      rows.push(Array.from({ length: dim }, (_, d) => centers[g * dim + d] + spread * rng.normal()));
    }
  }
  for (let i = rows.length - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [rows[i], rows[j]] = [rows[j], rows[i]];
  }
  return Float64Array.from(rows.flat());
}

function sameBits(got: Float64Array, want: Float64Array, what: string): void {
  assert.equal(got.length, want.length, what);
  for (let i = 0; i < got.length; i++) {
    if (!Object.is(got[i], want[i])) {
      assert.fail(`${what}: row ${i >> 2} column ${i & 3} is ${got[i]}, the scan gives ${want[i]}`);
    }
  }
}

describe("centroidLinkage: the ball tree skips nothing the scan would find", () => {
  const rng = new Rng(3, "linkage grid");
  const cases: [string, Float64Array, number][] = [
    ["isotropic noise, 300 x 16", gaussian(300, 16, 1), 16],
    ["blobs, 400 x 256 (a projected dimension, float32 checks on)", blobs(8, 50, 256, 2, 0.2), 256],
    ["blobs, 250 x 300 (dim not a multiple of the vector width)", blobs(5, 50, 300, 3, 0.3), 300],
    ["a line, 200 x 1 (every gap tied)", Float64Array.from({ length: 200 }, (_, i) => i), 1],
    [
      "an integer grid, 6 x 6 x 6 (ties everywhere)",
      Float64Array.from({ length: 216 * 3 }, (_, i) => Math.floor(i / 3 / 6 ** (i % 3)) % 6),
      3,
    ],
    [
      "duplicates: 40 points 8 times over (zero-distance ties)",
      (() => {
        const base = gaussian(40, 24, 4);
        const rows = Array.from({ length: 320 }, () => Math.floor(rng.uniform() * 40));
        return Float64Array.from(rows.flatMap((r) => Array.from(base.subarray(r * 24, r * 24 + 24))));
      })(),
      24,
    ],
    [
      "tiny spread far from the origin (1e6 + 1e-3 noise), 200 x 40",
      blobs(4, 50, 40, 5, 1).map((v) => 1e6 + 1e-3 * v),
      40,
    ],
    ["tiny scale (1e-9), 200 x 40", blobs(4, 50, 40, 6, 0.5).map((v) => 1e-9 * v), 40],
    ["two points", Float64Array.of(0, 1, 3, 5), 2],
  ];
  for (const [name, points, dim] of cases) {
    test(name, () => {
      const n = points.length / dim;
      sameBits(centroidLinkage(points, n, dim), bruteForceCentroidLinkage(points, n, dim), name);
    });
  }

  test("10 minutes of generated conversation embeddings (256-d, unit length)", () => {
    const { points, n } = activeUnitRows(conversationEmbeddings(600));
    sameBits(centroidLinkage(points, n, 256), bruteForceCentroidLinkage(points, n, 256), "conversation");
  });
});

describe("centroidLinkage against SciPy's algorithm on a long input", () => {
  test("30 minutes of conversation: the same merges, heights within 1e-14, the same labels", {
    timeout: 600_000,
  }, () => {
    const { points, n } = activeUnitRows(conversationEmbeddings(1800));
    assert.ok(n > 4000, `${n} points`);
    const ours = centroidLinkage(points, n, 256);
    const scipy = scipyCentroidLinkage(points, n, 256);
    let worst = 0;
    for (let r = 0; r < n - 1; r++) {
      const at = `row ${r}`;
      assert.deepEqual([ours[4 * r], ours[4 * r + 1], ours[4 * r + 3]], [
        scipy[4 * r],
        scipy[4 * r + 1],
        scipy[4 * r + 3],
      ], at);
      worst = Math.max(worst, Math.abs(ours[4 * r + 2] - scipy[4 * r + 2]) / scipy[4 * r + 2]);
    }
    // Observed: 1.3e-15.
    assert.ok(worst <= 1e-14, `heights differ by ${worst}`);
    const t = DIARIZATION_31_CLUSTERING.threshold;
    assert.deepEqual([...fcluster(ours, n, t)], [...fcluster(scipy, n, t)]);
  });
});

describe("centroidLinkage: progress and errors", () => {
  test("progress counts up to 2n - 1 steps; clusterEmbeddings passes it on", () => {
    const c = conversationEmbeddings(240);
    const { points, n } = activeUnitRows(c);
    const seen: [number, number][] = [];
    centroidLinkage(points, n, 256, { onProgress: (done, total) => seen.push([done, total]) });
    assert.deepEqual(seen[0], [0, 2 * n - 1]);
    assert.deepEqual(seen.at(-1), [2 * n - 1, 2 * n - 1]);
    seen.forEach(([done], i) => i > 0 && assert.ok(done > seen[i - 1][0] || done === 2 * n - 1));
    const fromClustering: number[] = [];
    clusterEmbeddings(c.embeddings, c.active, c.numChunks, 3, 256, {
      onProgress: (done) => fromClustering.push(done),
    });
    assert.deepEqual(fromClustering, seen.map(([done]) => done));
  });

  test("distances that overflow float64 are an invalid-argument error, not a NaN tree", () => {
    assert.throws(() => centroidLinkage(Float64Array.of(1e300, -1e300, 0), 3, 1), (e: unknown) => {
      assert.ok(e instanceof WeSpeakerError);
      assert.equal(e.code, "invalid-argument");
      assert.match(e.message, /overflows/);
      return true;
    });
  });
});
