/**
 * Regenerates tests/fixtures/segmentation/golden.json: the log-probabilities that the float64 numpy
 * reference of pyannote's segmentation-3.0 network (scripts/reference/segmentation_ref.py) computes from
 * a random `pytorch_model.bin` (scripts/generate_segmentation.ts, default seed) for four deterministic
 * 10 s waveforms (tests/helpers/segmentation_inputs.ts): speech-like, silent, clipped, DC offset.
 *
 * From the repository root (needs python3 with numpy, or `PYTHON=/path/to/python`; deterministic, about
 * half a minute):
 *
 *     deno run -A scripts/reference/make_segmentation_golden.ts
 *
 * The fixture stores only what a test cannot rebuild: the expected log-probabilities (float32 little-endian
 * `[4, 589, 7]`, base64), with the checkpoint seed and sha256, the inputs' kinds and seeds and the sha256
 * of their samples, and what the reference measured: that the checkpoint's `window_` and `n_` buffers
 * equal asteroid's, the filterbank's sign flips and clamps, the value range and argmax changes of the
 * output, and how far the output moves when the sinc filters, or the whole network, are computed in
 * float32 (the noise floor a float32 implementation should expect).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import process from "node:process";
import { DEFAULT_SEGMENTATION_SEED, generateSegmentationCheckpoint } from "../generate_segmentation.ts";
import {
  SEGMENTATION_SAMPLES,
  type SegmentationInput,
  segmentationWaveform,
} from "../../tests/helpers/segmentation_inputs.ts";

/** The golden batch. */
const INPUTS: SegmentationInput[] = [
  { kind: "speech", seed: 11 },
  { kind: "silence", seed: 12 },
  { kind: "clipped", seed: 13 },
  { kind: "dc-offset", seed: 14 },
];

/** What {@link runSegmentationReference} returns. */
export interface SegmentationReferenceResult {
  /** `[batch, frames, classes]`. */
  shape: [number, number, number];
  /** Float64 log-probabilities, batch-major. */
  logProbs: Float64Array;
  /** The rest of the reference's report (buffers, filters, ranges, variants). */
  report: Record<string, unknown>;
}

/**
 * The Python interpreter to run the reference with (`$PYTHON`, else `python3`), or null when it is
 * missing or has no numpy.
 */
export function referencePython(): string | null {
  const python = process.env.PYTHON ?? "python3";
  const probe = spawnSync(python, ["-c", "import numpy"], { stdio: "ignore" });
  return probe.status === 0 ? python : null;
}

/**
 * Runs scripts/reference/segmentation_ref.py on a checkpoint and a batch of waveforms, through files in
 * a temporary directory.
 *
 * @param python interpreter with numpy
 * @param checkpoint the bytes of a `pytorch_model.bin`
 * @param waveforms the batch, each of `SEGMENTATION_SAMPLES` float32 samples
 * @param variants also measure the float32 noise floors (three forward passes instead of one)
 * @throws {Error} when the reference fails
 */
export function runSegmentationReference(
  python: string,
  checkpoint: Uint8Array,
  waveforms: Float32Array[],
  variants = false,
): SegmentationReferenceResult {
  const dir = mkdtempSync(join(tmpdir(), "wespeaker-segmentation-"));
  try {
    const batch = new Float32Array(waveforms.length * SEGMENTATION_SAMPLES);
    waveforms.forEach((w, i) => batch.set(w, i * SEGMENTATION_SAMPLES));
    const job = {
      checkpoint: join(dir, "pytorch_model.bin"),
      waveforms: join(dir, "waveforms.f32"),
      batch: waveforms.length,
      samples: SEGMENTATION_SAMPLES,
      logProbs: join(dir, "logprobs.f64"),
      variants,
    };
    writeFileSync(job.checkpoint, checkpoint);
    writeFileSync(job.waveforms, new Uint8Array(batch.buffer));
    writeFileSync(join(dir, "job.json"), JSON.stringify(job));
    const script = new URL("./segmentation_ref.py", import.meta.url).pathname;
    const result = spawnSync(python, [script, join(dir, "job.json"), join(dir, "out.json")], {
      encoding: "utf8",
    });
    if (result.status !== 0) {
      throw new Error(
        `segmentation_ref.py failed (status ${result.status}): ${result.stderr}${result.error ?? ""}`,
      );
    }
    const { shape, ...report } = JSON.parse(readFileSync(join(dir, "out.json"), "utf8"));
    const bytes = readFileSync(job.logProbs);
    const logProbs = new Float64Array(bytes.length / 8);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < logProbs.length; i++) logProbs[i] = view.getFloat64(8 * i, true);
    return { shape, logProbs, report };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** sha256 of the float32 little-endian bytes of the waveforms, in order. */
export function waveformsSha256(waveforms: Float32Array[]): string {
  const hash = createHash("sha256");
  for (const w of waveforms) {
    const bytes = new Uint8Array(w.length * 4);
    const view = new DataView(bytes.buffer);
    w.forEach((v, i) => view.setFloat32(4 * i, v, true));
    hash.update(bytes);
  }
  return hash.digest("hex");
}

if (import.meta.main) {
  const python = referencePython();
  if (python === null) {
    console.error("needs python3 with numpy (or PYTHON=/path/to/python)");
    process.exit(1);
  }
  const checkpoint = await generateSegmentationCheckpoint(DEFAULT_SEGMENTATION_SEED);
  const waveforms = INPUTS.map((input) => segmentationWaveform(input));
  const { shape, logProbs, report } = runSegmentationReference(python, checkpoint, waveforms, true);
  const f32 = new Uint8Array(logProbs.length * 4);
  const view = new DataView(f32.buffer);
  logProbs.forEach((v, i) => view.setFloat32(4 * i, v, true));
  const fixture = {
    description:
      "Log-probabilities [batch, frames, 7 powerset classes] of pyannote segmentation-3.0 (PyanNet) " +
      "from the float64 numpy reference scripts/reference/segmentation_ref.py, computed from the raw state dict " +
      "of a random pytorch_model.bin, rounded to float32.",
    regenerate: "deno run -A scripts/reference/make_segmentation_golden.ts",
    rebuild:
      "checkpoint = await generateSegmentationCheckpoint(checkpointSeed) (scripts/generate_segmentation.ts); " +
      "item b = segmentationWaveform(inputs[b]) (tests/helpers/segmentation_inputs.ts), 160000 float32 samples; " +
      "logProbs: base64 of float32 little-endian, batch-major (loadSegmentationGolden decodes it).",
    checkpointSeed: DEFAULT_SEGMENTATION_SEED,
    checkpoint: { sha256: createHash("sha256").update(checkpoint).digest("hex"), bytes: checkpoint.length },
    inputs: INPUTS,
    inputsSha256: waveformsSha256(waveforms),
    shape,
    sanity: report,
    logProbs: Buffer.from(f32).toString("base64"),
  };
  const path = new URL("../../tests/fixtures/segmentation/golden.json", import.meta.url);
  const text = JSON.stringify(fixture, null, 2) + "\n";
  writeFileSync(path, text);
  console.log(JSON.stringify(report, null, 2));
  console.log(`wrote ${path.pathname}: ${text.length} bytes`);
}
