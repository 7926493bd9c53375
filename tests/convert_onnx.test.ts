// ONNX support: the protobuf wire-format reader/writer, the ONNX reader on a file written by the
// official `onnx` package (tests/fixtures/onnx_small.*, from scripts/reference/make_onnx_fixture.py),
// and the full-size round trip MLX weights → scripts/export_onnx.ts → convertOnnx → the same weights,
// which the native library must turn into the golden embeddings.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { WeSpeakerError, WeSpeakerModel } from "../mod.ts";
import {
  convertOnnx,
  MAX_ONNX_ELEMENTS,
  type OnnxModel,
  type OnnxNode,
  type OnnxTensor,
  readOnnxModel,
} from "../lib/hub/convert/onnx.ts";
import { ProtoMessage, ProtoWriter } from "../lib/hub/convert/protobuf.ts";
import type { F32Tensor } from "../lib/hub/safetensors.ts";
import { buildOnnxModel, encodeOnnxModel, exportOnnx } from "../scripts/export_onnx.ts";
import { Rng, syntheticFeatures } from "../scripts/generate_weights.ts";
import { tensorsOf, testWeights, writeScratch } from "./helpers/weights.ts";

function throws(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof WeSpeakerError, `expected WeSpeakerError, got ${err}`);
    assert.equal(err.code, "invalid-weights", err.message);
    assert.match(err.message, message);
    return true;
  });
}

const bytes = (...values: number[]) => Uint8Array.from(values);

describe("protobuf wire format", () => {
  test("decodes the encoding guide's examples", () => {
    // https://protobuf.dev/programming-guides/encoding/: 150 in field 1, "testing" in field 2,
    // [3, 270, 86942] packed in field 4.
    const msg = ProtoMessage.decode(
      bytes(
        0x08,
        0x96,
        0x01,
        0x12,
        0x07,
        ...new TextEncoder().encode("testing"),
        0x22,
        0x06,
        0x03,
        0x8e,
        0x02,
        0x9e,
        0xa7,
        0x05,
      ),
      "example",
    );
    assert.equal(msg.int(1), 150);
    assert.equal(msg.string(2), "testing");
    assert.deepEqual(msg.ints(4), [3, 270, 86942]);
    assert.deepEqual([...msg].map((f) => [f.number, f.wireType]), [[1, 0], [2, 2], [4, 2]]);
    assert.equal(msg.int(9, 42), 42, "absent field → fallback");
  });

  test("writer and reader agree on varints up to 64 bits, negative ones as two's complement", () => {
    const values = [
      0,
      1,
      127,
      128,
      300,
      2 ** 31 - 1,
      2 ** 31,
      2 ** 32,
      2 ** 53 - 1,
      -1,
      -2,
      -(2 ** 31),
      -(2 ** 53 - 1),
    ];
    const w = new ProtoWriter();
    for (const v of values) w.int(3, v);
    const encoded = w.finish();
    const msg = ProtoMessage.decode(encoded, "varints");
    assert.deepEqual(msg.ints(3), values);
    assert.equal(msg.int(3), values.at(-1), "a singular field's last occurrence wins");
    // -1 is ten bytes on the wire, like protobuf's int64.
    assert.deepEqual([...new ProtoWriter().int(1, -1).finish()], [0x08, ...Array(9).fill(0xff), 0x01]);
  });

  test("repeated scalars are read packed and unpacked alike", () => {
    const floats = Float32Array.of(1.5, -2.25, 3e-8);
    const packed = new Uint8Array(floats.buffer.slice(0));
    const unpacked = new ProtoWriter();
    for (const f of floats) unpacked.float32(4, f);
    const both = new ProtoWriter().bytes(4, packed).finish();
    assert.deepEqual(ProtoMessage.decode(both, "packed").float32s(4), floats);
    assert.deepEqual(ProtoMessage.decode(unpacked.finish(), "unpacked").float32s(4), floats);
    const doubles = Float64Array.of(0.1, -1e300);
    const d = ProtoMessage.decode(new ProtoWriter().bytes(10, new Uint8Array(doubles.buffer)).finish(), "d");
    assert.deepEqual(d.float64s(10), doubles);
    const mixed = new ProtoWriter().int(1, 5).bytes(1, bytes(0x06, 0x07)).int(1, -3).finish();
    assert.deepEqual(ProtoMessage.decode(mixed, "mixed").ints(1), [5, 6, 7, -3]);
  });

  test("embedded messages keep their payload by reference and nest", () => {
    const inner = new ProtoWriter().string(1, "κλειδί").float32(2, 0.5);
    const outer = new ProtoWriter().message(7, inner).message(7, new ProtoWriter().string(1, "b")).finish();
    const msg = ProtoMessage.decode(outer, "outer");
    const items = msg.messages(7, (i) => `item ${i}`);
    assert.deepEqual(items.map((m) => m.string(1)), ["κλειδί", "b"]);
    assert.equal(items[0].float32(2), 0.5);
    assert.equal(items[1].context, "item 1");
    assert.equal(msg.message(7, "last")?.string(1), "b");
  });

  test("malformed input is a WeSpeakerError naming the problem", () => {
    const cases: [Uint8Array, RegExp][] = [
      [bytes(0x08), /truncated varint/],
      [bytes(0x08, ...Array(10).fill(0x80), 0x01), /longer than 10 bytes/],
      [bytes(0x08, ...Array(9).fill(0xff), 0x02), /does not fit in 64 bits/],
      [bytes(0x12, 0x05, 0x61), /length 5 runs past the end \(1 left\)/],
      // A length of 2^62: rejected before anything is allocated.
      [bytes(0x12, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40), /runs past the end/],
      [bytes(0x0b), /unsupported wire type 3/],
      [bytes(0x0f), /unsupported wire type 7/],
      [bytes(0x00, 0x00), /field number 0/],
      [bytes(0x0d, 0x00, 0x00), /truncated 4-byte value/],
      [bytes(0x09, 0x00), /truncated 8-byte value/],
    ];
    for (const [input, message] of cases) throws(() => ProtoMessage.decode(input, "hostile"), message);
    const msg = ProtoMessage.decode(bytes(0x08, 0x01, 0x12, 0x02, 0xc3, 0xc3, 0x22, 0x03, 1, 2, 3), "typed");
    throws(() => msg.string(1), /typed: field 1 is varint, expected length-delimited/);
    throws(() => msg.string(2), /field 2 is not valid UTF-8/);
    throws(() => msg.float32s(4), /packed field 4 holds 3 bytes, not a multiple of 4/);
    throws(() => msg.ints(2), /truncated varint/);
    const huge = ProtoMessage.decode(
      new ProtoWriter().bytes(1, bytes(...Array(9).fill(0xff), 0x00)).finish(),
      "h",
    );
    throws(() => huge.ints(1), /out of range/);
  });
});

// ---------------------------------------------------------------------------------------------------------

interface FixtureTensor {
  name: string;
  dims: number[];
  dataType: number;
  values: number[];
}

const smallBytes = new Uint8Array(readFileSync(new URL("./fixtures/onnx_small.onnx", import.meta.url)));
const small = JSON.parse(readFileSync(new URL("./fixtures/onnx_small.json", import.meta.url), "utf8")) as {
  irVersion: number;
  producerName: string;
  opsetImports: { domain: string; version: number }[];
  metadata: Record<string, string>;
  inputs: unknown[];
  outputs: unknown[];
  initializers: FixtureTensor[];
  storage: Record<string, string[]>;
  nodes: {
    name: string;
    opType: string;
    inputs: string[];
    outputs: string[];
    attributes: Record<string, { type: number; value?: unknown; tensor?: FixtureTensor }>;
  }[];
};

function tensorValues(t: { floats?: Float32Array; ints?: number[] }): number[] {
  return t.floats ? Array.from(t.floats) : t.ints!;
}

describe("readOnnxModel on a file written by the onnx package", () => {
  const model = readOnnxModel(smallBytes, "onnx_small.onnx");

  test("the fixture stores tensors in every way the reader handles", () => {
    const storages = new Set(Object.values(small.storage).flat());
    assert.deepEqual([...storages].sort(), [
      "double_data",
      "float_data",
      "int32_data",
      "int64_data",
      "raw_data",
    ]);
  });

  test("model fields, metadata, inputs and outputs", () => {
    assert.equal(model.irVersion, small.irVersion);
    assert.equal(model.producerName, small.producerName);
    assert.deepEqual(model.opsetImports, small.opsetImports);
    assert.deepEqual(Object.fromEntries(model.metadata), small.metadata);
    assert.deepEqual(model.graph.inputs, small.inputs);
    assert.deepEqual(model.graph.outputs, small.outputs);
  });

  test("initializers: FLOAT, FLOAT16 and DOUBLE as float32, INT32 and INT64 as integers", () => {
    assert.equal(model.graph.initializers.length, small.initializers.length);
    small.initializers.forEach((want, i) => {
      const got = model.graph.initializers[i];
      assert.equal(got.name, want.name);
      assert.deepEqual(got.dims, want.dims, want.name);
      assert.equal(got.dataType, want.dataType, want.name);
      assert.deepEqual(tensorValues(got), want.values, want.name);
    });
  });

  test("nodes and attributes of every type", () => {
    assert.equal(model.graph.nodes.length, small.nodes.length);
    small.nodes.forEach((want, i) => {
      const got = model.graph.nodes[i];
      assert.deepEqual(
        [got.name, got.opType, got.domain, got.inputs, got.outputs],
        [want.name, want.opType, "", want.inputs, want.outputs],
      );
      assert.deepEqual([...got.attributes.keys()], Object.keys(want.attributes), want.name);
      for (const [name, a] of Object.entries(want.attributes)) {
        const attribute = got.attributes.get(name)!;
        assert.equal(attribute.type, a.type, `${want.name}.${name}`);
        if (a.tensor) {
          const t = attribute.value as OnnxTensor;
          assert.deepEqual([t.dims, t.dataType, tensorValues(t)], [
            a.tensor.dims,
            a.tensor.dataType,
            a.tensor.values,
          ]);
        } else {
          assert.deepEqual(attribute.value, a.value, `${want.name}.${name}`);
        }
      }
    });
    const types = new Set(small.nodes.flatMap((n) => Object.values(n.attributes).map((a) => a.type)));
    assert.deepEqual([...types].sort(), [1, 2, 3, 4, 6, 7], "FLOAT, INT, STRING, TENSOR, FLOATS, INTS");
  });

  test("fuzz: mutated and truncated files parse or throw WeSpeakerError, nothing else", () => {
    const rng = new Rng(7, "onnx fuzz");
    const pick = (n: number) => rng.nextU32() % n;
    let parsed = 0;
    for (let round = 0; round < 3000; round++) {
      let b = smallBytes.slice();
      const edits = 1 + pick(4);
      for (let e = 0; e < edits; e++) {
        const at = pick(b.length);
        switch (pick(5)) {
          case 0: // flip bits of one byte
            b[at] ^= 1 << pick(8);
            break;
          case 1: // a random byte
            b[at] = pick(256);
            break;
          case 2: // truncate
            b = b.subarray(0, at);
            break;
          case 3: // delete a run
            b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + 1 + pick(16))]);
            break;
          default: // insert large varint-ish bytes (huge lengths, long varints)
            b = Uint8Array.from([
              ...b.subarray(0, at),
              ...Array.from({ length: 1 + pick(10) }, () => 0x80 | pick(128)),
              ...b.subarray(at),
            ]);
        }
        if (b.length === 0) break;
      }
      for (const run of [() => readOnnxModel(b, "fuzz.onnx"), () => convertOnnx(b, "fuzz.onnx")]) {
        try {
          run();
          parsed++;
        } catch (err) {
          if (!(err instanceof WeSpeakerError) || err.code !== "invalid-weights") {
            assert.fail(`round ${round}: ${err instanceof Error ? `${err.name}: ${err.message}` : err}`);
          }
        }
      }
    }
    assert.ok(parsed > 0, "some mutations still parse");
  });
});

// ---------------------------------------------------------------------------------------------------------

interface GoldenCase {
  name: string;
  featureSeeds: number[];
  frames: number;
  lengths?: number[];
  masks?: unknown;
  normalized: number[][][];
  raw: number[][][];
}

const goldens = JSON.parse(readFileSync(new URL("./fixtures/embeddings.json", import.meta.url), "utf8")) as {
  cases: GoldenCase[];
};
const weights = testWeights().bytes;
const original = tensorsOf(weights);
const fused = await exportOnnx(weights);
const unfused = await exportOnnx(weights, { bn: true });

/** max |a − b| over a tensor, divided by max |a|. */
function relativeDiff(a: F32Tensor, b: F32Tensor): number {
  assert.deepEqual(b.shape, a.shape);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.data.length; i++) {
    diff = Math.max(diff, Math.abs(a.data[i] - b.data[i]));
    scale = Math.max(scale, Math.abs(a.data[i]));
  }
  return diff / scale;
}

function assertSameWeights(converted: Record<string, F32Tensor>, tolerance: number, what: string): number {
  assert.deepEqual(Object.keys(converted).sort(), Object.keys(original).sort());
  let worst = 0;
  for (const [name, t] of Object.entries(original)) {
    const d = relativeDiff(t, converted[name]);
    assert.ok(d <= tolerance, `${what}: ${name} differs by ${d} (relative)`);
    worst = Math.max(worst, d);
  }
  return worst;
}

function compare(actual: Float32Array, expected: number[], what: string, maxAbs: number): void {
  let dot = 0, na = 0, nb = 0, worst = 0;
  for (let i = 0; i < expected.length; i++) {
    dot += actual[i] * expected[i];
    na += actual[i] ** 2;
    nb += expected[i] ** 2;
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  }
  assert.ok(dot / Math.sqrt(na * nb) >= 0.99999, `${what}: cosine ${dot / Math.sqrt(na * nb)}`);
  assert.ok(worst <= maxAbs, `${what}: max abs diff ${worst} > ${maxAbs}`);
}

/** The golden cases single-1s and batch-variable-lengths item 2 (97 frames) through the model. */
async function checkGoldens(safetensors: Uint8Array, name: string): Promise<void> {
  using model = await WeSpeakerModel.load(writeScratch(name, safetensors));
  for (const [caseName, b] of [["single-1s", 0], ["batch-variable-lengths", 2]] as const) {
    const c = goldens.cases.find((x) => x.name === caseName)!;
    const frames = c.lengths ? c.lengths[b] : c.frames;
    const data = syntheticFeatures(c.featureSeeds[b], c.frames).subarray(0, frames * 80);
    const input = { data, frames, bins: 80 };
    const raw = c.raw[b][0];
    compare(model.embedFeatures(input), c.normalized[b][0], `${name} ${caseName}[${b}]`, 1e-4);
    const scale = Math.max(...raw.map(Math.abs));
    compare(model.embedFeatures(input, { raw: true }), raw, `${name} ${caseName}[${b}] raw`, 1e-4 * scale);
  }
}

/** An export of the test weights, edited before encoding. */
function edited(edit: (m: OnnxModel) => void, bn = false): Uint8Array {
  const m = buildOnnxModel(original, { bn });
  edit(m);
  return encodeOnnxModel(m);
}

function nodeNamed(m: OnnxModel, name: string): OnnxNode {
  const node = m.graph.nodes.find((n) => n.name === name);
  assert.ok(node, `no node ${name}`);
  return node;
}

function initializer(m: OnnxModel, name: string) {
  const t = m.graph.initializers.find((x) => x.name === name);
  assert.ok(t, `no initializer ${name}`);
  return t;
}

describe("full-size round trip: MLX weights → ONNX → MLX weights", () => {
  test("the exports are deterministic and parse back to the expected graph", async () => {
    assert.deepEqual(await exportOnnx(weights), fused);
    const model = readOnnxModel(fused, "fused.onnx");
    const ops = (m: OnnxModel, op: string) => m.graph.nodes.filter((n) => n.opType === op).length;
    assert.equal(ops(model, "Conv"), 36);
    assert.equal(ops(model, "BatchNormalization"), 0);
    assert.equal(ops(readOnnxModel(unfused, "unfused.onnx"), "BatchNormalization"), 36);
    assert.deepEqual(model.graph.inputs, [{ name: "feats", elemType: 1, shape: ["B", "T", 80] }]);
    assert.deepEqual(model.graph.outputs, [{ name: "embs", elemType: 1, shape: ["B", 256] }]);
    assert.equal(model.metadata.get("sample_rate"), "16000");
    assert.equal(model.metadata.get("output_dim"), "256");
  });

  test("fused Conv: the converted tensors are the original ones, bit for bit", async () => {
    const converted = convertOnnx(fused, "fused.onnx");
    // No arithmetic happens on this path (BatchNorm is absent, so convToMlx scales by exactly 1).
    assert.equal(assertSameWeights(converted.tensors, 1e-6, "fused"), 0);
    assert.deepEqual(convertOnnx(fused, "fused.onnx").safetensors, converted.safetensors, "deterministic");
    assert.equal(converted.config.model_type, "wespeaker-resnet34");
    await checkGoldens(converted.safetensors, "from-fused-onnx.safetensors");
  });

  test("Conv + BatchNormalization: folded back to the original tensors", async () => {
    const converted = convertOnnx(unfused, "unfused.onnx");
    const worst = assertSameWeights(converted.tensors, 1e-5, "unfused");
    assert.ok(worst > 0, "the BatchNorm path really computes");
    await checkGoldens(converted.safetensors, "from-unfused-onnx.safetensors");
  });

  test("variants: Constant value_ints, Identity, Reshape, MatMul + Add, a non-zero mean_vec", () => {
    const meanVec = Float32Array.from({ length: 256 }, (_, i) => (i % 7) / 8 - 0.375);
    const bytes = edited((m) => {
      const unsqueeze = nodeNamed(m, "/model/Unsqueeze");
      m.graph.nodes.unshift({
        name: "/Constant",
        opType: "Constant",
        domain: "",
        inputs: [],
        outputs: ["axes"],
        attributes: new Map([["value_ints", { type: 7, value: [1] }]]),
      });
      unsqueeze.inputs[1] = "axes";
      const conv = nodeNamed(m, "/model/layer3/2/conv1/Conv");
      m.graph.nodes.unshift({
        name: "/Identity",
        opType: "Identity",
        domain: "",
        inputs: [conv.inputs[1]],
        outputs: ["shared_weight"],
        attributes: new Map(),
      });
      conv.inputs[1] = "shared_weight";
      for (const flatten of m.graph.nodes.filter((n) => n.opType === "Flatten")) {
        flatten.opType = "Reshape";
        flatten.attributes.clear();
        flatten.inputs.push("flat_shape");
      }
      m.graph.initializers.push({ name: "flat_shape", dims: [2], dataType: 7, ints: [0, -1] });
      const gemm = nodeNamed(m, "/model/seg_1/Gemm");
      const w = initializer(m, gemm.inputs[1]);
      const transposed = new Float32Array(w.floats!.length);
      for (let e = 0; e < 256; e++) {
        for (let s = 0; s < 5120; s++) transposed[s * 256 + e] = w.floats![e * 5120 + s];
      }
      Object.assign(w, { dims: [5120, 256], floats: transposed });
      const bias = gemm.inputs.pop()!;
      Object.assign(gemm, { opType: "MatMul", attributes: new Map() });
      const sum = nodeNamed(m, "/Sub");
      m.graph.nodes.splice(m.graph.nodes.indexOf(sum), 0, {
        name: "/seg_1/Add",
        opType: "Add",
        domain: "",
        inputs: [gemm.outputs[0], bias],
        outputs: ["biased"],
        attributes: new Map(),
      });
      sum.inputs[0] = "biased";
      initializer(m, "mean_vec").floats = meanVec;
    });
    const converted = convertOnnx(bytes, "variant.onnx");
    const expectedBias = original["embedding.bias"].data.map((b, i) => b - meanVec[i]);
    assert.deepEqual(converted.tensors["embedding.bias"].data, expectedBias);
    assertSameWeights({ ...converted.tensors, "embedding.bias": original["embedding.bias"] }, 0, "variant");
  });

  test("a graph flattening (F', C) gets its embedding columns permuted to (C, F')", () => {
    const bytes = edited((m) => {
      const firstPool = m.graph.nodes.findIndex((n) => n.name.startsWith("/model/pool/"));
      const trunk = m.graph.nodes[firstPool].inputs[0];
      for (const n of m.graph.nodes) n.inputs = n.inputs.map((i) => (i === trunk ? "swapped" : i));
      m.graph.nodes.splice(firstPool, 0, {
        name: "/model/pool/Transpose",
        opType: "Transpose",
        domain: "",
        inputs: [trunk],
        outputs: ["swapped"],
        attributes: new Map([["perm", { type: 7, value: [0, 2, 1, 3] }]]),
      });
      // The same function: column (s, f, c) of the new weight is column (s, c, f) of ours.
      const w = initializer(m, "model.seg_1.weight");
      const permuted = new Float32Array(w.floats!.length);
      for (let e = 0; e < 256; e++) {
        for (let s = 0; s < 2; s++) {
          for (let c = 0; c < 256; c++) {
            for (let f = 0; f < 10; f++) {
              permuted[e * 5120 + s * 2560 + f * 256 + c] = w.floats![e * 5120 + s * 2560 + c * 10 + f];
            }
          }
        }
      }
      w.floats = permuted;
    });
    assertSameWeights(convertOnnx(bytes, "fc.onnx").tensors, 0, "(F', C)");
  });
});

describe("convertOnnx errors name the problem", () => {
  test("a graph missing a Conv", () => {
    const bytes = edited((m) => {
      const conv = nodeNamed(m, "/model/layer1/1/conv2/Conv");
      m.graph.nodes.splice(m.graph.nodes.indexOf(conv), 1);
      nodeNamed(m, "/model/layer1/1/Add").inputs[0] = conv.inputs[0];
    });
    throws(() => convertOnnx(bytes, "missing.onnx"), /^missing\.onnx: expected 36 Conv nodes, found 35$/);
  });

  test("a wrong-shaped initializer", () => {
    const bytes = edited((m) => {
      initializer(m, nodeNamed(m, "/model/layer2/0/conv1/Conv").inputs[1]).dims = [64, 32, 1, 9];
    });
    throws(
      () => convertOnnx(bytes, "shape.onnx"),
      /Conv node '\/model\/layer2\/0\/conv1\/Conv' \(layer2\.0\.conv1\) has weight shape \[64, 32, 1, 9\], expected \[64, 32, 3, 3\]/,
    );
    const bn = edited((m) => {
      initializer(m, "model.layer3.1.bn2.running_var").dims = [1, 128];
    }, true);
    throws(
      () => convertOnnx(bn, "bn.onnx"),
      /layer3\.1\.conv2\) has variance shape \[1, 128\], expected \[128\]/,
    );
  });

  test("a tensor in an external data file", () => {
    const F = { dims: 1, dataType: 2, name: 8, externalData: 13, dataLocation: 14 };
    const tensor = new ProtoWriter().int(F.dims, 4).int(F.dataType, 1).string(F.name, "conv1.weight")
      .message(F.externalData, new ProtoWriter().string(1, "location").string(2, "weights.bin"))
      .int(F.dataLocation, 1);
    const graph = new ProtoWriter().message(5, tensor);
    const model = new ProtoWriter().int(1, 8).message(7, graph).finish();
    throws(
      () => readOnnxModel(model, "ext.onnx"),
      /ext\.onnx: initializer 0 'conv1\.weight': keeps its data in an external file \('weights\.bin'\)/,
    );
  });

  test("a file that is not ONNX", () => {
    throws(
      () => convertOnnx(weights, "weights.safetensors"),
      /^weights\.safetensors: not (a valid ONNX ModelProto|an ONNX model)/,
    );
    throws(
      () => readOnnxModel(new TextEncoder().encode("hello, world"), "a.txt"),
      /^a\.txt: not a valid ONNX ModelProto: field 13 at byte 2 has unsupported wire type 4/,
    );
    throws(
      () => readOnnxModel(bytes(0x08, 0x01), "empty.onnx"),
      /^empty\.onnx: not an ONNX model \(no ir_version or no graph\)/,
    );
    throws(
      () => convertOnnx(smallBytes, "small.onnx"),
      /^small\.onnx: input 'feats' has shape \[B, T, 4\], expected \[B, T, 80\]$/,
    );
  });

  test("a tensor whose data does not match its dims", () => {
    const tensor = new ProtoWriter().int(1, 2 ** 40).int(1, 2 ** 40).int(2, 1).string(8, "huge").bytes(
      9,
      new Uint8Array(4),
    );
    const model = new ProtoWriter().int(1, 8).message(7, new ProtoWriter().message(5, tensor)).finish();
    throws(
      () => readOnnxModel(model, "huge.onnx"),
      /'huge': holds 1 values but its dims \[1099511627776, 1099511627776\] need/,
    );
  });

  test("a file of countless tiny elements", () => {
    const graph = new ProtoWriter();
    for (let i = 0; i <= MAX_ONNX_ELEMENTS; i++) graph.message(1, new ProtoWriter());
    const model = new ProtoWriter().int(1, 8).message(7, graph).finish();
    throws(
      () => readOnnxModel(model, "many.onnx"),
      /^many\.onnx: graph: holds more than 100000 elements in all$/,
    );
  });

  test("a graph that is not WeSpeaker's ResNet34", () => {
    const cases: [string, (m: OnnxModel) => void, RegExp][] = [
      [
        "time and frequency swapped at the input",
        (m) => {
          nodeNamed(m, "/model/Transpose").attributes.set("perm", { type: 7, value: [0, 1, 2] });
        },
        /Conv node '\/model\/conv1\/Conv' reads a \(B, 1, T, F\) tensor; expected \(B, C, F, T\)/,
      ],
      [
        "pooling over frequency",
        (m) => {
          nodeNamed(m, "/model/pool/ReduceMean").attributes.set("axes", { type: 7, value: [-2] });
        },
        /ReduceMean node '\/model\/pool\/ReduceMean' reduces axes \[F\] of \(B, C, F, T\); expected time only/,
      ],
      [
        "mean and standard deviation swapped",
        (m) => nodeNamed(m, "/model/pool/Concat").inputs.reverse(),
        /concatenates .* expected the flattened mean, then the standard deviation/,
      ],
      [
        "a stride-1 shortcut",
        (m) => {
          nodeNamed(m, "/model/layer3/0/shortcut/Conv").attributes.set("strides", { type: 7, value: [1, 1] });
        },
        /\(layer3\.0\.shortcut\) has strides \[1, 1\], expected \[2, 2\]/,
      ],
      [
        "a residual connection missing",
        (m) => {
          const add = nodeNamed(m, "/model/layer1/2/Add");
          add.inputs[1] = add.inputs[0];
        },
        /block layer1\.2: its input '.*' feeds Conv node '\/model\/layer1\/2\/conv1\/Conv'; expected conv1 and the residual Add/,
      ],
      [
        "an unknown operator",
        (m) => {
          nodeNamed(m, "/model/pool/Sqrt").opType = "Erf";
        },
        /Erf node '\/model\/pool\/Sqrt': operator Erf is not part of a WeSpeaker ResNet34/,
      ],
    ];
    for (const [what, edit, message] of cases) {
      throws(() => convertOnnx(edited(edit), `${what}.onnx`), message);
    }
  });
});
