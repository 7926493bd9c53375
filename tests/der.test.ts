// Diarization error rate: hand-computed cases, pyannote.metrics goldens
// (scripts/reference/make_der_goldens.py), the assignment solver against SciPy and brute force, and
// the `der` CLI command.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { readFileSync } from "node:fs";
import { DERAccumulator, type DERComponents, diarizationErrorRate, errorRate } from "../lib/formats/der.ts";
import { evaluateCorpus } from "../lib/formats/der_report.ts";
import { WeSpeakerError } from "../lib/errors.ts";
import { linearSumAssignment } from "../lib/math/hungarian.ts";
import { parseRTTM, parseUEM, type SpeakerSegment } from "../lib/formats/rttm.ts";
import { runCli } from "./helpers/runtime.ts";

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`./fixtures/der/${name}`, import.meta.url), "utf8"));
const speech = fileURLToPath(new URL("../../shared/data/speech/", import.meta.url));

const seg = (speaker: string, start: number, end: number): SpeakerSegment => ({ speaker, start, end });
const KEYS = ["total", "correct", "missedDetection", "falseAlarm", "confusion"] as const;

function assertComponents(
  actual: DERComponents & { der: number },
  expected: Record<string, number>,
  what = "",
) {
  for (const key of [...KEYS, "der"] as const) {
    const scale = Math.max(Math.abs(expected[key]), 1e-12);
    assert.ok(
      Math.abs(actual[key] - expected[key]) <= 1e-9 * scale,
      `${what} ${key}: ${actual[key]} vs ${expected[key]}`,
    );
  }
}

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe("linearSumAssignment", () => {
  test("returns SciPy's assignment on 150 tie-heavy matrices", () => {
    for (const c of fixture("lsap.json")) {
      const { rows, cols } = linearSumAssignment(c.cost, { maximize: c.maximize });
      assert.deepEqual({ rows, cols }, { rows: c.rows, cols: c.cols }, JSON.stringify(c.cost));
    }
  });

  test("is optimal against brute force on random rectangular matrices", () => {
    const next = rng(3);
    const best = (cost: number[][], sign: number): number => {
      // Exhaustive search over injective maps from the shorter side into the longer one.
      const wide = cost.length <= cost[0].length ? cost : cost[0].map((_, j) => cost.map((row) => row[j]));
      let optimum = Infinity;
      const used = new Array(wide[0].length).fill(false);
      const walk = (i: number, sum: number) => {
        if (i === wide.length) return void (optimum = Math.min(optimum, sign * sum));
        for (let j = 0; j < used.length; j++) {
          if (used[j]) continue;
          used[j] = true;
          walk(i + 1, sum + wide[i][j]);
          used[j] = false;
        }
      };
      walk(0, 0);
      return sign * optimum;
    };
    for (let k = 0; k < 300; k++) {
      const r = 1 + Math.floor(next() * 6), c = 1 + Math.floor(next() * 6);
      const cost = Array.from(
        { length: r },
        () => Array.from({ length: c }, () => Math.round(next() * 20) / 4),
      );
      const maximize = k % 2 === 1;
      const { rows, cols } = linearSumAssignment(cost, { maximize });
      assert.equal(rows.length, Math.min(r, c));
      assert.equal(new Set(rows).size, rows.length);
      assert.equal(new Set(cols).size, cols.length);
      assert.deepEqual(rows, [...rows].sort((a, b) => a - b));
      const total = rows.reduce((s, i, k) => s + cost[i][cols[k]], 0);
      assert.equal(total, best(cost, maximize ? -1 : 1), JSON.stringify(cost));
    }
  });

  test("handles empty matrices and rejects ragged or non-finite ones", () => {
    assert.deepEqual(linearSumAssignment([]), { rows: [], cols: [] });
    assert.deepEqual(linearSumAssignment([[], []]), { rows: [], cols: [] });
    assert.throws(() => linearSumAssignment([[1, 2], [3]]), /row 1 has 1 entries/);
    assert.throws(
      () => linearSumAssignment([[1, NaN]]),
      (e) => e instanceof WeSpeakerError && /cost\[0\]\[1\]/.test(e.message),
    );
    assert.throws(() => linearSumAssignment([[Infinity]]), WeSpeakerError);
  });
});

describe("diarizationErrorRate, hand-computed", () => {
  const ab = [seg("A", 0, 10), seg("B", 10, 20)];
  const zero = { total: 0, correct: 0, missedDetection: 0, falseAlarm: 0, confusion: 0 };

  test("a perfect hypothesis (other names) scores 0 and maps the names", () => {
    const r = diarizationErrorRate(ab, [seg("x", 10, 20), seg("y", 0, 10)]);
    assertComponents(r, { ...zero, total: 20, correct: 20, der: 0 });
    assert.deepEqual([...r.mapping].sort(), [["x", "B"], ["y", "A"]]);
  });

  test("an empty hypothesis misses everything", () => {
    const r = diarizationErrorRate(ab, []);
    assertComponents(r, { ...zero, total: 20, missedDetection: 20, der: 1 });
    assert.equal(r.mapping.size, 0);
  });

  test("speech without reference is pure false alarm, DER 1 (0 if nothing on either side)", () => {
    assertComponents(diarizationErrorRate([], [seg("x", 1, 6)]), { ...zero, falseAlarm: 5, der: 1 });
    assertComponents(diarizationErrorRate([], []), { ...zero, der: 0 });
  });

  test("two reference speakers under one hypothesis speaker: the longer is mapped, the rest confused", () => {
    const r = diarizationErrorRate([seg("A", 0, 10), seg("B", 10, 15)], [seg("x", 0, 15)]);
    assertComponents(r, { ...zero, total: 15, correct: 10, confusion: 5, der: 5 / 15 });
    assert.deepEqual([...r.mapping], [["x", "A"]]);
  });

  test("overlapping reference speech counts once per speaker", () => {
    // [0,5]: A|x  [5,10]: A,B|x -> one missed  [10,15]: B|y.
    const r = diarizationErrorRate([seg("A", 0, 10), seg("B", 5, 15)], [seg("x", 0, 10), seg("y", 10, 15)]);
    assertComponents(r, { ...zero, total: 20, correct: 15, missedDetection: 5, der: 0.25 });
    assert.deepEqual([...r.mapping].sort(), [["x", "A"], ["y", "B"]]);
  });

  test("a speaker's own overlapping turns count twice, as in pyannote", () => {
    const r = diarizationErrorRate([seg("A", 0, 10), seg("A", 5, 15)], [seg("x", 0, 15)]);
    assertComponents(r, { ...zero, total: 20, correct: 15, missedDetection: 5, der: 0.25 });
  });

  test("the collar is the total width around each reference boundary", () => {
    const ref = [seg("A", 0, 10)], hyp = [seg("x", 0.2, 10)];
    assertComponents(diarizationErrorRate(ref, hyp), {
      ...zero,
      total: 10,
      correct: 9.8,
      missedDetection: 0.2,
      der: 0.02,
    });
    // 0.25 s either side of 0 and 10 is left out: [0.25, 9.75] remains, fully correct.
    const r = diarizationErrorRate(ref, hyp, { collar: 0.5 });
    assertComponents(r, { ...zero, total: 9.5, correct: 9.5, der: 0 });
    // A collar of 0.3 leaves [0.15, 0.2] missed.
    const s = diarizationErrorRate(ref, hyp, { collar: 0.3 });
    assertComponents(s, { ...zero, total: 9.7, correct: 9.65, missedDetection: 0.05, der: 0.05 / 9.7 });
  });

  test("a UEM restricts the scored region, and speakers without scored time are not mapped", () => {
    const ref = [seg("A", 0, 10)], hyp = [seg("x", 0, 5), seg("y", 5, 10), seg("z", 12, 14)];
    const r = diarizationErrorRate(ref, hyp, { uem: [[0, 5]] });
    assertComponents(r, { ...zero, total: 5, correct: 5, der: 0 });
    assert.deepEqual([...r.mapping], [["x", "A"]]);
    // Without a UEM the extent [0, 14] is scored: z is false alarm.
    assertComponents(diarizationErrorRate(ref, hyp), {
      ...zero,
      total: 10,
      correct: 5,
      confusion: 5,
      falseAlarm: 2,
      der: 0.7,
    });
    // Two regions; [2,8] ∪ [9,20]: x and y share 3 + 1 s with A -> y is mapped.
    const t = diarizationErrorRate(ref, hyp, { uem: [[9, 20], [2, 8]] });
    assertComponents(t, { ...zero, total: 7, correct: 4, confusion: 3, falseAlarm: 2, der: 5 / 7 });
    assert.deepEqual([...t.mapping], [["y", "A"]]);
    assertComponents(diarizationErrorRate(ref, hyp, { uem: [] }), { ...zero, der: 0 });
  });

  test("skipOverlap leaves out reference overlap", () => {
    const ref = [seg("A", 0, 10), seg("B", 5, 15)], hyp = [seg("x", 0, 15)];
    assertComponents(diarizationErrorRate(ref, hyp), {
      ...zero,
      total: 20,
      correct: 10,
      missedDetection: 5,
      confusion: 5,
      der: 0.5,
    });
    const r = diarizationErrorRate(ref, hyp, { skipOverlap: true });
    assertComponents(r, { ...zero, total: 10, correct: 5, confusion: 5, der: 0.5 });
    // With a collar too: [0.5, 4.5] and [10.5, 14.5] remain.
    const s = diarizationErrorRate(ref, hyp, { skipOverlap: true, collar: 1 });
    assertComponents(s, { ...zero, total: 8, correct: 4, confusion: 4, der: 0.5 });
  });

  test("more hypothesis speakers than reference speakers", () => {
    const r = diarizationErrorRate([seg("A", 0, 20)], [seg("x", 0, 10), seg("y", 10, 18), seg("z", 18, 20)]);
    assertComponents(r, { ...zero, total: 20, correct: 10, confusion: 10, der: 0.5 });
    assert.deepEqual([...r.mapping], [["x", "A"]]);
  });

  test("turns of 1 µs or less are ignored, as pyannote's annotations drop them", () => {
    const r = diarizationErrorRate([seg("A", 0, 10), seg("B", 3, 3 + 9e-7)], [
      seg("x", 0, 10),
      seg("y", 4, 4),
    ]);
    assertComponents(r, { ...zero, total: 10, correct: 10, der: 0 });
  });

  test("bad input is rejected with WeSpeakerError", () => {
    const bad = (fn: () => unknown, pattern: RegExp) =>
      assert.throws(
        fn,
        (e) => e instanceof WeSpeakerError && e.code === "invalid-argument" && pattern.test(e.message),
      );
    bad(() => diarizationErrorRate([seg("A", 0, NaN)], []), /reference segment 0/);
    bad(() => diarizationErrorRate([], [seg("x", 0, 1), seg("y", 2, 1)]), /hypothesis segment 1/);
    bad(() => diarizationErrorRate(ab, ab, { collar: -1 }), /collar/);
    bad(() => diarizationErrorRate(ab, ab, { collar: NaN }), /collar/);
    bad(() => diarizationErrorRate(ab, ab, { uem: [[0, 1], [5, 4]] }), /UEM region 1/);
  });

  test("DERAccumulator sums components and weights files by reference speech", () => {
    const corpus = new DERAccumulator();
    assertComponents(corpus.components, { ...zero, der: 0 });
    corpus.add(diarizationErrorRate(ab, ab));
    corpus.add(diarizationErrorRate([seg("A", 0, 5)], []));
    assert.equal(corpus.files, 2);
    assertComponents(corpus.components, { ...zero, total: 25, correct: 20, missedDetection: 5, der: 0.2 });
    assert.equal(errorRate({ ...zero, falseAlarm: 1 }), 1);
  });

  test("a 1-hour file with 2000 turns per side: consistent components, renamed labels score 0", () => {
    const next = rng(11);
    const turns = (names: string[]) =>
      Array.from({ length: 2000 }, (_, i) => {
        const start = i * 1.8 + next() * 0.5;
        return seg(names[Math.floor(next() * names.length)], start, start + 0.5 + next() * 2.5);
      });
    const ref = turns(["A", "B", "C", "D"]), hyp = turns(["0", "1", "2", "3", "4", "5"]);
    const r = diarizationErrorRate(ref, hyp, { collar: 0.5, skipOverlap: true });
    assert.ok(r.total > 1000 && r.der > 0);
    const accounted = r.correct + r.missedDetection + r.confusion;
    assert.ok(Math.abs(accounted - r.total) <= 1e-9 * r.total, `${accounted} vs ${r.total}`);
    const renamed = ref.map((s) => ({ ...s, speaker: `spk_${s.speaker}` }));
    assert.equal(diarizationErrorRate(ref, renamed, { collar: 0.5, skipOverlap: true }).der, 0);
  });
});

describe("diarizationErrorRate against pyannote.metrics 4.2", () => {
  const cases = fixture("goldens.json");

  test(`${cases.length} random RTTM pairs: components, mapping and corpus totals`, () => {
    let files = 0;
    for (const c of cases) {
      const ref = parseRTTM(c.reference), hyp = parseRTTM(c.hypothesis);
      const uem = c.uem === null ? undefined : parseUEM(c.uem);
      const options = { collar: c.collar, skipOverlap: c.skipOverlap };
      const corpus = new DERAccumulator();
      for (const uri of c.uris) {
        const r = diarizationErrorRate(ref.get(uri) ?? [], hyp.get(uri) ?? [], {
          ...options,
          uem: uem?.get(uri),
        });
        const expected = c.files[uri];
        assertComponents(r, expected, `${c.name} ${uri}`);
        assert.deepEqual(Object.fromEntries(r.mapping), expected.mapping, `${c.name} ${uri} mapping`);
        corpus.add(r);
        files++;
      }
      assertComponents(corpus.components, c.accumulated, `${c.name} accumulated`);
      // The corpus helper scores the same files (those missing from the hypothesis are all missed).
      assertComponents(
        evaluateCorpus(ref, hyp, { ...options, uem }).total,
        c.accumulated,
        `${c.name} corpus`,
      );
    }
    assert.ok(files >= 40);
  });
});

describe("der command", () => {
  const scratch = mkdtempSync(join(tmpdir(), "wespeaker-der-"));
  const write = (name: string, text: string) => {
    const path = join(scratch, name);
    writeFileSync(path, text);
    return path;
  };
  const hasData = existsSync(speech);

  test("scores the AMI debug reference against itself as 0, with its UEM", {
    skip: !hasData && "no ../shared/data",
  }, () => {
    const rttm = speech + "ami_debug.test.rttm", uem = speech + "ami_debug.test.uem";
    const r = runCli(["der", rttm, rttm, "--uem", uem, "--json"]);
    assert.equal(r.status, 0, r.stderr);
    const { files, total } = JSON.parse(r.stdout);
    assert.deepEqual(files.map((f: { uri: string }) => f.uri), ["tst00", "tst01"]);
    for (const f of [...files, total]) {
      assert.equal(f.der, 0);
      assert.equal(f.correct, f.total);
    }
    assert.ok(total.total > 60);
    const table = runCli(["der", rttm, rttm, "--uem", uem, "--collar", "0.25", "--skip-overlap"]);
    assert.equal(table.status, 0, table.stderr);
    const lines = table.stdout.trimEnd().split("\n");
    assert.match(lines[0], /^uri\s+DER%\s+miss\s+false alarm\s+confusion\s+total$/);
    assert.deepEqual(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 2)), [["tst00", "0.00"], [
      "tst01",
      "0.00",
    ], ["TOTAL", "0.00"]]);
  });

  test("per-file rows and a corpus total; a file missing from the hypothesis is all missed", () => {
    const ref = write(
      "ref.rttm",
      formatLines("f1", [seg("A", 0, 10), seg("B", 10, 20)]) + formatLines("f2", [seg("A", 0, 4)]),
    );
    const hyp = write("hyp.rttm", formatLines("f1", [seg("x", 0, 15)]));
    const r = runCli(["der", ref, hyp, "--json"]);
    assert.equal(r.status, 0, r.stderr);
    const { files, total } = JSON.parse(r.stdout);
    assert.deepEqual(files[0].mapping, { x: "A" });
    assertComponents(files[0], {
      total: 20,
      correct: 10,
      confusion: 5,
      missedDetection: 5,
      falseAlarm: 0,
      der: 0.5,
    });
    assertComponents(files[1], {
      total: 4,
      correct: 0,
      confusion: 0,
      missedDetection: 4,
      falseAlarm: 0,
      der: 1,
    });
    assertComponents(total, {
      total: 24,
      correct: 10,
      confusion: 5,
      missedDetection: 9,
      falseAlarm: 0,
      der: 14 / 24,
    });
    const table = runCli(["der", ref, hyp]);
    assert.equal(table.status, 0, table.stderr);
    assert.deepEqual(
      table.stdout.trimEnd().split("\n").slice(1).map((l) => l.split(/\s+/)),
      [
        ["f1", "50.00", "5.000", "0.000", "5.000", "20.000"],
        ["f2", "100.00", "4.000", "0.000", "0.000", "4.000"],
        ["TOTAL", "58.33", "9.000", "0.000", "5.000", "24.000"],
      ],
    );
  });

  test("usage errors exit with 2, bad files with 1, each with one line naming the problem", () => {
    const ref = write("ok.rttm", formatLines("f1", [seg("A", 0, 10)]));
    const broken = write("broken.rttm", "SPEAKER f1 1 0.0 abc <NA> <NA> A <NA> <NA>\n");
    const uem = write("other.uem", "g1 1 0 10\n");
    const cases: Array<[string[], number, RegExp]> = [
      [["der", ref], 2, /der takes exactly 2 RTTM files \(REF HYP\), got 1/],
      [["der", ref, ref, "--collar=-1"], 2, /--collar must be a number of seconds >= 0, got '-1'/],
      [["der", ref, ref, "--collar", "-1"], 2, /'--collar' argument is ambiguous.*'--collar=-XYZ'/],
      [["der", ref, ref, "--collar"], 2, /Option '--collar <value>' argument missing/],
      [["der", ref, ref, "--bogus"], 2, /Unknown option '--bogus'.*wespeaker der --help/],
      [["der", ref, broken], 1, /broken\.rttm line 1: duration "abc" is not a non-negative number/],
      [["der", ref, join(scratch, "absent.rttm")], 1, /cannot read .*absent\.rttm/],
      [["der", ref, ref, "--uem", uem], 1, /the UEM has no entry for file "f1"/],
    ];
    for (const [args, status, pattern] of cases) {
      const r = runCli(args);
      assert.equal(r.status, status, `${args.join(" ")}: ${r.stderr}`);
      const lines = r.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], pattern);
    }
  });

  test("help lists the der command", () => {
    const r = runCli(["help"]);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^ {2}der +diarization error rate/m);
    const der = runCli(["der", "--help"]);
    assert.equal(der.status, 0);
    assert.match(der.stdout, /der REF HYP \[--uem U\] \[--collar S\] \[--skip-overlap\] \[--json\]/);
  });
});

function formatLines(uri: string, segments: SpeakerSegment[]): string {
  return segments.map((s) =>
    `SPEAKER ${uri} 1 ${s.start} ${s.end - s.start} <NA> <NA> ${s.speaker} <NA> <NA>\n`
  ).join("");
}
