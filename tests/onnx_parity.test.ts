// The races in scripts/bench.ts compare the same functions: ONNX Runtime on the graph that
// scripts/export_onnx.ts writes gives our raw embeddings, for single clips and a batch, and on the one
// scripts/export_segmentation_onnx.ts writes our segmentation-3.0 log-probabilities. And the FLOP count
// (lib/flops.ts) that the bench divides by.
//
// onnxruntime-node is a devDependency (installed by `npm ci`): if it does not load, this file
// fails; it never skips.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { WeSpeakerModel } from "../mod.ts";
import { embedNative, loadModel } from "../lib/native/library.ts";
import { embeddingFlops, layerFlops } from "../lib/flops.ts";
import { exportOnnx } from "../scripts/export_onnx.ts";
import { exportSegmentationOnnx } from "../scripts/export_segmentation_onnx.ts";
import { generateSegmentationCheckpoint } from "../scripts/generate_segmentation.ts";
import { SegmentationModel } from "../lib/segmentation.ts";
import { convertCheckpoint } from "../lib/hub/convert/mod.ts";
import { readOnnxModel } from "../lib/hub/convert/onnx.ts";
import { segmentationWaveform } from "./helpers/segmentation_inputs.ts";
import { syntheticFeatures } from "../scripts/generate_weights.ts";
import { testWeights, writeScratch } from "./helpers/weights.ts";

type Ort = typeof import("onnxruntime-node");

async function loadOrt(): Promise<Ort> {
  try {
    return await import("onnxruntime-node");
  } catch (err) {
    throw new Error(
      `onnxruntime-node did not load (it is a devDependency: run \`npm ci\`): ${(err as Error).message}`,
      { cause: err },
    );
  }
}

const ort = await loadOrt();
const weights = testWeights();
const onnxPath = writeScratch("parity.onnx", await exportOnnx(weights.bytes, { source: weights.path }));
const session = await ort.InferenceSession.create(onnxPath, { intraOpNumThreads: 1, interOpNumThreads: 1 });
const model = await WeSpeakerModel.load(weights.path);
const handle = loadModel(weights.path);

async function runOrt(features: Float32Array, batch: number, frames: number): Promise<Float32Array> {
  const out = await session.run({ feats: new ort.Tensor("float32", features, [batch, frames, 80]) });
  assert.deepEqual(out.embs.dims, [batch, 256]);
  return out.embs.data as Float32Array;
}

function assertSame(ours: Float32Array, theirs: Float32Array, what: string): void {
  assert.equal(ours.length, 256, `${what}: length`);
  assert.equal(theirs.length, 256, `${what}: length`);
  const c = WeSpeakerModel.cosineSimilarity(ours, theirs);
  assert.ok(c >= 0.9999, `${what}: cosine ${c} < 0.9999`);
  // Raw embeddings: the scale must agree too, not only the direction.
  const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  const ratio = norm(ours) / norm(theirs);
  assert.ok(Math.abs(ratio - 1) < 1e-3, `${what}: norm ratio ${ratio}`);
}

describe("ONNX Runtime on the exported graph equals libwespeaker", () => {
  test("onnxruntime-node is the pinned version", () => {
    assert.equal(ort.env.versions.node, "1.30.0");
  });

  for (const frames of [98, 498]) {
    test(`one clip of ${frames} frames (raw embeddings)`, async () => {
      const data = syntheticFeatures(frames, frames);
      const ours = model.embedFeatures({ data, frames, bins: 80 }, { raw: true });
      assertSame(ours, await runOrt(data, 1, frames), `${frames} frames`);
    });
  }

  test("a batch of 3 clips of 301 frames", async () => {
    const batch = 3, frames = 301;
    const stacked = new Float32Array(batch * frames * 80);
    for (let b = 0; b < batch; b++) stacked.set(syntheticFeatures(100 + b, frames), b * frames * 80);
    const ours = embedNative(handle, { features: stacked, batch, frames, raw: true });
    const theirs = await runOrt(stacked, batch, frames);
    for (let b = 0; b < batch; b++) {
      const at = b * 256;
      assertSame(ours.subarray(at, at + 256), theirs.subarray(at, at + 256), `batch item ${b}`);
    }
    // Different clips give different embeddings: the comparison is not vacuous.
    assert.ok(WeSpeakerModel.cosineSimilarity(theirs.subarray(0, 256), theirs.subarray(256, 512)) < 0.99);
  });
});

describe("ONNX Runtime on the exported segmentation-3.0 equals libwespeaker", () => {
  test("3 chunks (speech, silence, clipped): log-probs within 2e-5, same argmax, sherpa-onnx's metadata", async () => {
    const checkpoint = await generateSegmentationCheckpoint();
    const onnx = await exportSegmentationOnnx(checkpoint, "pytorch_model.bin");
    const seg = await ort.InferenceSession.create(writeScratch("segmentation.onnx", onnx), {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
    });
    const converted = await convertCheckpoint(checkpoint, "pytorch_model.bin");
    using ours = await SegmentationModel.load(
      writeScratch("segmentation.safetensors", converted.safetensors),
    );
    const n = 160000, batch = 3;
    const chunks = new Float32Array(batch * n);
    (["speech", "silence", "clipped"] as const).forEach((kind, b) => {
      chunks.set(segmentationWaveform({ kind, seed: 11 + b }), b * n);
    });
    const want = ours.segment(chunks, batch);
    const out = (await seg.run({ x: new ort.Tensor("float32", chunks, [batch, 1, n]) })).y;
    assert.deepEqual(out.dims, [batch, 589, 7]);
    const got = out.data as Float32Array;
    let maxAbs = 0, argmaxDiffers = 0;
    for (let row = 0; row < batch * 589; row++) {
      let a = 0, b = 0;
      for (let k = 0; k < 7; k++) {
        const i = row * 7 + k;
        maxAbs = Math.max(maxAbs, Math.abs(got[i] - want[i]));
        if (got[i] > got[row * 7 + a]) a = k;
        if (want[i] > want[row * 7 + b]) b = k;
      }
      if (a !== b) argmaxDiffers++;
    }
    assert.ok(maxAbs <= 2e-5, `max abs diff ${maxAbs}`);
    assert.ok(argmaxDiffers <= 2, `${argmaxDiffers} frames change their most likely class`);
    // The keys sherpa-onnx's OfflineSpeakerSegmentationPyannoteModel reads.
    const { metadata } = readOnnxModel(onnx, "segmentation.onnx");
    assert.deepEqual(
      ["sample_rate", "window_size", "receptive_field_size", "receptive_field_shift", "num_speakers"]
        .concat(["powerset_max_classes", "num_classes"]).map((key) => metadata.get(key)),
      ["16000", "160000", "991", "270", "3", "2", "7"],
    );
  });
});

describe("embeddingFlops", () => {
  test("200 frames: 9.06 GFLOP, counted by hand", () => {
    // Per clip, 2·O·kH·kW·I·F·T: stem 32·9·1 at 80×200; stage 1: 6 convs 32·9·32 at 80×200;
    // stages 2-4: a stride-2 conv O·9·(O/2) + a 1×1 shortcut O·(O/2) + (2·blocks − 1) convs O·9·O
    // at 40×100, 20×50, 10×25; the Linear 5120·256.
    const stage = (O: number, blocks: number, positions: number) =>
      2 * positions * (O * 9 * (O / 2) + O * (O / 2) + (2 * blocks - 1) * O * 9 * O);
    const expected = 2 * 32 * 9 * 80 * 200 + 2 * 6 * 32 * 9 * 32 * 80 * 200 +
      stage(64, 4, 40 * 100) + stage(128, 6, 20 * 50) + stage(256, 3, 10 * 25) + 2 * 5120 * 256;
    assert.equal(expected, 9_055_805_440);
    assert.equal(embeddingFlops(200), expected);
    assert.ok(Math.abs(embeddingFlops(200) / 1e9 - 9.06) < 0.005);
  });

  test("one entry per convolution (36) and the Linear", () => {
    const layers = layerFlops(200);
    assert.equal(layers.length, 37);
    assert.equal(layers[0].name, "conv1");
    assert.equal(layers.at(-1)!.name, "embedding");
    assert.equal(layers.filter((l) => l.name.endsWith("shortcut")).length, 3);
  });

  test("scales with frames and batch", () => {
    const linear = 2 * 5120 * 256;
    // Multiples of 8 frames: every layer's output is exactly proportional.
    assert.equal(embeddingFlops(400) - linear, 2 * (embeddingFlops(200) - linear));
    assert.equal(embeddingFlops(1000) - linear, 5 * (embeddingFlops(200) - linear));
    // Other lengths round the strided outputs up.
    assert.ok(embeddingFlops(201) > embeddingFlops(200));
    assert.ok(embeddingFlops(199) < embeddingFlops(200));
    assert.equal(embeddingFlops(198, 16), 16 * embeddingFlops(198));
  });

  test("rejects non-positive or fractional sizes", () => {
    for (const bad of [0, -1, 1.5, NaN]) {
      assert.throws(() => embeddingFlops(bad), RangeError);
      assert.throws(() => embeddingFlops(200, bad), RangeError);
    }
  });
});
