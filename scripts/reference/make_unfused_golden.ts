/**
 * Regenerates tests/fixtures/unfused.json: golden embeddings computed by the float64 numpy reference
 * with separate BatchNorm layers (scripts/reference/resnet_unfused_ref.py) straight from a full-size
 * random PyTorch checkpoint, for the converter's parity test (tests/convert_torch.test.ts).
 *
 * From the repository root (needs python3 with numpy; deterministic, under a minute):
 *
 *     deno run -A scripts/reference/make_unfused_golden.ts
 *
 * How a test rebuilds the inputs from the fixture:
 * - state dict: `generateStateDict(stateDictSeed)` (tests/helpers/torch_writer.ts);
 * - checkpoints: `encodeTorchZip(pyannoteCheckpoint(sd), { root: "pytorch_model" })` and
 *   `encodeTorchZip(wespeakerCheckpoint(sd, stateDictSeed), { root: "avg_model" })`, whose sha256 and
 *   size are recorded (the reference read both, with its own zip and pickle reader);
 * - features of a case: `syntheticFeatures(featureSeed, frames)` (frames × 80, frame-major).
 */

import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import process from "node:process";
import { DEFAULT_BN_EPS } from "../../lib/hub/convert/fuse.ts";
import { syntheticFeatures } from "../generate_weights.ts";
import {
  encodeTorchZip,
  generateStateDict,
  pyannoteCheckpoint,
  STATE_DICT_SEED,
  wespeakerCheckpoint,
} from "../../tests/helpers/torch_writer.ts";

const CASES = [
  { name: "0.6s", featureSeed: 701, frames: 58 },
  { name: "1.5s", featureSeed: 702, frames: 148 },
  { name: "3s", featureSeed: 703, frames: 298 },
];

const root = new URL("../../", import.meta.url);
const dir = mkdtempSync(join(tmpdir(), "wespeaker-unfused-"));
try {
  const sd = generateStateDict(STATE_DICT_SEED);
  const checkpoints = {
    "pytorch_model.bin": await encodeTorchZip(pyannoteCheckpoint(sd), { root: "pytorch_model" }),
    "avg_model.pt": await encodeTorchZip(wespeakerCheckpoint(sd, STATE_DICT_SEED), { root: "avg_model" }),
  };
  const paths = Object.entries(checkpoints).map(([name, bytes]) => {
    writeFileSync(join(dir, name), bytes);
    return join(dir, name);
  });
  const job = {
    checkpoints: paths,
    eps: DEFAULT_BN_EPS,
    cases: CASES.map((c) => {
      const features = syntheticFeatures(c.featureSeed, c.frames);
      const path = join(dir, `${c.name}.f32`);
      writeFileSync(path, new Uint8Array(features.buffer));
      return { name: c.name, frames: c.frames, features: path };
    }),
  };
  const jobPath = join(dir, "job.json");
  const outPath = join(dir, "out.json");
  writeFileSync(jobPath, JSON.stringify(job));
  const python = process.env.PYTHON ?? "python3";
  const script = new URL("scripts/reference/resnet_unfused_ref.py", root).pathname;
  const result = spawnSync(python, [script, jobPath, outPath], { stdio: "inherit" });
  if (result.status !== 0) {
    console.error(
      `resnet_unfused_ref.py failed (status ${result.status}${result.error ? `, ${result.error}` : ""})`,
    );
    process.exit(1);
  }
  const out = JSON.parse(readFileSync(outPath, "utf8"));
  const fixture = {
    description: "Golden WeSpeaker ResNet34-LM embeddings from the float64 numpy reference with separate " +
      "BatchNorm layers (scripts/reference/resnet_unfused_ref.py), computed from a full-size random PyTorch " +
      "checkpoint, for the PyTorch converter (lib/hub/convert/torch.ts).",
    regenerate: "deno run -A scripts/reference/make_unfused_golden.ts",
    inputs: "state dict = generateStateDict(stateDictSeed) (tests/helpers/torch_writer.ts); checkpoints = " +
      "encodeTorchZip(pyannoteCheckpoint(sd), {root: 'pytorch_model'}) and encodeTorchZip(wespeakerCheckpoint(sd, " +
      "stateDictSeed), {root: 'avg_model'}); features = syntheticFeatures(featureSeed, frames), frames x 80.",
    stateDictSeed: STATE_DICT_SEED,
    eps: DEFAULT_BN_EPS,
    checkpoints: Object.fromEntries(
      Object.entries(checkpoints).map(([name, bytes]) => [
        name,
        { sha256: createHash("sha256").update(bytes).digest("hex"), bytes: bytes.length },
      ]),
    ),
    tolerance: {
      normalized: { minCosine: 0.99999, maxAbsDiff: 1e-4 },
      raw: { maxAbsDiffRelativeToMaxAbs: 1e-4 },
    },
    sanity: out.sanity,
    cases: CASES.map((c, i) => ({ ...c, normalized: out.cases[i].normalized, raw: out.cases[i].raw })),
  };
  // One line per array of numbers: readable diffs, small file.
  const text = JSON.stringify(fixture, null, 2).replace(
    /\[\s+(-?[\d.e+-]+(?:,\s+-?[\d.e+-]+)*)\s+\]/g,
    (_, inner: string) => `[${inner.split(/,\s+/).join(", ")}]`,
  ) + "\n";
  const fixturePath = new URL("tests/fixtures/unfused.json", root);
  writeFileSync(fixturePath, text);
  console.log(`wrote ${fixturePath.pathname}: ${text.length} bytes`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
