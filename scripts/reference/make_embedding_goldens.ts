/**
 * Regenerates tests/fixtures/embeddings.json: golden embeddings of the float64 numpy reference
 * (scripts/reference/resnet_ref.py) on random weights and inputs from scripts/generate_weights.ts.
 *
 * From the repository root (needs python3 with numpy; deterministic, about a minute):
 *
 *     deno run -A scripts/reference/make_embedding_goldens.ts
 *
 * It writes the weights, features and masks to a temporary directory, runs the reference on them,
 * prints how much power the goldens have (cosines between different inputs, and against a wrongly
 * flattened pooling and transposed kernels; the script fails if any is ≥ 0.99) and writes the fixture.
 *
 * How a test rebuilds the inputs of a case from the fixture:
 * - weights: `generateWeights(fixture.weights.seed)` (sha256 recorded in `fixture.weights.sha256`);
 * - features of item b: `syntheticFeatures(case.featureSeeds[b], case.frames)` (frames × 80,
 *   frame-major); with `case.lengths`, only the first `lengths[b]` frames of item b are valid (the rest
 *   is padding with non-zero content that must not affect the result);
 * - masks of item b (when `case.masks`): `syntheticMasks(case.masks.seeds[b], case.masks.numMasks,
 *   case.masks.frames)`, numMasks rows of `masks.frames` weights.
 * - `inputsSha256`: sha256 of the float32 little-endian bytes of every item's features, then every
 *   item's masks (checked by tests/generator.test.ts, so engine differences show up there first);
 * - expected: `normalized[b][s]` and `raw[b][s]` (256 values each; s = 0 only when unweighted).
 */

import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import process from "node:process";
import {
  DEFAULT_WEIGHTS_SEED,
  generateWeights,
  syntheticFeatures,
  syntheticMasks,
} from "../generate_weights.ts";

interface CaseSpec {
  name: string;
  featureSeeds: number[];
  frames: number;
  lengths?: number[];
  masks?: { seeds: number[]; numMasks: number; frames: number };
}

const CASES: CaseSpec[] = [
  { name: "single-0.5s", featureSeeds: [101], frames: 48 },
  { name: "single-1s", featureSeeds: [102], frames: 98 },
  { name: "single-1.4s", featureSeeds: [103], frames: 137 },
  { name: "single-3s", featureSeeds: [104], frames: 298 },
  { name: "single-10s", featureSeeds: [105], frames: 998 },
  { name: "batch-3x3s", featureSeeds: [201, 202, 203], frames: 298 },
  { name: "batch-variable-lengths", featureSeeds: [301, 302, 303], frames: 600, lengths: [600, 421, 97] },
  {
    name: "weighted-3-masks-fbank-rate",
    featureSeeds: [401, 402],
    frames: 298,
    masks: { seeds: [411, 412], numMasks: 3, frames: 298 },
  },
  {
    name: "weighted-2-masks-segmentation-rate",
    featureSeeds: [501],
    frames: 998,
    masks: { seeds: [511], numMasks: 2, frames: 589 },
  },
  {
    name: "weighted-1-mask",
    featureSeeds: [601],
    frames: 137,
    masks: { seeds: [611], numMasks: 1, frames: 137 },
  },
];

function f32Bytes(a: Float32Array): Uint8Array {
  const out = new Uint8Array(a.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < a.length; i++) view.setFloat32(4 * i, a[i], true);
  return out;
}

const root = new URL("../../", import.meta.url);
const dir = mkdtempSync(join(tmpdir(), "wespeaker-goldens-"));
try {
  const seed = DEFAULT_WEIGHTS_SEED;
  const weights = generateWeights(seed);
  const sha256 = createHash("sha256").update(weights).digest("hex");
  const weightsPath = join(dir, "weights.safetensors");
  writeFileSync(weightsPath, weights);

  const inputsSha256: string[] = [];
  const jobCases = CASES.map((c, ci) => {
    const hash = createHash("sha256");
    const features = c.featureSeeds.map((s, b) => {
      const path = join(dir, `case${ci}-item${b}.f32`);
      const bytes = f32Bytes(syntheticFeatures(s, c.frames));
      hash.update(bytes);
      writeFileSync(path, bytes);
      return path;
    });
    const masks = c.masks && {
      numMasks: c.masks.numMasks,
      frames: c.masks.frames,
      files: c.masks.seeds.map((s, b) => {
        const path = join(dir, `case${ci}-item${b}-masks.f32`);
        const bytes = f32Bytes(syntheticMasks(s, c.masks!.numMasks, c.masks!.frames));
        hash.update(bytes);
        writeFileSync(path, bytes);
        return path;
      }),
    };
    inputsSha256.push(hash.digest("hex"));
    return { ...c, features, lengths: c.lengths ?? null, masks: masks ?? null };
  });
  const job = {
    weights: weightsPath,
    cases: jobCases,
    sanity: {
      flattenCases: ["single-3s", "weighted-3-masks-fbank-rate"],
      kernelCases: ["single-1.4s", "single-3s"],
      traceCase: "single-10s",
    },
  };
  const jobPath = join(dir, "job.json");
  const outPath = join(dir, "out.json");
  writeFileSync(jobPath, JSON.stringify(job));

  console.log(`weights seed ${seed}, sha256 ${sha256}, ${weights.length} bytes`);
  const python = process.env.PYTHON ?? "python3";
  const result = spawnSync(
    python,
    [new URL("scripts/reference/resnet_ref.py", root).pathname, jobPath, outPath],
    { stdio: "inherit" },
  );
  if (result.status !== 0) {
    console.error(`resnet_ref.py failed (status ${result.status}${result.error ? `, ${result.error}` : ""})`);
    process.exit(1);
  }
  const out = JSON.parse(readFileSync(outPath, "utf8"));

  const fixture = {
    description: "Golden WeSpeaker ResNet34-LM embeddings from the float64 numpy reference " +
      "(scripts/reference/resnet_ref.py) on seeded random weights and inputs (scripts/generate_weights.ts).",
    regenerate: "deno run -A scripts/reference/make_embedding_goldens.ts",
    inputs:
      "weights = generateWeights(weights.seed); features of item b = syntheticFeatures(featureSeeds[b], " +
      "frames), frames x 80 frame-major; with lengths, item b is its first lengths[b] frames (the rest is " +
      "padding); masks of item b = syntheticMasks(masks.seeds[b], masks.numMasks, masks.frames); expected " +
      "normalized[b][s] and raw[b][s] have 256 values (s = 0 only when unweighted). inputsSha256 = sha256 of " +
      "the float32 LE bytes of every item's features, then every item's masks.",
    weights: { seed, sha256, bytes: weights.length },
    tolerance: {
      normalized: { minCosine: 0.99999, maxAbsDiff: 1e-4 },
      raw: { maxAbsDiffRelativeToMaxAbs: 1e-4 },
    },
    sanity: out.sanity,
    cases: CASES.map((c, i) => {
      if (out.cases[i].name !== c.name) throw new Error(`case order mismatch at ${i}`);
      return {
        ...c,
        inputsSha256: inputsSha256[i],
        normalized: out.cases[i].normalized,
        raw: out.cases[i].raw,
      };
    }),
  };
  const text = compactJson(fixture) + "\n";
  const fixturePath = new URL("tests/fixtures/embeddings.json", root);
  writeFileSync(fixturePath, text);
  console.log(`wrote ${fixturePath.pathname}: ${text.length} bytes`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/** JSON with one line per leaf array of numbers (readable diffs, small file). */
function compactJson(value: unknown, indent = ""): string {
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v === "number" || typeof v === "string")) return JSON.stringify(value);
    const inner = indent + "  ";
    return "[\n" + value.map((v) => inner + compactJson(v, inner)).join(",\n") + "\n" + indent + "]";
  }
  if (value !== null && typeof value === "object") {
    const inner = indent + "  ";
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    return "{\n" + entries.map(([k, v]) =>
      inner + JSON.stringify(k) + ": " + compactJson(v, inner)
    ).join(",\n") +
      "\n" + indent + "}";
  }
  return JSON.stringify(value);
}
