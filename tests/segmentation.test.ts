// pyannote segmentation-3.0 through libwespeaker vs the float64 numpy reference (scripts/reference/
// segmentation_ref.py) on a generated checkpoint in the real pytorch_model.bin format, converted by our
// converter: parity of log-probabilities, the converter's checks, and the native argument checks.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { convertCheckpoint } from "../lib/hub/convert/mod.ts";
import type { WeSpeakerError } from "../lib/errors.ts";
import { SegmentationModel } from "../lib/segmentation.ts";
import { generateSegmentationCheckpoint } from "../scripts/generate_segmentation.ts";
import { loadSegmentationGolden, segmentationWaveform } from "./helpers/segmentation_inputs.ts";

const dir = mkdtempSync(join(tmpdir(), "wespeaker-seg-"));

async function convertedModel(): Promise<{ path: string; checkpoint: Uint8Array }> {
  const golden = loadSegmentationGolden();
  const checkpoint = await generateSegmentationCheckpoint(golden.checkpointSeed);
  const converted = await convertCheckpoint(checkpoint, "pytorch_model.bin");
  const path = join(dir, "segmentation.safetensors");
  writeFileSync(path, converted.safetensors);
  return { path, checkpoint };
}

describe("segmentation-3.0", () => {
  // The issue asks for 1e-4. The sinc filters are computed in float32 as PyTorch computes them (what
  // pyannote runs): against the float64 reference that moves each item by as much as the fixture's
  // "float32Everything" variant, a float32 numpy evaluation with float32 filters (up to 4.0e-5), give or
  // take 1e-5 for our float32 network's own rounding (numpy's float32 network alone moves by up to 4.1e-6,
  // the "float32NetworkFloat64Filters" variant).
  test("log-probs match the float64 reference within float32 filters' rounding, same argmax", async () => {
    const golden = loadSegmentationGolden();
    const variants = (golden.sanity.variants as { maxAbsDiffPerItem: Record<string, number[]> })
      .maxAbsDiffPerItem;
    const { path } = await convertedModel();
    using model = await SegmentationModel.load(path);
    const [batch, frames, classes] = golden.shape;
    assert.equal(SegmentationModel.framesFor(160000), frames);
    const chunks = new Float32Array(batch * 160000);
    golden.inputs.forEach((input, b) => chunks.set(segmentationWaveform(input), b * 160000));
    const out = model.segment(chunks, batch);
    assert.equal(out.length, batch * frames * classes);
    let argmaxDiffers = 0;
    for (let b = 0; b < batch; b++) {
      let maxAbs = 0;
      for (let row = b * frames; row < (b + 1) * frames; row++) {
        let best = 0, bestRef = 0;
        for (let k = 0; k < classes; k++) {
          const i = row * classes + k;
          maxAbs = Math.max(maxAbs, Math.abs(out[i] - golden.logProbs[i]));
          if (out[i] > out[row * classes + best]) best = k;
          if (golden.logProbs[i] > golden.logProbs[row * classes + bestRef]) bestRef = k;
        }
        if (best !== bestRef) argmaxDiffers++;
      }
      const bound = variants.float32Everything[b] + 1e-5;
      assert.ok(maxAbs <= bound, `item ${b}: max abs diff ${maxAbs}, bound ${bound}`);
      console.log(
        `segmentation parity, item ${b}: max abs diff ${maxAbs.toExponential(2)} (bound ${
          bound.toExponential(2)
        })`,
      );
    }
    // A near tie may flip; more than a handful of frames would mean a real discrepancy.
    assert.ok(argmaxDiffers <= 2, `${argmaxDiffers} frames change their most likely class`);
    // Each chunk alone gives its rows of the batched result.
    const single = model.segment(chunks.subarray(160000, 2 * 160000), 1);
    const batched = out.subarray(frames * classes, 2 * frames * classes);
    for (let i = 0; i < single.length; i++) assert.ok(Math.abs(single[i] - batched[i]) < 1e-4);
  });

  test("chunks of other lengths: frames follow the receptive field; too short is an error", async () => {
    const { path } = await convertedModel();
    using model = await SegmentationModel.load(path);
    assert.equal(SegmentationModel.framesFor(991), 1);
    assert.equal(SegmentationModel.framesFor(990), 0);
    // 2 s: 3175 sinc frames → 1058 → 1054 → 351 → 347 → 115.
    assert.equal(SegmentationModel.framesFor(32000), 115);
    assert.equal(model.segment(new Float32Array(2 * 991), 2).length, 2 * 7);
    assert.throws(
      () => model.segment(new Float32Array(990), 1),
      (e: WeSpeakerError) => e.code === "invalid-argument" && /at least 991/.test(e.message),
    );
  });

  test("segmentAsync: the same numbers off the JavaScript thread; close while it runs", async () => {
    const { path } = await convertedModel();
    const model = await SegmentationModel.load(path);
    const chunks = new Float32Array(4 * 160000);
    [0, 1, 2, 3].forEach((b) =>
      chunks.set(segmentationWaveform({ kind: "speech", seed: 11 + b }), b * 160000)
    );
    const expected = model.segment(chunks, 4);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const pending = model.segmentAsync(chunks, 4);
    model.close(); // freed once the call ends
    const out = await pending;
    clearInterval(timer);
    assert.deepEqual(out, expected);
    assert.ok(ticks > 0, "the event loop did not run during segmentAsync");
    await assert.rejects(model.segmentAsync(chunks, 4), (e: WeSpeakerError) => e.code === "closed");
  });

  test("bad input: NaN sample, bad batch, closed model", async () => {
    const { path } = await convertedModel();
    const model = await SegmentationModel.load(path);
    const chunk = new Float32Array(2 * 16000);
    chunk[16000 + 5] = NaN;
    assert.throws(
      () => model.segment(chunk, 2),
      (e: WeSpeakerError) => e.code === "invalid-argument" && /waveforms\[1, 5\] is NaN/.test(e.message),
    );
    assert.throws(
      () => model.segment(new Float32Array(1000), 3),
      (e: WeSpeakerError) => e.code === "invalid-argument" && /batch/.test(e.message),
    );
    model.close();
    model.close();
    assert.throws(
      () => model.segment(new Float32Array(16000), 1),
      (e: WeSpeakerError) => e.code === "closed",
    );
  });

  test("converter: deterministic bytes, named errors for missing/mis-shaped keys, embedding files rejected", async () => {
    const { checkpoint, path } = await convertedModel();
    const a = await convertCheckpoint(checkpoint, "a.bin");
    const b = await convertCheckpoint(checkpoint, "b.bin");
    assert.deepEqual(a.safetensors, b.safetensors);
    assert.equal(a.config.model_type, "pyannote-segmentation-3.0");
    // A converted file converts to itself.
    const again = await convertCheckpoint(a.safetensors, "seg.safetensors");
    assert.deepEqual(
      again.tensors["sincnet.conv1d.0.weight"].data,
      a.tensors["sincnet.conv1d.0.weight"].data,
    );
    // Loading it as an embedding model says what it holds, with the first missing tensor as the cause.
    const { WeSpeakerModel } = await import("../lib/model.ts");
    await assert.rejects(
      WeSpeakerModel.load(path),
      (e: WeSpeakerError) =>
        e.code === "invalid-weights" && /holds a segmentation model/.test(e.message) &&
        /missing tensor 'conv1.weight'/.test((e.cause as Error).message),
    );
  });

  test("native loader names the first bad tensor", async () => {
    const { path } = await convertedModel();
    const { encodeSafetensors } = await import("../lib/hub/safetensors.ts");
    const { readSafetensorsHeader, readF32Tensor } = await import("../lib/hub/safetensors.ts");
    const { readFileSync } = await import("node:fs");
    const bytes = readFileSync(path);
    const header = readSafetensorsHeader(bytes, path);
    const tensors: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {};
    for (const e of header.tensors) {
      tensors[e.name] = { dtype: "F32", shape: e.shape, data: readF32Tensor(bytes, e, path) };
    }
    const broken = {
      ...tensors,
      "lstm.weight_hh_l2": { dtype: "F32" as const, shape: [512, 64], data: new Float32Array(512 * 64) },
    };
    const bad = join(dir, "bad.safetensors");
    writeFileSync(bad, encodeSafetensors(broken));
    await assert.rejects(
      SegmentationModel.load(bad),
      (e: WeSpeakerError) =>
        e.code === "invalid-weights" &&
        /'lstm.weight_hh_l2' has shape \[512, 64\], expected \[512, 128\]/.test(e.message),
    );
  });
});
