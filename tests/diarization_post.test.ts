// Frame-level post-processing of speaker-diarization-3.1 against goldens computed with pyannote.core
// and a numpy re-statement of pyannote.audio 3.3.2 (scripts/reference/make_postprocess_goldens.py).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { WeSpeakerError } from "../lib/errors.ts";
import { aggregationGrid } from "../lib/diarization/aggregate.ts";
import { NumpyArgsort, type TieOrder } from "../lib/diarization/argsort.ts";
import { capCount, speakerCount } from "../lib/diarization/count.ts";
import {
  convOutputFrames,
  receptiveField,
  rint,
  SINCNET_KERNEL_SIZES,
  SINCNET_STRIDES,
  SlidingWindow,
} from "../lib/diarization/frames.ts";
import { LOCAL_SPEAKERS, powersetMapping, powersetToMultilabel } from "../lib/diarization/powerset.ts";
import { activeSpeakers, type DiscreteDiarization, reconstruct } from "../lib/diarization/reconstruct.ts";
import { type DiarizationSegment, speakerLabelOrder, toSegments } from "../lib/diarization/segments.ts";

// pyannote's marking of silent local speakers before reconstruction: no cluster (-2).
function withoutSilent(hardClusters: ArrayLike<number>, active: Uint8Array): Int32Array {
  return Int32Array.from(hardClusters, (k, i) => (active[i] ? k : -2));
}

type Row = [number, number, number];

interface Case {
  name: string;
  numChunks: number;
  chunkStep: number;
  maxSpeakers: number | null;
  minDurationOff: number;
  chunks: [number, number][][];
  hardClusters: number[];
  numFrames: number;
  count: string;
  maskedClusters: number[];
  numSpeakers: number;
  discrete: number[][];
  segments: Row[];
  labels: number[];
  exclusiveNumSpeakers: number;
  exclusive: number[][];
  exclusiveSegments: Row[];
  exclusiveLabels: number[];
  x86: Partial<
    Pick<Case, "discrete" | "segments" | "labels" | "exclusive" | "exclusiveSegments" | "exclusiveLabels">
  >;
}

interface BinarizeCase {
  name: string;
  minDurationOff: number;
  numFrames: number;
  numSpeakers: number;
  runs: number[][];
  segments: Row[];
  labels: number[];
}

const fixture = (name: string) =>
  JSON.parse(readFileSync(fileURLToPath(new URL(`./fixtures/postprocess/${name}`, import.meta.url)), "utf8"));

const golden: {
  frames: { start: number; duration: number; step: number };
  framesPerChunk: number;
  chunkDuration: number;
  powerset: number[][];
  cases: Case[];
  binarize: BinarizeCase[];
} = fixture("cases.json");

const sorts: {
  alphabet: string;
  rows: string[];
  generic: (string | number[])[];
  x86: (string | number[])[];
} = fixture("argsort.json");

const FRAMES = receptiveField(SINCNET_KERNEL_SIZES, SINCNET_STRIDES, 16000);

function throwsInvalid(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof WeSpeakerError);
    assert.equal(err.code, "invalid-argument");
    assert.match(err.message, pattern);
    return true;
  });
}

/** Per speaker, flattened [first, last + 1) frame runs of 1s (the fixtures' encoding). */
function runs(d: DiscreteDiarization): number[][] {
  const out: number[][] = [];
  for (let k = 0; k < d.numSpeakers; k++) {
    const edges: number[] = [];
    let prev = 0;
    for (let t = 0; t <= d.numFrames; t++) {
      const v = t < d.numFrames ? d.data[t * d.numSpeakers + k] : 0;
      if (v !== prev) edges.push(t);
      prev = v;
    }
    out.push(edges);
  }
  return out;
}

function fromRuns(r: number[][], numFrames: number, frames: SlidingWindow): DiscreteDiarization {
  const K = r.length;
  const data = new Uint8Array(numFrames * K);
  r.forEach((edges, k) => {
    for (let i = 0; i < edges.length; i += 2) {
      for (let t = edges[i]; t < edges[i + 1]; t++) data[t * K + k] = 1;
    }
  });
  return { data, numFrames, numSpeakers: K, frames };
}

let maxTimeError = 0;

function assertSegments(got: DiarizationSegment[], want: Row[], what: string): void {
  assert.equal(got.length, want.length, `${what}: number of turns`);
  got.forEach((s, i) => {
    const [speaker, start, end] = want[i];
    assert.equal(s.speaker, speaker, `${what}: turn ${i} speaker`);
    maxTimeError = Math.max(maxTimeError, Math.abs(s.start - start), Math.abs(s.end - end));
    assert.ok(Math.abs(s.start - start) <= 1e-9 && Math.abs(s.end - end) <= 1e-9, `${what}: turn ${i} times`);
    assert.equal(s.start, start, `${what}: turn ${i} start, bit for bit`);
    assert.equal(s.end, end, `${what}: turn ${i} end, bit for bit`);
  });
}

/** One-hot-ish log-probabilities for per-chunk (class, run length) pairs. */
function logProbsOf(chunks: [number, number][][], framesPerChunk: number): Float32Array {
  const out = new Float32Array(chunks.length * framesPerChunk * 7).fill(-7.5);
  chunks.forEach((pairs, c) => {
    let f = 0;
    for (const [cls, n] of pairs) {
      for (let i = 0; i < n; i++, f++) out[(c * framesPerChunk + f) * 7 + cls] = -0.25;
    }
    assert.equal(f, framesPerChunk);
  });
  return out;
}

describe("frames", () => {
  test("segmentation-3.0 receptive field and frame count, from the layer lists", () => {
    assert.deepEqual(
      { start: FRAMES.start, duration: FRAMES.duration, step: FRAMES.step },
      { start: 0, duration: 0.0619375, step: 0.016875 },
    );
    assert.deepEqual({ start: FRAMES.start, duration: FRAMES.duration, step: FRAMES.step }, golden.frames);
    assert.equal(convOutputFrames(160000, SINCNET_KERNEL_SIZES, SINCNET_STRIDES), 589);
    assert.equal(convOutputFrames(160000, SINCNET_KERNEL_SIZES, SINCNET_STRIDES), golden.framesPerChunk);
    assert.equal(convOutputFrames(991, SINCNET_KERNEL_SIZES, SINCNET_STRIDES), 1);
    assert.equal(convOutputFrames(991 + 269, SINCNET_KERNEL_SIZES, SINCNET_STRIDES), 1);
    assert.equal(convOutputFrames(991 + 270, SINCNET_KERNEL_SIZES, SINCNET_STRIDES), 2);
    // An even kernel puts the centre before the middle: start < 0 (pyannote's receptive_field.py agrees).
    const even = receptiveField([4, 3], [2, 1], 1000);
    assert.deepEqual([even.start, even.duration, even.step], [-0.0005, 0.008, 0.002]);
  });

  test("bad layer lists and inputs shorter than one receptive field are rejected", () => {
    throwsInvalid(() => receptiveField([], [], 16000), /as many strides/);
    throwsInvalid(() => receptiveField([3, 3], [1], 16000), /as many strides/);
    throwsInvalid(() => receptiveField([3], [0], 16000), /stride 0/);
    throwsInvalid(() => receptiveField([3], [1], 0), /sample rate/);
    throwsInvalid(() => convOutputFrames(990, SINCNET_KERNEL_SIZES, SINCNET_STRIDES), /991 samples/);
    throwsInvalid(() => new SlidingWindow({ start: 0, duration: 0, step: 1 }), /duration/);
  });

  test("rint rounds half to even, as numpy.rint", () => {
    const cases: [number, number][] = [
      [0.5, 0],
      [1.5, 2],
      [2.5, 2],
      [-0.5, -0],
      [-1.5, -2],
      [-2.5, -2],
      [
        2.4999999999999996,
        2,
      ],
      [4503599627370497, 4503599627370497],
      [3.7, 4],
      [-3.2, -3],
    ];
    for (const [x, want] of cases) assert.ok(Object.is(rint(x), want), `rint(${x}) = ${rint(x)}`);
  });

  test("closestFrame and middle follow pyannote.core's arithmetic", () => {
    // Values printed by pyannote.core 6.1.0 for SlidingWindow(0, 991/16000, 270/16000).
    assert.equal(FRAMES.middle(213000), 3594.4059687500003);
    assert.equal(FRAMES.closestFrame(3590 + 0.5 * FRAMES.duration), 212741);
    const grid = aggregationGrid({ start: 0, duration: 10, step: 1 }, 3591, 589, FRAMES);
    assert.equal(grid.numFrames, 213334);
    assert.equal(grid.chunkStartFrames[3590], 212741);
  });
});

describe("powerset", () => {
  test("classes in pyannote's build_mapping order", () => {
    const m = powersetMapping(3, 2);
    const rows = Array.from({ length: 7 }, (_, p) => Array.from(m.subarray(p * 3, p * 3 + 3)));
    assert.deepEqual(rows, [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1]]);
    assert.deepEqual(rows, golden.powerset);
    assert.equal(powersetMapping(4, 3).length / 4, 15);
  });

  test("argmax per frame, first class on ties", () => {
    const logProbs = new Float32Array([
      ...[-9, -9, -9, -9, -9, -9, -0.1], // {1, 2}
      ...[-1, -2, -1, -3, -1, -5, -6], // ties between {}, {1}, {0, 1}: {}
      ...[-Infinity, -3, -3, -2, -2, -Infinity, -Infinity], // ties between {2} and {0, 1}: {2}
      ...[-5, -4, -3, -2, -1, -0.5, -0.6], // {0, 2}
    ]);
    assert.deepEqual(
      Array.from(powersetToMultilabel(logProbs, 2, 2)),
      [0, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0, 1],
    );
  });

  test("NaN scores and wrong sizes are rejected", () => {
    const logProbs = new Float32Array(2 * 7).fill(-1);
    logProbs[7 + 3] = NaN;
    throwsInvalid(() => powersetToMultilabel(logProbs, 1, 2), /NaN score at chunk 1, frame 0, class 3/);
    throwsInvalid(() => powersetToMultilabel(logProbs, 2, 2), /expected 2 x 2 x 7 = 28 scores, got 14/);
    throwsInvalid(() => powersetToMultilabel(logProbs, 0, 2), /positive integers/);
  });
});

describe("numpy argsort tie order", () => {
  const decode = (perm: string | number[]) =>
    typeof perm === "string" ? Array.from(perm, (ch) => sorts.alphabet.indexOf(ch)) : perm;

  for (const order of ["numpy-generic", "numpy-x86-simd"] as TieOrder[]) {
    test(`${order}: ${sorts.rows.length} rows of 2 to 256 small integers, as numpy 2.4.6`, () => {
      const sorter = new NumpyArgsort(order);
      const want = order === "numpy-generic" ? sorts.generic : sorts.x86;
      const keys = new Float64Array(256);
      const out = new Int32Array(256);
      sorts.rows.forEach((row, r) => {
        for (let i = 0; i < row.length; i++) keys[i] = -Number(row[i]);
        sorter.sort(keys, row.length, out);
        assert.deepEqual(Array.from(out.subarray(0, row.length)), decode(want[r]), `row ${r}: ${row}`);
      });
    });
  }

  test("the two orders differ on equal keys from 4 elements on", () => {
    const keys = new Float64Array([-0, -0, -1, -1]);
    const out = new Int32Array(4);
    new NumpyArgsort("numpy-generic").sort(keys, 4, out);
    assert.deepEqual(Array.from(out), [2, 3, 0, 1]);
    new NumpyArgsort("numpy-x86-simd").sort(keys, 4, out);
    assert.deepEqual(Array.from(out), [3, 2, 1, 0]);
  });

  test("the x86 emulation stops at 256 keys; unknown orders are rejected", () => {
    throwsInvalid(
      () => new NumpyArgsort("numpy-x86-simd").sort(new Float64Array(257), 257, new Int32Array(257)),
      /256/,
    );
    throwsInvalid(() => new NumpyArgsort("stable" as TieOrder), /tie order/);
  });
});

describe("speaker count, reconstruction and turns", () => {
  for (const c of golden.cases) {
    test(`${c.name}: ${c.numChunks} chunks, step ${c.chunkStep}, cap ${c.maxSpeakers}, collar ${c.minDurationOff}`, () => {
      const F = golden.framesPerChunk;
      const chunks = { start: 0, duration: golden.chunkDuration, step: c.chunkStep };
      const binarized = powersetToMultilabel(logProbsOf(c.chunks, F), F, c.numChunks);

      const counted = speakerCount(binarized, c.numChunks, F, LOCAL_SPEAKERS, chunks, FRAMES);
      assert.equal(counted.numFrames, c.numFrames);
      assert.equal(Array.from(counted.count).join(""), c.count);
      assert.deepEqual([counted.frames.start, counted.frames.duration, counted.frames.step], [
        0,
        FRAMES.duration,
        FRAMES.step,
      ]);

      const hard = withoutSilent(c.hardClusters, activeSpeakers(binarized, c.numChunks, F, LOCAL_SPEAKERS));
      assert.deepEqual(Array.from(hard), c.maskedClusters);
      const count = capCount(counted.count, c.maxSpeakers ?? Infinity);

      for (const tieOrder of ["numpy-generic", "numpy-x86-simd"] as TieOrder[]) {
        const want = tieOrder === "numpy-generic" ? c : { ...c, ...c.x86 };
        const args = [binarized, c.numChunks, F, LOCAL_SPEAKERS, hard, count, chunks, FRAMES, {
          tieOrder,
        }] as const;

        const discrete = reconstruct(...args);
        assert.equal(discrete.numFrames, c.numFrames);
        assert.equal(discrete.numSpeakers, c.numSpeakers);
        assert.deepEqual(runs(discrete), want.discrete, `${tieOrder}: discrete diarization`);
        const turns = toSegments(discrete, c.minDurationOff);
        assertSegments(turns, want.segments, `${tieOrder}: turns`);
        assert.deepEqual(speakerLabelOrder(turns), want.labels);

        // Exclusive diarization (pyannote 4): the same reconstruction with the count capped at 1.
        const exclusive = reconstruct(
          binarized,
          c.numChunks,
          F,
          LOCAL_SPEAKERS,
          hard,
          capCount(count, 1),
          chunks,
          FRAMES,
          {
            tieOrder,
          },
        );
        assert.equal(exclusive.numSpeakers, c.exclusiveNumSpeakers);
        assert.deepEqual(runs(exclusive), want.exclusive, `${tieOrder}: exclusive diarization`);
        const exclusiveTurns = toSegments(exclusive, c.minDurationOff);
        assertSegments(exclusiveTurns, want.exclusiveSegments, `${tieOrder}: exclusive turns`);
        assert.deepEqual(speakerLabelOrder(exclusiveTurns), want.exclusiveLabels);
      }
    });
  }

  for (const b of golden.binarize) {
    test(`${b.name}: ${b.numSpeakers} speakers sharing turns, collar ${b.minDurationOff}: pyannote's track order`, () => {
      const turns = toSegments(fromRuns(b.runs, b.numFrames, FRAMES), b.minDurationOff);
      assertSegments(turns, b.segments, b.name);
      assert.deepEqual(speakerLabelOrder(turns), b.labels);
    });
  }

  test("turn times match bit for bit", () => {
    assert.equal(maxTimeError, 0);
  });
});

describe("edge cases and bad input", () => {
  const chunks = { start: 0, duration: 10, step: 1 };
  const F = 589;
  const binarized = new Uint8Array(2 * F * 3);
  for (let f = 0; f < F; f++) binarized[f * 3] = 1;
  const grid = aggregationGrid(chunks, 2, F, FRAMES);

  test("a single frame gives no turn (pyannote would fail on it)", () => {
    const d = fromRuns([[0, 1]], 1, FRAMES);
    assert.deepEqual(toSegments(d), []);
  });

  test("a turn running to the end stops at the last frame's middle", () => {
    const d = fromRuns([[1, 4], [2, 3]], 4, FRAMES);
    assert.deepEqual(toSegments(d), [
      { speaker: 0, start: FRAMES.middle(1), end: FRAMES.middle(3) },
      { speaker: 1, start: FRAMES.middle(2), end: FRAMES.middle(3) },
    ]);
  });

  test("collar: gaps shorter than minDurationOff are filled, gaps of exactly that length are not", () => {
    const d = fromRuns([[0, 2, 5, 7, 12, 14]], 16, FRAMES);
    const gap = FRAMES.middle(5) - FRAMES.middle(2);
    assert.equal(toSegments(d, gap).length, 3);
    const merged = toSegments(d, gap + 1e-12);
    assert.deepEqual(merged.map((s) => [s.start, s.end]), [[FRAMES.middle(0), FRAMES.middle(7)], [
      FRAMES.middle(12),
      FRAMES.middle(14),
    ]]);
  });

  test("ties at the cut are settled by the tie order", () => {
    // Clusters 0..3 in one chunk: 2 and 3 equally active, count 1.
    const one = new Uint8Array(F * 3);
    for (let f = 0; f < F; f++) one[f * 3 + 1] = one[f * 3 + 2] = 1;
    const g = aggregationGrid(chunks, 1, F, FRAMES);
    const count = new Uint8Array(g.numFrames).fill(1);
    const hard = Int32Array.from([0, 2, 3]);
    const pick = (tieOrder: TieOrder) => {
      const d = reconstruct(one, 1, F, 3, hard, count, chunks, FRAMES, { tieOrder });
      return Array.from(d.data.subarray(0, 4));
    };
    assert.deepEqual(pick("numpy-generic"), [0, 0, 1, 0]);
    assert.deepEqual(pick("numpy-x86-simd"), [0, 0, 0, 1]);
  });

  test("counts above the number of clusters add idle speakers", () => {
    const count = new Uint8Array(grid.numFrames).fill(3);
    const d = reconstruct(binarized, 2, F, 3, Int32Array.from([0, -2, -2, 0, -2, -2]), count, chunks, FRAMES);
    assert.equal(d.numSpeakers, 3);
    assert.ok(d.data.every((v) => v === 1));
  });

  test("shape and value errors name the problem", () => {
    const count = new Uint8Array(grid.numFrames);
    const hard = Int32Array.from([0, 1, 2, 0, 1, 2]);
    throwsInvalid(
      () => reconstruct(binarized, 2, F, 3, hard, count.subarray(1), chunks, FRAMES),
      /count has/,
    );
    throwsInvalid(
      () => reconstruct(binarized, 2, F, 3, Int32Array.from([0, -1, 2, 0, 1, 2]), count, chunks, FRAMES),
      /hard cluster -1 at chunk 0, speaker 1/,
    );
    throwsInvalid(
      () => reconstruct(binarized, 2, F, 3, new Int32Array(6).fill(-2), count, chunks, FRAMES),
      /no local speaker/,
    );
    throwsInvalid(
      () => reconstruct(binarized, 2, F, 3, hard.subarray(1), count, chunks, FRAMES),
      /5 hard clusters/,
    );
    const bad = binarized.slice();
    bad[F * 3 + 7] = 2;
    throwsInvalid(() => speakerCount(bad, 2, F, 3, chunks, FRAMES), /value 2 at chunk 1, frame 2, speaker 1/);
    throwsInvalid(() => speakerCount(binarized, 3, F, 3, chunks, FRAMES), /expected 3 chunks/);
    throwsInvalid(
      () => speakerCount(binarized, 2, F, 3, { start: 0, duration: 5, step: 1 }, FRAMES),
      /do not fit/,
    );
    throwsInvalid(() => capCount(count, 0), /maxSpeakers/);
    throwsInvalid(() => toSegments(fromRuns([[0, 1]], 2, FRAMES), -1), /minDurationOff/);
  });

  test("one hour of chunks in typed arrays", () => {
    const numChunks = 3591;
    const big = new Uint8Array(numChunks * F * 3);
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    for (let c = 0; c < numChunks; c++) {
      let s = 0;
      for (let f = 0; f < F; f++) {
        if (random() < 0.02) s = Math.floor(random() * 4);
        if (s > 0) big[(c * F + f) * 3 + s - 1] = 1;
      }
    }
    const hard = Int32Array.from({ length: numChunks * 3 }, (_, i) => (i * 7 + (i >> 2)) % 9);
    const counted = speakerCount(big, numChunks, F, 3, chunks, FRAMES);
    assert.equal(counted.numFrames, 213334);
    const masked = withoutSilent(hard, activeSpeakers(big, numChunks, F, 3));
    const d = reconstruct(big, numChunks, F, 3, masked, capCount(counted.count, Infinity), chunks, FRAMES);
    assert.equal(d.numSpeakers, 9);
    for (let t = 0; t < d.numFrames; t++) {
      let active = 0;
      for (let k = 0; k < 9; k++) active += d.data[t * 9 + k];
      assert.equal(active, counted.count[t]);
    }
    const turns = toSegments(d, 0.3);
    assert.ok(turns.length > 1000);
  });
});
