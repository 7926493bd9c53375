/**
 * pyannote segmentation-3.0 (its `pytorch_model.bin`, or our converted safetensors) → an ONNX model
 * computing the same function, shaped like sherpa-onnx's `scripts/pyannote/segmentation/export-onnx.py`
 * output (torch.onnx.export of PyanNet) with its metadata, so that sherpa-onnx's
 * `OfflineSpeakerDiarization` can be raced against this library on the same weights.
 *
 *     deno run -A scripts/export_segmentation_onnx.ts IN OUT.onnx
 *     bun scripts/export_segmentation_onnx.ts IN OUT.onnx
 *
 * The graph (opset 17): input `x` `[N, 1, T]` samples; SincNet as InstanceNormalization, Conv (the 80
 * sinc filters, computed once by the converter, stride 10), Abs, then three times MaxPool(3),
 * InstanceNormalization, LeakyRelu(0.01) with two Conv(60, width 5) between; 4 bidirectional LSTM
 * layers (ONNX's `LSTM`, gates reordered from PyTorch's i, f, g, o to ONNX's i, o, f, c, the two
 * biases kept apart); Linear 256 → 128 → 128 with LeakyRelu, the classifier 128 → 7 and LogSoftmax:
 * output `y` `[N, frames, 7]`, the powerset log-probabilities `SegmentationModel.segment` returns.
 *
 * @module
 */
import { readFileSync, writeFileSync } from "node:fs";
import process from "node:process";
import { WeSpeakerError } from "../lib/errors.ts";
import type { F32Tensor } from "../lib/hub/safetensors.ts";
import { convertCheckpoint } from "../lib/hub/convert/mod.ts";
import {
  AttributeType,
  type OnnxModel,
  type OnnxValueInfo,
  TensorDataType,
} from "../lib/hub/convert/onnx.ts";
import {
  LSTM_HIDDEN,
  LSTM_LAYERS,
  POWERSET_CLASSES,
  SEGMENTATION_CONFIG,
} from "../lib/native/segmentation_layout.ts";
import { encodeOnnxModel, EXPORT_OPSET, float, GraphBuilder, int, ints } from "./export_onnx.ts";

/** segmentation-3.0's chunk: 10 s at 16 kHz. */
const WINDOW_SAMPLES = 160_000;
/** Its output frames' receptive field in samples: size and step (sherpa-onnx reads both). */
const RECEPTIVE_FIELD_SIZE = 991;
const RECEPTIVE_FIELD_SHIFT = 270;
const NORM_EPS = 1e-5;
const LEAK = 0.01;

/** PyTorch's LSTM gate blocks (i, f, g, o) in ONNX's order (i, o, f, c). */
const ONNX_GATES = [0, 3, 1, 2];

function gatesReordered(data: Float32Array, columns: number): Float32Array {
  const H = LSTM_HIDDEN;
  const out = new Float32Array(data.length);
  ONNX_GATES.forEach((from, to) => {
    out.set(data.subarray(from * H * columns, (from + 1) * H * columns), to * H * columns);
  });
  return out;
}

/** One direction's tensors of layer `l` stacked in ONNX's [directions, ...] layout. */
function lstmTensors(t: Record<string, F32Tensor>, l: number) {
  const H = LSTM_HIDDEN;
  const directions = ["", "_reverse"];
  const inputs = t[`lstm.weight_ih_l${l}`].shape[1];
  const W = new Float32Array(2 * 4 * H * inputs);
  const R = new Float32Array(2 * 4 * H * H);
  const B = new Float32Array(2 * 8 * H);
  directions.forEach((suffix, d) => {
    W.set(gatesReordered(t[`lstm.weight_ih_l${l}${suffix}`].data, inputs), d * 4 * H * inputs);
    R.set(gatesReordered(t[`lstm.weight_hh_l${l}${suffix}`].data, H), d * 4 * H * H);
    B.set(gatesReordered(t[`lstm.bias_ih_l${l}${suffix}`].data, 1), d * 8 * H);
    B.set(gatesReordered(t[`lstm.bias_hh_l${l}${suffix}`].data, 1), d * 8 * H + 4 * H);
  });
  return { W, R, B, inputs };
}

/** PyTorch's `[out, in]` Linear weight as the `[in, out]` right operand of MatMul. */
function transposed(w: F32Tensor): Float32Array {
  const [rows, cols] = w.shape;
  const out = new Float32Array(w.data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w.data[r * cols + c];
  return out;
}

/**
 * The ONNX model for converted segmentation-3.0 tensors (`lib/native/segmentation_layout.ts`).
 *
 * @param tensors every tensor of `segmentationWeights()`
 * @param source name of the weights, written in the model's metadata
 */
export function buildSegmentationOnnx(tensors: Record<string, F32Tensor>, source = "weights"): OnnxModel {
  const g = new GraphBuilder();
  const t = (name: string) => {
    const tensor = tensors[name];
    if (!tensor) throw new WeSpeakerError("invalid-weights", `${source}: missing tensor '${name}'`);
    return g.floats(name, tensor.shape, tensor.data);
  };
  const norm = (x: string, prefix: string, scope: string) =>
    g.node("InstanceNormalization", scope, [x, t(`${prefix}.weight`), t(`${prefix}.bias`)], {
      epsilon: float(NORM_EPS),
    });
  const pool = "/sincnet";
  let x = norm("x", "sincnet.wav_norm1d", `${pool}/wav_norm1d`);
  x = g.node("Conv", `${pool}/conv1d.0`, [x, t("sincnet.conv1d.0.weight")], {
    dilations: ints([1]),
    group: int(1),
    kernel_shape: ints([tensors["sincnet.conv1d.0.weight"].shape[2]]),
    pads: ints([0, 0]),
    strides: ints([SEGMENTATION_CONFIG.sincnet.stride]),
  });
  x = g.node("Abs", pool, [x]);
  for (let k = 0; k < 3; k++) {
    if (k > 0) {
      const weight = `sincnet.conv1d.${k}.weight`;
      x = g.node("Conv", `${pool}/conv1d.${k}`, [x, t(weight), t(`sincnet.conv1d.${k}.bias`)], {
        dilations: ints([1]),
        group: int(1),
        kernel_shape: ints([tensors[weight].shape[2]]),
        pads: ints([0, 0]),
        strides: ints([1]),
      });
    }
    x = g.node("MaxPool", `${pool}/pool1d.${k}`, [x], { kernel_shape: ints([3]), strides: ints([3]) });
    x = norm(x, `sincnet.norm1d.${k}`, `${pool}/norm1d.${k}`);
    x = g.node("LeakyRelu", pool, [x], { alpha: float(LEAK) });
  }
  // [N, C, T] → [T, N, C], ONNX LSTM's layout; each layer's [T, 2, N, H] output → [T, N, 2H].
  x = g.node("Transpose", "/lstm", [x], { perm: ints([2, 0, 1]) });
  const merged = g.ints(g.foldedName("Reshape"), [3], [0, 0, -1]);
  for (let l = 0; l < LSTM_LAYERS; l++) {
    const { W, R, B, inputs } = lstmTensors(tensors, l);
    const H = LSTM_HIDDEN;
    const y = g.node("LSTM", `/lstm/layer${l}`, [
      x,
      g.floats(g.foldedName("LSTM"), [2, 4 * H, inputs], W),
      g.floats(g.foldedName("LSTM"), [2, 4 * H, H], R),
      g.floats(g.foldedName("LSTM"), [2, 8 * H], B),
    ], {
      direction: { type: AttributeType.STRING, value: "bidirectional" },
      hidden_size: int(H),
    });
    x = g.node("Reshape", `/lstm/layer${l}`, [
      g.node("Transpose", `/lstm/layer${l}`, [y], { perm: ints([0, 2, 1, 3]) }),
      merged,
    ]);
  }
  x = g.node("Transpose", "/lstm", [x], { perm: ints([1, 0, 2]) }); // [N, T, 2H]
  for (const [k, name] of ["linear.0", "linear.1", "classifier"].entries()) {
    const w = tensors[`${name}.weight`];
    const product = g.node("MatMul", `/${name}`, [
      x,
      g.floats(g.foldedName("MatMul"), [w.shape[1], w.shape[0]], transposed(w)),
    ]);
    x = g.node("Add", `/${name}`, [product, t(`${name}.bias`)]);
    if (k < 2) x = g.node("LeakyRelu", `/${name}`, [x], { alpha: float(LEAK) });
  }
  g.node("LogSoftmax", "/activation", [x], { axis: int(-1) });
  g.nodes[g.nodes.length - 1].outputs = ["y"]; // the graph's output, named as sherpa-onnx's export names it

  const io = (name: string, shape: (number | string)[]): OnnxValueInfo => ({
    name,
    elemType: TensorDataType.FLOAT,
    shape,
  });
  return {
    irVersion: 8,
    producerName: "wespeaker scripts/export_segmentation_onnx.ts",
    producerVersion: "1",
    opsetImports: [{ domain: "", version: EXPORT_OPSET }],
    // sherpa-onnx's keys (scripts/pyannote/segmentation/export-onnx.py).
    metadata: new Map([
      ["num_speakers", String(SEGMENTATION_CONFIG.powerset.num_classes)],
      ["powerset_max_classes", String(SEGMENTATION_CONFIG.powerset.max_set_size)],
      ["num_classes", String(POWERSET_CLASSES)],
      ["sample_rate", String(SEGMENTATION_CONFIG.sample_rate)],
      ["window_size", String(WINDOW_SAMPLES)],
      ["receptive_field_size", String(RECEPTIVE_FIELD_SIZE)],
      ["receptive_field_shift", String(RECEPTIVE_FIELD_SHIFT)],
      ["model_type", "pyannote-segmentation-3.0"],
      ["version", "1"],
      ["model_author", "pyannote-audio"],
      ["maintainer", "wespeaker scripts/export_segmentation_onnx.ts"],
      ["comment", `exported from ${source}`],
    ]),
    graph: {
      name: "main_graph",
      nodes: g.nodes,
      initializers: g.initializers,
      inputs: [io("x", ["N", 1, "T"])],
      outputs: [io("y", ["N", "frames", POWERSET_CLASSES])],
    },
  };
}

/**
 * segmentation-3.0 weights (its PyTorch checkpoint or our converted file) → ONNX model bytes computing
 * the same log-probabilities. Deterministic.
 *
 * @throws {WeSpeakerError} `invalid-weights` when the file is not segmentation-3.0
 */
export async function exportSegmentationOnnx(weights: Uint8Array, source = "weights"): Promise<Uint8Array> {
  const converted = await convertCheckpoint(weights, source);
  if (converted.config.model_type !== SEGMENTATION_CONFIG.model_type) {
    throw new WeSpeakerError("invalid-weights", `${source}: not a segmentation-3.0 checkpoint`);
  }
  return encodeOnnxModel(buildSegmentationOnnx(converted.tensors, source));
}

if (import.meta.main) {
  const paths = process.argv.slice(2);
  if (paths.length !== 2 || paths.some((p) => p.startsWith("-"))) {
    console.error("usage: deno run -A scripts/export_segmentation_onnx.ts IN OUT.onnx");
    process.exit(2);
  }
  const [input, output] = paths;
  try {
    const bytes = await exportSegmentationOnnx(readFileSync(input), input);
    writeFileSync(output, bytes);
    console.log(`wrote ${output}: ${bytes.length} bytes`);
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  }
}
