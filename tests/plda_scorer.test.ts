// PLDA scoring against log-likelihood ratios computed from full multivariate normal densities
// (scripts/reference/make_plda_goldens.py), and as a registry's scorer.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { WeSpeakerError } from "../lib/errors.ts";
import { type PLDAModel, pldaScorer } from "../lib/identity/plda_scorer.ts";
import { SpeakerRegistry } from "../lib/identity/registry.ts";
import { PLDA } from "../lib/diarization/plda.ts";
import { generatePldaFiles } from "../scripts/generate_pipeline.ts";

const golden: {
  psi: number[];
  cases: { enroll: number[][]; test: number[]; target: boolean; llr: number }[];
} = JSON.parse(
  readFileSync(new URL("./fixtures/identity/plda.json", import.meta.url), "utf8"),
);
// The golden vectors are already in PLDA space.
const plda: PLDAModel = { phi: Float64Array.from(golden.psi), transform: (x) => Float64Array.from(x) };
const MODEL = { model: "m", revision: "r" };

describe("PLDA scorer", () => {
  test("the closed form equals the Gaussian densities, for 1 to 5 enrolment clips", () => {
    const scorer = pldaScorer(plda);
    for (const c of golden.cases) {
      const model = scorer.speakerModel(c.enroll.map((e) => Float32Array.from(e)));
      const score = scorer.scoreAll(scorer.query(Float32Array.from(c.test)), model, 1)[0];
      assert.ok(Math.abs(score - c.llr) <= 1e-4 * (1 + Math.abs(c.llr)), `${score} vs ${c.llr}`);
    }
  });

  test("one clip against one clip is symmetric", () => {
    const scorer = pldaScorer(plda);
    const [a, b] = [golden.cases[0].enroll[0], golden.cases[1].test].map((v) => Float32Array.from(v));
    const ab = scorer.scoreAll(scorer.query(b), scorer.speakerModel([a]), 1)[0];
    const ba = scorer.scoreAll(scorer.query(a), scorer.speakerModel([b]), 1)[0];
    assert.ok(Math.abs(ab - ba) < 1e-4, `${ab} vs ${ba}`);
  });

  test("as a registry's scorer: identify and verify by LLR, threshold 0", async () => {
    using registry = SpeakerRegistry.inMemory({ model: MODEL, scorer: pldaScorer(plda) });
    const cases = golden.cases.filter((c) => c.enroll.length === 2);
    await registry.enroll("S", cases[0].enroll.map((e) => Float32Array.from(e)));
    const who = await registry.identify(Float32Array.from(cases[0].test));
    assert.equal(who.scorer, "plda");
    assert.equal(who.threshold, 0);
    assert.ok(Math.abs(who.score - cases[0].llr) < 1e-4);
    assert.equal(who.name, cases[0].llr >= 0 ? "S" : null);
    const v = await registry.verify(Float32Array.from(cases[1].test), { speaker: "S" });
    assert.ok(Math.abs(v.score - cases[1].llr) < 1e-4);
    assert.equal(v.same, cases[1].llr >= 0);
  });

  test("bad models are refused", () => {
    const identity = (x: Float32Array) => Float64Array.from(x);
    assert.throws(() => pldaScorer({ phi: Float64Array.of(1, 0), transform: identity }), WeSpeakerError);
    const scorer = pldaScorer({ phi: Float64Array.of(1, 2), transform: (x) => identity(x).subarray(0, 1) });
    assert.throws(
      () => scorer.query(Float32Array.of(1, 2)),
      /the PLDA transform gave 1 values, its phi has 2/,
    );
  });

  test("community-1's PLDA class plugs in as it is: its transform, then the closed form", async () => {
    const files = await generatePldaFiles();
    const community = await PLDA.fromBytes(files.transform, files.plda);
    const scorer = pldaScorer(community);
    // The same scorer over features transformed beforehand (an identity transform on PLDA space).
    const inSpace = pldaScorer({ phi: community.phi, transform: (x) => Float64Array.from(x) });
    let seed = 3;
    const clip = () =>
      Float32Array.from(
        { length: community.inputDim },
        () => (seed = (seed * 16807) % 2147483647) / 2 ** 31 - 0.5,
      );
    const [a1, a2, b] = [clip(), clip(), clip()];
    const toSpace = (x: Float32Array) => Float32Array.from(community.transform(x, 1));
    const score = scorer.scoreAll(scorer.query(b), scorer.speakerModel([a1, a2]), 1)[0];
    const expected = inSpace.scoreAll(
      inSpace.query(toSpace(b)),
      inSpace.speakerModel([toSpace(a1), toSpace(a2)]),
      1,
    )[0];
    assert.ok(Number.isFinite(score) && Math.abs(score - expected) <= 1e-4 * (1 + Math.abs(expected)));
    // A clip scores higher against a speaker enrolled from itself than against another.
    const self = scorer.scoreAll(scorer.query(a1), scorer.speakerModel([a1]), 1)[0];
    const other = scorer.scoreAll(scorer.query(a1), scorer.speakerModel([b]), 1)[0];
    assert.ok(self > other, `${self} vs ${other}`);
  });
});
