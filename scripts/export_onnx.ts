/**
 * MLX WeSpeaker ResNet34 safetensors (or any checkpoint `convertCheckpoint` reads) → an ONNX model
 * computing the same function, shaped like wespeaker's `export_onnx.py` output (torch.onnx.export of
 * ResNet34 in eval mode) with sherpa-onnx's metadata, so that ONNX Runtime can be raced against this
 * library and the ONNX converter tested.
 *
 *     deno run -A scripts/export_onnx.ts IN.safetensors OUT.onnx [--bn]
 *     bun scripts/export_onnx.ts IN.safetensors OUT.onnx [--bn]
 *
 * The graph (opset 17): input `feats` `[B, T, 80]` → Transpose → Unsqueeze → `(B, 1, F, T)`; the stem
 * and 16 BasicBlocks as Conv (+ bias) / Relu / Add; wespeaker's TSTP: the mean over time
 * (ReduceMean) and `sqrt(var + 1e-7)` with the unbiased variance (ReduceMean, Sub, Mul, ReduceSum,
 * divided by the frame count − 1 taken from Shape), each Flatten-ed in `(C, F')` order, Concat; Gemm
 * (`transB = 1`); minus a zero `mean_vec` as wespeaker's exporter does; output `embs` `[B, 256]`, the
 * raw embedding (not L2-normalised).
 *
 * With `--bn` every convolution is split into an unfused Conv (no bias, weight scaled per output
 * channel by a seeded random factor) followed by a BatchNormalization that undoes the scale and adds
 * the bias back, as a checkpoint exported without constant folding looks; the function is unchanged
 * up to float32 rounding. Initializers are then named like PyTorch parameters
 * (`model.layer1.0.bn1.running_var`); fused ones are named like torch's folded constants
 * (`onnx::Conv_200`). The converter must not care.
 *
 * @module
 */
import { readFileSync, writeFileSync } from "node:fs";
import process from "node:process";
import { WeSpeakerError } from "../lib/errors.ts";
import { STAGE_BLOCKS, STAGE_STRIDES } from "../lib/native/model_layout.ts";
import type { F32Tensor } from "../lib/hub/safetensors.ts";
import { DEFAULT_BN_EPS } from "../lib/hub/convert/fuse.ts";
import { convertCheckpoint } from "../lib/hub/convert/mod.ts";
import {
  AttributeType,
  ONNX_FIELDS,
  type OnnxAttribute,
  type OnnxModel,
  type OnnxNode,
  type OnnxTensor,
  type OnnxValueInfo,
  TensorDataType,
} from "../lib/hub/convert/onnx.ts";
import { ProtoWriter } from "../lib/hub/convert/protobuf.ts";
import { Rng } from "./generate_weights.ts";

/** Operator set of the exported graph (ReduceMean still takes `axes` as an attribute there). */
export const EXPORT_OPSET = 17;

/** ONNX IR version matching {@link EXPORT_OPSET}. */
const IR_VERSION = 8;

/** Epsilon of wespeaker's TSTP standard deviation. */
const TSTP_EPS = 1e-7;

/** Options of {@link exportOnnx}. */
export interface ExportOptions {
  /** Emit unfused Conv + BatchNormalization pairs instead of fused convolutions. */
  bn?: boolean;
  /** Seed of the BatchNormalization parameters drawn with `bn` (default 1). */
  seed?: number;
  /** Name of the weights, for error messages and the model's `comment`. */
  source?: string;
}

/** MLX `[O, kH, kW, I]` → ONNX/PyTorch `[O, I, kH, kW]`. */
function toOnnxLayout(weight: F32Tensor): { dims: number[]; data: Float32Array } {
  const [O, H, W, I] = weight.shape;
  const data = new Float32Array(weight.data.length);
  for (let o = 0; o < O; o++) {
    for (let h = 0; h < H; h++) {
      for (let w = 0; w < W; w++) {
        for (let i = 0; i < I; i++) {
          data[((o * I + i) * H + h) * W + w] = weight.data[((o * H + h) * W + w) * I + i];
        }
      }
    }
  }
  return { dims: [O, I, H, W], data };
}

/** Builds the graph node by node, naming values the way torch.onnx.export does. */
export class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  #folded = 200;
  #uses = new Map<string, number>();

  floats(name: string, dims: number[], data: Float32Array): string {
    this.initializers.push({ name, dims, dataType: TensorDataType.FLOAT, floats: data });
    return name;
  }

  ints(name: string, dims: number[], values: number[]): string {
    this.initializers.push({ name, dims, dataType: TensorDataType.INT64, ints: values });
    return name;
  }

  /** A name like torch's for a constant that constant folding produced. */
  foldedName(op: string): string {
    return `onnx::${op}_${this.#folded++}`;
  }

  node(
    opType: string,
    scope: string,
    inputs: string[],
    attributes: Record<string, OnnxAttribute> = {},
  ): string {
    const name = `${scope}/${opType}`;
    const taken = this.#uses.get(name) ?? 0;
    this.#uses.set(name, taken + 1);
    const unique = taken === 0 ? name : `${name}_${taken}`;
    const output = `${unique}_output_0`;
    this.nodes.push({
      name: unique,
      opType,
      domain: "",
      inputs,
      outputs: [output],
      attributes: new Map(Object.entries(attributes)),
    });
    return output;
  }
}

/** An INTS attribute. */
export const ints = (value: number[]): OnnxAttribute => ({ type: AttributeType.INTS, value });
/** An INT attribute. */
export const int = (value: number): OnnxAttribute => ({ type: AttributeType.INT, value });
/** A FLOAT attribute. */
export const float = (value: number): OnnxAttribute => ({ type: AttributeType.FLOAT, value });

/**
 * Conv (+ BatchNormalization with `bn`) for one MLX convolution; returns the output name. With `bn`
 * the weight is scaled by `s` per output channel and the BatchNormalization (γ = √(σ² + ε) / s,
 * β = b + μ / s, random μ and σ²) maps the scaled output back to the original one.
 */
function conv(
  g: GraphBuilder,
  tensors: Record<string, F32Tensor>,
  layer: string,
  input: string,
  stride: number,
  options: ExportOptions,
): string {
  const { dims, data } = toOnnxLayout(tensors[`${layer}.weight`]);
  const bias = tensors[`${layer}.bias`].data;
  const [O, , kH, kW] = dims;
  const pad = (kH - 1) / 2;
  const attributes = {
    dilations: ints([1, 1]),
    group: int(1),
    kernel_shape: ints([kH, kW]),
    pads: ints([pad, pad, pad, pad]),
    strides: ints([stride, stride]),
  };
  const scope = `/model/${layer.replaceAll(".", "/")}`;
  if (!options.bn) {
    const w = g.floats(g.foldedName("Conv"), dims, data);
    const b = g.floats(g.foldedName("Conv"), [O], bias);
    return g.node("Conv", scope, [input, w, b], attributes);
  }
  // PyTorch names: conv1 → bn1, layerL.B.convK → layerL.B.bnK, shortcut.0 → shortcut.1.
  const isShortcut = layer.endsWith("shortcut");
  const convName = `model.${isShortcut ? `${layer}.0` : layer}`;
  const bnName = `model.${isShortcut ? `${layer}.1` : layer.replace(/conv(\d)$/, "bn$1")}`;
  const rng = new Rng(options.seed ?? 1, layer);
  const scaled = new Float32Array(data.length);
  const gamma = new Float32Array(O);
  const beta = new Float32Array(O);
  const mean = new Float32Array(O);
  const variance = new Float32Array(O);
  const perChannel = data.length / O;
  for (let o = 0; o < O; o++) {
    const s = rng.range(0.5, 2);
    mean[o] = rng.range(-0.5, 0.5);
    variance[o] = rng.range(0.2, 3);
    gamma[o] = Math.sqrt(variance[o] + DEFAULT_BN_EPS) / s;
    beta[o] = bias[o] + mean[o] / s;
    for (let i = o * perChannel; i < (o + 1) * perChannel; i++) scaled[i] = data[i] * s;
  }
  const y = g.node("Conv", scope, [input, g.floats(`${convName}.weight`, dims, scaled)], attributes);
  const params = [
    g.floats(`${bnName}.weight`, [O], gamma),
    g.floats(`${bnName}.bias`, [O], beta),
    g.floats(`${bnName}.running_mean`, [O], mean),
    g.floats(`${bnName}.running_var`, [O], variance),
  ];
  const bnScope = `/model/${bnName.slice("model.".length).replaceAll(".", "/")}`;
  return g.node("BatchNormalization", bnScope, [y, ...params], {
    epsilon: float(DEFAULT_BN_EPS),
    momentum: float(0.9),
  });
}

/**
 * The ONNX model (as the structures `readOnnxModel` returns) for validated MLX tensors.
 *
 * @param tensors every tensor of `expectedWeights()`, in the MLX layout
 */
export function buildOnnxModel(tensors: Record<string, F32Tensor>, options: ExportOptions = {}): OnnxModel {
  const g = new GraphBuilder();
  const transposed = g.node("Transpose", "/model", ["feats"], { perm: ints([0, 2, 1]) });
  let x = g.node("Unsqueeze", "/model", [transposed, g.ints(g.foldedName("Unsqueeze"), [1], [1])]);
  x = g.node("Relu", "/model", [conv(g, tensors, "conv1", x, 1, options)]);
  for (let stage = 0; stage < STAGE_BLOCKS.length; stage++) {
    for (let block = 0; block < STAGE_BLOCKS[stage]; block++) {
      const prefix = `layer${stage + 1}.${block}`;
      const scope = `/model/layer${stage + 1}/${block}`;
      const stride = block === 0 ? STAGE_STRIDES[stage] : 1;
      const h = g.node("Relu", scope, [conv(g, tensors, `${prefix}.conv1`, x, stride, options)]);
      const main = conv(g, tensors, `${prefix}.conv2`, h, 1, options);
      const residual = `${prefix}.shortcut.weight` in tensors
        ? conv(g, tensors, `${prefix}.shortcut`, x, stride, options)
        : x;
      x = g.node("Relu", scope, [g.node("Add", scope, [main, residual])]);
    }
  }
  // wespeaker TSTP on (B, C, F', T): mean and sqrt(unbiased var + eps) over time.
  const pool = "/model/pool";
  const lastAxis = ints([-1]);
  const mean = g.node("ReduceMean", pool, [x], { axes: lastAxis, keepdims: int(0) });
  const centred = g.node("Sub", pool, [
    x,
    g.node("ReduceMean", pool, [x], { axes: lastAxis, keepdims: int(1) }),
  ]);
  const squares = g.node("Mul", pool, [centred, centred]);
  const sum = g.node("ReduceSum", pool, [squares, g.ints(g.foldedName("ReduceSum"), [1], [-1])], {
    keepdims: int(0),
  });
  const frames = g.node(
    "Gather",
    pool,
    [g.node("Shape", pool, [x]), g.ints(g.foldedName("Gather"), [], [3])],
    {
      axis: int(0),
    },
  );
  const framesF = g.node("Cast", pool, [frames], { to: int(TensorDataType.FLOAT) });
  const one = g.floats(g.foldedName("Sub"), [], Float32Array.of(1));
  const variance = g.node("Div", pool, [sum, g.node("Sub", pool, [framesF, one])]);
  const eps = g.floats(g.foldedName("Add"), [], Float32Array.of(TSTP_EPS));
  const std = g.node("Sqrt", pool, [g.node("Add", pool, [variance, eps])]);
  const stats = g.node("Concat", pool, [
    g.node("Flatten", pool, [mean], { axis: int(1) }),
    g.node("Flatten", pool, [std], { axis: int(1) }),
  ], { axis: int(1) });
  const embedding = tensors["embedding.weight"];
  const seg = g.node("Gemm", "/model/seg_1", [
    stats,
    g.floats("model.seg_1.weight", embedding.shape, embedding.data),
    g.floats("model.seg_1.bias", tensors["embedding.bias"].shape, tensors["embedding.bias"].data),
  ], { alpha: float(1), beta: float(1), transB: int(1) });
  const dim = embedding.shape[0];
  const meanVec = g.floats("mean_vec", [dim], new Float32Array(dim));
  g.nodes.push({
    name: "/Sub",
    opType: "Sub",
    domain: "",
    inputs: [seg, meanVec],
    outputs: ["embs"],
    attributes: new Map(),
  });

  const io = (name: string, shape: (number | string)[]): OnnxValueInfo => ({
    name,
    elemType: TensorDataType.FLOAT,
    shape,
  });
  return {
    irVersion: IR_VERSION,
    producerName: "wespeaker scripts/export_onnx.ts",
    producerVersion: "1",
    opsetImports: [{ domain: "", version: EXPORT_OPSET }],
    // sherpa-onnx's keys (scripts/wespeaker/add_meta_data.py); "global-mean" asks it to subtract each
    // bin's mean over the clip, as the features this model expects are normalised.
    metadata: new Map([
      ["framework", "wespeaker"],
      ["language", "English"],
      ["url", "https://github.com/wenet-e2e/wespeaker/blob/master/docs/pretrained.md"],
      [
        "comment",
        `ResNet34-LM exported from ${options.source ?? "MLX safetensors"}${
          options.bn ? " (BatchNorm unfused)" : ""
        }`,
      ],
      ["sample_rate", "16000"],
      ["output_dim", String(dim)],
      ["normalize_samples", "0"],
      ["feature_normalize_type", "global-mean"],
    ]),
    graph: {
      name: "main_graph",
      nodes: g.nodes,
      initializers: g.initializers,
      inputs: [io("feats", ["B", "T", 80])],
      outputs: [io("embs", ["B", dim])],
    },
  };
}

function encodeTensor(t: OnnxTensor): ProtoWriter {
  const F = ONNX_FIELDS.tensor;
  const w = new ProtoWriter();
  for (const d of t.dims) w.int(F.dims, d);
  w.int(F.dataType, t.dataType);
  w.string(F.name, t.name);
  let raw: Uint8Array;
  if (t.dataType === TensorDataType.FLOAT && t.floats) {
    raw = new Uint8Array(4 * t.floats.length);
    const view = new DataView(raw.buffer);
    t.floats.forEach((v, i) => view.setFloat32(4 * i, v, true));
  } else if (t.dataType === TensorDataType.INT64 && t.ints) {
    raw = new Uint8Array(8 * t.ints.length);
    const view = new DataView(raw.buffer);
    t.ints.forEach((v, i) => view.setBigInt64(8 * i, BigInt(v), true));
  } else {
    throw new WeSpeakerError(
      "invalid-argument",
      `tensor '${t.name}': only FLOAT and INT64 tensors can be written`,
    );
  }
  return w.bytes(F.rawData, raw);
}

function encodeAttribute(name: string, a: OnnxAttribute): ProtoWriter {
  const F = ONNX_FIELDS.attribute;
  const w = new ProtoWriter().string(F.name, name).int(F.type, a.type);
  const { value } = a;
  switch (a.type) {
    case AttributeType.FLOAT:
      return w.float32(F.f, value as number);
    case AttributeType.INT:
      return w.int(F.i, value as number);
    case AttributeType.STRING:
      return w.string(F.s, value as string);
    case AttributeType.TENSOR:
      return w.message(F.t, encodeTensor(value as OnnxTensor));
    case AttributeType.FLOATS:
      for (const v of value as number[]) w.float32(F.floats, v);
      return w;
    case AttributeType.INTS:
      for (const v of value as number[]) w.int(F.ints, v);
      return w;
    case AttributeType.STRINGS:
      for (const v of value as string[]) w.string(F.strings, v);
      return w;
  }
  throw new WeSpeakerError("invalid-argument", `attribute '${name}': type ${a.type} cannot be written`);
}

function encodeValueInfo(v: OnnxValueInfo): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.shape ?? []) {
    const dim = new ProtoWriter();
    if (typeof d === "number") dim.int(ONNX_FIELDS.dimension.value, d);
    else dim.string(ONNX_FIELDS.dimension.param, d);
    shape.message(ONNX_FIELDS.shape.dim, dim);
  }
  const tensorType = new ProtoWriter().int(ONNX_FIELDS.tensorType.elemType, v.elemType);
  if (v.shape) tensorType.message(ONNX_FIELDS.tensorType.shape, shape);
  return new ProtoWriter()
    .string(ONNX_FIELDS.valueInfo.name, v.name)
    .message(
      ONNX_FIELDS.valueInfo.type,
      new ProtoWriter().message(ONNX_FIELDS.typeProto.tensorType, tensorType),
    );
}

/**
 * Serializes a model (the inverse of `readOnnxModel` for FLOAT/INT64 tensors; tensor data goes to
 * `raw_data`, repeated scalars unpacked as onnx.proto declares them). Deterministic.
 */
export function encodeOnnxModel(model: OnnxModel): Uint8Array {
  const N = ONNX_FIELDS.node;
  const G = ONNX_FIELDS.graph;
  const M = ONNX_FIELDS.model;
  const graph = new ProtoWriter();
  for (const node of model.graph.nodes) {
    const w = new ProtoWriter();
    for (const i of node.inputs) w.string(N.input, i);
    for (const o of node.outputs) w.string(N.output, o);
    w.string(N.name, node.name).string(N.opType, node.opType);
    if (node.domain) w.string(N.domain, node.domain);
    for (const [name, a] of node.attributes) w.message(N.attribute, encodeAttribute(name, a));
    graph.message(G.node, w);
  }
  graph.string(G.name, model.graph.name);
  for (const t of model.graph.initializers) graph.message(G.initializer, encodeTensor(t));
  for (const v of model.graph.inputs) graph.message(G.input, encodeValueInfo(v));
  for (const v of model.graph.outputs) graph.message(G.output, encodeValueInfo(v));

  const w = new ProtoWriter()
    .int(M.irVersion, model.irVersion)
    .string(M.producerName, model.producerName)
    .string(M.producerVersion, model.producerVersion)
    .message(M.graph, graph);
  for (const { domain, version } of model.opsetImports) {
    w.message(
      M.opsetImport,
      new ProtoWriter().string(ONNX_FIELDS.opsetId.domain, domain).int(ONNX_FIELDS.opsetId.version, version),
    );
  }
  for (const [key, value] of model.metadata) {
    w.message(
      M.metadataProps,
      new ProtoWriter().string(ONNX_FIELDS.stringEntry.key, key).string(ONNX_FIELDS.stringEntry.value, value),
    );
  }
  return w.finish();
}

/**
 * Weights → ONNX model bytes computing the same raw embedding (see the module documentation).
 * Deterministic. The weights are read by `convertCheckpoint`, so besides MLX safetensors any
 * checkpoint it reads (PyTorch, ONNX) can be exported.
 *
 * @throws {WeSpeakerError} `invalid-weights` when the weights are not a ResNet34-LM checkpoint
 */
export async function exportOnnx(weights: Uint8Array, options: ExportOptions = {}): Promise<Uint8Array> {
  const source = options.source ?? "weights";
  const { tensors } = await convertCheckpoint(weights, source);
  return encodeOnnxModel(buildOnnxModel(tensors, { ...options, source }));
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const bn = args.includes("--bn");
  const paths = args.filter((a) => a !== "--bn");
  if (paths.length !== 2 || paths.some((p) => p.startsWith("-"))) {
    console.error("usage: deno run -A scripts/export_onnx.ts IN.safetensors OUT.onnx [--bn]");
    process.exit(2);
  }
  const [input, output] = paths;
  try {
    const bytes = await exportOnnx(readFileSync(input), { bn, source: input });
    writeFileSync(output, bytes);
    console.log(`wrote ${output}: ${bytes.length} bytes${bn ? " (Conv + BatchNormalization)" : ""}`);
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  }
}
