// eval-trials' metrics against scikit-learn / numpy goldens (scripts/reference/make_trials_goldens.py),
// and the trial-list parser's errors.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { WeSpeakerError } from "../lib/errors.ts";
import { evaluateScores, parseTrials } from "../lib/identity/trials.ts";

interface Golden {
  pTargets: number[];
  cases: {
    name: string;
    scores: number[];
    labels: number[];
    expected: {
      targets: number;
      nontargets: number;
      eer: number;
      eerThreshold: number | null;
      minDCF: { pTarget: number; value: number; threshold: number | null; pMiss: number; pFa: number }[];
    };
  }[];
}

const golden: Golden = JSON.parse(
  readFileSync(new URL("./fixtures/identity/trials.json", import.meta.url), "utf8"),
);

const close = (actual: number, expected: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= 1e-12, `${what}: ${actual} vs ${expected}`);

function rejects(fn: () => unknown, pattern: RegExp) {
  assert.throws(
    fn,
    (e: unknown) => e instanceof WeSpeakerError && e.code === "invalid-argument" && pattern.test(e.message),
  );
}

describe("trial metrics", () => {
  for (const c of golden.cases) {
    test(`${c.name}: EER, minDCF and thresholds as scikit-learn's roc_curve gives them`, () => {
      const m = evaluateScores(c.scores, c.labels.map((l) => l === 1), { pTargets: golden.pTargets });
      const e = c.expected;
      assert.equal(m.targets, e.targets);
      assert.equal(m.nontargets, e.nontargets);
      close(m.eer, e.eer, "eer");
      assert.equal(m.eerThreshold, e.eerThreshold ?? Infinity, "eer threshold");
      m.minDCF.forEach((d, k) => {
        const x = e.minDCF[k];
        assert.equal(d.pTarget, x.pTarget);
        close(d.value, x.value, `minDCF(${x.pTarget})`);
        assert.equal(d.threshold, x.threshold ?? Infinity, `minDCF(${x.pTarget}) threshold`);
        close(d.pMiss, x.pMiss, "pMiss");
        close(d.pFa, x.pFa, "pFa");
      });
    });
  }

  test("hand-computed: 2 targets, 2 non-targets, one crossing", () => {
    // Thresholds +inf, 0.9 (t), 0.6 (n), 0.4 (t), 0.1 (n): (Pmiss, Pfa) = (1,0) (.5,0) (.5,.5) (0,.5) (0,1).
    const m = evaluateScores([0.9, 0.6, 0.4, 0.1], [true, false, true, false], { threshold: 0.5 });
    assert.equal(m.eer, 0.5);
    assert.equal(m.eerThreshold, 0.6);
    // p = 0.01: accepting nothing costs 1; the point (0.5, 0) costs 0.5.
    assert.deepEqual(m.minDCF[0], { pTarget: 0.01, value: 0.5, threshold: 0.9, pMiss: 0.5, pFa: 0 });
    assert.deepEqual(m.at, { threshold: 0.5, pMiss: 0.5, pFa: 0.5 });
  });

  test("equal scores move together: a tie of a target and a non-target is one threshold", () => {
    const m = evaluateScores([0.5, 0.5], [true, false]);
    // Points: (1, 0) then (0, 1): the diagonal is crossed half way.
    assert.equal(m.eer, 0.5);
  });

  test("bad inputs are named", () => {
    rejects(() => evaluateScores([0.1, 0.2], [true]), /2 scores but 1 labels/);
    rejects(() => evaluateScores([0.1, NaN], [true, false]), /score 1 is NaN/);
    rejects(() => evaluateScores([0.1, 0.2], [true, true]), /2 target and 0 non-target/);
    rejects(
      () => evaluateScores([0.1, 0.2], [true, false], { pTargets: [0] }),
      /pTarget must be in \(0, 1\)/,
    );
    rejects(
      () => evaluateScores([0.1, 0.2], [true, false], { threshold: Infinity }),
      /threshold must be finite/,
    );
  });
});

describe("trial lists", () => {
  test("VoxCeleb lines, NIST words, comments and blank lines", () => {
    const text =
      "# VoxCeleb1-O\n1 id10270/a/00001.wav id10270/b/00002.wav\r\n\n0 id10270/a/00001.wav id10300/c/00003.wav\n" +
      "  target x.wav  y.wav  \nNonTarget x.wav z.wav";
    assert.deepEqual(parseTrials(text, "list.txt"), [
      { target: true, enrollment: "id10270/a/00001.wav", test: "id10270/b/00002.wav", line: 2 },
      { target: false, enrollment: "id10270/a/00001.wav", test: "id10300/c/00003.wav", line: 4 },
      { target: true, enrollment: "x.wav", test: "y.wav", line: 5 },
      { target: false, enrollment: "x.wav", test: "z.wav", line: 6 },
    ]);
  });

  test("bad lines name the list and the line", () => {
    rejects(
      () => parseTrials("1 a.wav b.wav\n1 a.wav\n", "list.txt"),
      /^list\.txt line 2: .*this line has 2/,
    );
    rejects(() => parseTrials("1 a b c", "list.txt"), /^list\.txt line 1: .*this line has 4/);
    rejects(
      () => parseTrials("\n\nyes a.wav b.wav", "list.txt"),
      /^list\.txt line 3: label "yes" is not 1, 0, target/,
    );
    rejects(() => parseTrials("# nothing\n\n", "list.txt"), /list\.txt holds no trials/);
  });
});
