/**
 * WeSpeaker ResNet34 ONNX models (`wespeaker_en_voxceleb_resnet34_LM.onnx` as shipped for sherpa-onnx,
 * or any `torch.onnx.export` of wespeaker's ResNet34) → the MLX safetensors this library loads.
 *
 * {@link readOnnxModel} parses the file: nodes, initializers (FLOAT, FLOAT16 and DOUBLE as float32;
 * INT32/INT64 as integers), inputs/outputs and `metadata_props`. {@link convertOnnx} then maps the
 * graph by its structure, never by initializer names (exporters name them `onnx::Conv_193` or
 * `resnet.layer1.0.conv1.weight` depending on constant folding):
 *
 * - **Trunk.** Exactly 36 Conv nodes. The first in topological order is the stem; from its ReLU the
 *   residual blocks are followed through the data flow: a block's input feeds its conv1 (the Conv
 *   leading to a ReLU) and either a shortcut Conv (leading to the residual Add; first block of stages
 *   2–4) or the residual Add directly; conv1 → ReLU → conv2 → Add → ReLU. A BatchNormalization right
 *   after a Conv is folded into it (`convToMlx`); any other is an error. Weight shapes, strides, pads,
 *   dilations and groups are checked against the layout, and no value inside the trunk may be read by
 *   anything outside it.
 * - **Axes.** Every activation's axes are followed symbolically from the input `[B, T, 80]`: the stem
 *   must read `(B, 1, F, T)` (so kernels are `[O, I, frequency, time]`, PyTorch's layout as this
 *   library expects), the pooling must reduce over time only, take a square root on the standard
 *   deviation path only, flatten `(C, F')` or `(F', C)` (Flatten, or Reshape to `[0, -1]`) and
 *   concatenate mean then standard deviation (wespeaker's TSTP). Values computed from `Shape` (the frame count of the unbiased variance) and
 *   constants mixed into the pooling are taken as scalars; a constant must hold one value. The variance
 *   correction and epsilon are not checked.
 * - **Embedding.** The single Gemm (`transB` 0 or 1) or MatMul reading the pooled statistics becomes
 *   `embedding.weight` `[256, 5120]`; its bias, plus any constant Add/Sub after it (the `mean_vec`
 *   that wespeaker's exporter subtracts), becomes `embedding.bias`. With `(F', C)` flattening the
 *   weight's columns are permuted to this library's `(C, F')` order. Its output must be the graph's.
 *
 * @module
 */
import { WeSpeakerError } from "../../errors.ts";
import {
  EMBEDDING_DIM,
  expectedWeights,
  NUM_MEL_BINS,
  POOLED_FREQUENCY_BINS,
  STAGE_BLOCKS,
  STAGE_CHANNELS,
  STAGE_STRIDES,
  STATS_DIM,
} from "../../native/model_layout.ts";
import type { F32Tensor } from "../safetensors.ts";
import {
  type BatchNorm,
  convToMlx,
  DEFAULT_BN_EPS,
  encodeMlxWeights,
  MLX_CONFIG,
  type Tensor,
} from "./fuse.ts";
import { ProtoMessage } from "./protobuf.ts";

/** Field numbers of the ONNX messages read here and written by `scripts/export_onnx.ts` (onnx.proto). */
export const ONNX_FIELDS = {
  model: { irVersion: 1, producerName: 2, producerVersion: 3, graph: 7, opsetImport: 8, metadataProps: 14 },
  opsetId: { domain: 1, version: 2 },
  stringEntry: { key: 1, value: 2 },
  graph: { node: 1, name: 2, initializer: 5, input: 11, output: 12, sparseInitializer: 15 },
  node: { input: 1, output: 2, name: 3, opType: 4, attribute: 5, domain: 7 },
  attribute: { name: 1, f: 2, i: 3, s: 4, t: 5, floats: 7, ints: 8, strings: 9, type: 20 },
  tensor: {
    dims: 1,
    dataType: 2,
    floatData: 4,
    int32Data: 5,
    int64Data: 7,
    name: 8,
    rawData: 9,
    doubleData: 10,
    externalData: 13,
    dataLocation: 14,
  },
  valueInfo: { name: 1, type: 2 },
  typeProto: { tensorType: 1 },
  tensorType: { elemType: 1, shape: 2 },
  shape: { dim: 1 },
  dimension: { value: 1, param: 2 },
} as const;

/** `TensorProto.DataType` values this module decodes. */
export const TensorDataType = { FLOAT: 1, INT32: 6, INT64: 7, FLOAT16: 10, DOUBLE: 11 } as const;

/** `AttributeProto.AttributeType` values this module decodes (others keep a `null` value). */
export const AttributeType = {
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
} as const;

/** `TensorProto.DataLocation.EXTERNAL`. */
const DATA_LOCATION_EXTERNAL = 1;

/**
 * Most elements (nodes, attributes, tensors, inputs and outputs, their dimensions, metadata entries)
 * {@link readOnnxModel} decodes from one file. A WeSpeaker ResNet34 has a few hundred; the cap keeps
 * a hostile file made of tiny elements from costing more than some tens of MB of objects.
 */
export const MAX_ONNX_ELEMENTS = 100_000;

/** A tensor of an ONNX file: an initializer or the value of a Constant node or attribute. */
export interface OnnxTensor {
  /** Its name (empty for an attribute's value). */
  name: string;
  /** Shape, outermost first; `[]` for a scalar. */
  dims: number[];
  /** `TensorProto.DataType`. */
  dataType: number;
  /** The values of a FLOAT, FLOAT16 or DOUBLE tensor, as float32 (DOUBLE is rounded). */
  floats?: Float32Array;
  /** The values of an INT32 or INT64 tensor. */
  ints?: number[];
}

/** One attribute of a node: `value` is a number, string, tensor or list of them, `null` for other types. */
export interface OnnxAttribute {
  /** `AttributeProto.AttributeType`. */
  type: number;
  /** The value; `null` for a type this module does not decode (graphs, sparse tensors, type protos). */
  value: number | string | OnnxTensor | number[] | string[] | null;
}

/** One node of the graph. */
export interface OnnxNode {
  /** Node name (may be empty). */
  name: string;
  /** Operator, e.g. `Conv`. */
  opType: string;
  /** Operator domain; empty for the default ONNX domain. */
  domain: string;
  /** Names of the values it reads; an empty name marks an omitted optional input. */
  inputs: string[];
  /** Names of the values it writes. */
  outputs: string[];
  /** Attributes by name. */
  attributes: Map<string, OnnxAttribute>;
}

/** A graph input or output. */
export interface OnnxValueInfo {
  /** Value name. */
  name: string;
  /** `TensorProto.DataType` of its elements; 0 when not declared. */
  elemType: number;
  /** Its dimensions (a number, or a symbolic name; `""` when unknown); `null` when not declared. */
  shape: (number | string)[] | null;
}

/** The main graph of a model. */
export interface OnnxGraph {
  /** Graph name. */
  name: string;
  /** Nodes in file order. */
  nodes: OnnxNode[];
  /** Initializers in file order. */
  initializers: OnnxTensor[];
  /** Declared inputs (older files also list the initializers here). */
  inputs: OnnxValueInfo[];
  /** Declared outputs. */
  outputs: OnnxValueInfo[];
}

/** A parsed ONNX model. */
export interface OnnxModel {
  /** `ir_version`. */
  irVersion: number;
  /** Tool that wrote the file (e.g. `pytorch`). */
  producerName: string;
  /** Its version. */
  producerVersion: string;
  /** Operator sets the graph uses; the default domain is `""`. */
  opsetImports: { domain: string; version: number }[];
  /** `metadata_props` (sherpa-onnx stores `sample_rate`, `output_dim`, … here). */
  metadata: Map<string, string>;
  /** The main graph. */
  graph: OnnxGraph;
}

function fail(context: string, problem: string): never {
  throw new WeSpeakerError("invalid-weights", `${context}: ${problem}`);
}

function shapeText(shape: readonly (number | string)[]): string {
  return `[${shape.join(", ")}]`;
}

function numElements(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** IEEE binary16 bits → number (exact). */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >>> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** A view of `raw_data` holding whole elements of `size` bytes (little-endian, as ONNX stores them). */
function rawView(raw: Uint8Array, size: number, context: string): DataView {
  if (raw.length % size !== 0) fail(context, `raw_data holds ${raw.length} bytes, not a multiple of ${size}`);
  return new DataView(raw.buffer, raw.byteOffset, raw.length);
}

function rawFloats(raw: Uint8Array, size: 2 | 4 | 8, context: string): Float32Array {
  const view = rawView(raw, size, context);
  const out = new Float32Array(raw.length / size);
  for (let i = 0, at = 0; i < out.length; i++, at += size) {
    out[i] = size === 4
      ? view.getFloat32(at, true)
      : size === 8
      ? view.getFloat64(at, true)
      : halfToFloat(view.getUint16(at, true));
  }
  return out;
}

function rawInts(raw: Uint8Array, size: 4 | 8, context: string): number[] {
  const view = rawView(raw, size, context);
  return Array.from({ length: raw.length / size }, (_, i) => {
    if (size === 4) return view.getInt32(4 * i, true);
    const value = view.getBigInt64(8 * i, true);
    if (value > Number.MAX_SAFE_INTEGER || value < Number.MIN_SAFE_INTEGER) {
      fail(context, `int64 value ${value} is out of range`);
    }
    return Number(value);
  });
}

function decodeTensor(msg: ProtoMessage, context: string): OnnxTensor {
  const F = ONNX_FIELDS.tensor;
  const name = msg.string(F.name);
  const what = `${context}${name ? ` '${name}'` : ""}`;
  const dims = msg.ints(F.dims);
  if (dims.some((d) => d < 0)) fail(what, `negative dimension in ${shapeText(dims)}`);
  if (msg.int(F.dataLocation) === DATA_LOCATION_EXTERNAL || msg.has(F.externalData)) {
    const entries = msg.messages(F.externalData, (i) => `${what} external_data ${i}`);
    const location = entries.find((e) => e.string(ONNX_FIELDS.stringEntry.key) === "location")
      ?.string(ONNX_FIELDS.stringEntry.value);
    fail(
      what,
      `keeps its data in an external file${location ? ` ('${location}')` : ""}; ` +
        "save the model with all tensors inside the .onnx file (onnx.save(..., save_as_external_data=False))",
    );
  }
  const dataType = msg.int(F.dataType);
  const raw = msg.bytes(F.rawData);
  const tensor: OnnxTensor = { name, dims, dataType };
  let count: number;
  switch (dataType) {
    case TensorDataType.FLOAT:
      tensor.floats = raw ? rawFloats(raw, 4, what) : msg.float32s(F.floatData);
      count = tensor.floats.length;
      break;
    case TensorDataType.FLOAT16:
      // Without raw_data, float16 bits travel in int32_data, one value per element.
      tensor.floats = raw
        ? rawFloats(raw, 2, what)
        : Float32Array.from(msg.ints(F.int32Data), (b) => halfToFloat(b & 0xffff));
      count = tensor.floats.length;
      break;
    case TensorDataType.DOUBLE:
      tensor.floats = raw ? rawFloats(raw, 8, what) : Float32Array.from(msg.float64s(F.doubleData));
      count = tensor.floats.length;
      break;
    case TensorDataType.INT32:
      tensor.ints = raw ? rawInts(raw, 4, what) : msg.ints(F.int32Data);
      count = tensor.ints.length;
      break;
    case TensorDataType.INT64:
      tensor.ints = raw ? rawInts(raw, 8, what) : msg.ints(F.int64Data);
      count = tensor.ints.length;
      break;
    default:
      // Kept with its shape only: the converter rejects it if it needs the values.
      return tensor;
  }
  if (count !== numElements(dims)) {
    fail(what, `holds ${count} values but its dims ${shapeText(dims)} need ${numElements(dims)}`);
  }
  return tensor;
}

/** Counts decoded elements against {@link MAX_ONNX_ELEMENTS}. */
class Budget {
  #left = MAX_ONNX_ELEMENTS;

  /** The occurrences of repeated message field `number` of `msg`, decoded, once they fit the budget. */
  messages(msg: ProtoMessage, number: number, context: (index: number) => string): ProtoMessage[] {
    this.#left -= msg.count(number);
    if (this.#left < 0) fail(msg.context, `holds more than ${MAX_ONNX_ELEMENTS} elements in all`);
    return msg.messages(number, context);
  }
}

function decodeAttribute(msg: ProtoMessage, context: string): [string, OnnxAttribute] {
  const F = ONNX_FIELDS.attribute;
  const name = msg.string(F.name);
  const what = `${context} '${name}'`;
  const type = msg.int(F.type);
  let value: OnnxAttribute["value"] = null;
  switch (type) {
    case AttributeType.FLOAT:
      value = msg.float32(F.f);
      break;
    case AttributeType.INT:
      value = msg.int(F.i);
      break;
    case AttributeType.STRING:
      value = msg.string(F.s);
      break;
    case AttributeType.TENSOR: {
      const t = msg.message(F.t, `${what} tensor`);
      if (!t) fail(what, "TENSOR attribute without a tensor");
      value = decodeTensor(t, `${what} tensor`);
      break;
    }
    case AttributeType.FLOATS:
      value = Array.from(msg.float32s(F.floats));
      break;
    case AttributeType.INTS:
      value = msg.ints(F.ints);
      break;
    case AttributeType.STRINGS:
      value = msg.strings(F.strings);
      break;
  }
  return [name, { type, value }];
}

function decodeNode(msg: ProtoMessage, context: string, budget: Budget): OnnxNode {
  const F = ONNX_FIELDS.node;
  const name = msg.string(F.name);
  const what = `${context}${name ? ` '${name}'` : ""}`;
  const attributes = new Map<string, OnnxAttribute>();
  for (const a of budget.messages(msg, F.attribute, (i) => `${what} attribute ${i}`)) {
    const [key, attribute] = decodeAttribute(a, `${what} attribute`);
    attributes.set(key, attribute);
  }
  return {
    name,
    opType: msg.string(F.opType),
    domain: msg.string(F.domain),
    inputs: msg.strings(F.input),
    outputs: msg.strings(F.output),
    attributes,
  };
}

function decodeValueInfo(msg: ProtoMessage, context: string, budget: Budget): OnnxValueInfo {
  const name = msg.string(ONNX_FIELDS.valueInfo.name);
  const what = `${context} '${name}'`;
  const tensorType = msg.message(ONNX_FIELDS.valueInfo.type, `${what} type`)
    ?.message(ONNX_FIELDS.typeProto.tensorType, `${what} tensor type`);
  const shape = tensorType?.message(ONNX_FIELDS.tensorType.shape, `${what} shape`);
  return {
    name,
    elemType: tensorType?.int(ONNX_FIELDS.tensorType.elemType) ?? 0,
    shape: shape
      ? budget.messages(shape, ONNX_FIELDS.shape.dim, (i) => `${what} dim ${i}`).map((d) =>
        d.has(ONNX_FIELDS.dimension.value)
          ? d.int(ONNX_FIELDS.dimension.value)
          : d.string(ONNX_FIELDS.dimension.param)
      )
      : null,
  };
}

/**
 * Parses an ONNX model file. Tensor data is copied out as float32 (FLOAT, FLOAT16, DOUBLE) or
 * integers (INT32, INT64); tensors of other types keep only their name, type and shape.
 *
 * @param bytes the whole `.onnx` file
 * @param source its name, for error messages
 * @throws {WeSpeakerError} `invalid-weights` when the bytes are not an ONNX model, are corrupt, or a
 *   tensor keeps its data in an external file
 */
export function readOnnxModel(bytes: Uint8Array, source = "model.onnx"): OnnxModel {
  const context = `${source}: not a valid ONNX ModelProto`;
  const model = ProtoMessage.decode(bytes, context);
  const M = ONNX_FIELDS.model;
  if (!model.has(M.graph) || model.int(M.irVersion) <= 0) {
    fail(source, "not an ONNX model (no ir_version or no graph)");
  }
  const graph = model.message(M.graph, `${source}: graph`)!;
  const G = ONNX_FIELDS.graph;
  if (graph.has(G.sparseInitializer)) fail(`${source}: graph`, "sparse initializers are not supported");
  const metadata = new Map<string, string>();
  const budget = new Budget();
  for (const entry of budget.messages(model, M.metadataProps, (i) => `${source}: metadata_props ${i}`)) {
    metadata.set(entry.string(ONNX_FIELDS.stringEntry.key), entry.string(ONNX_FIELDS.stringEntry.value));
  }
  return {
    irVersion: model.int(M.irVersion),
    producerName: model.string(M.producerName),
    producerVersion: model.string(M.producerVersion),
    opsetImports: budget.messages(model, M.opsetImport, (i) => `${source}: opset_import ${i}`).map((o) => ({
      domain: o.string(ONNX_FIELDS.opsetId.domain),
      version: o.int(ONNX_FIELDS.opsetId.version),
    })),
    metadata,
    graph: {
      name: graph.string(G.name),
      nodes: budget.messages(graph, G.node, (i) => `${source}: node ${i}`).map((n) =>
        decodeNode(n, n.context, budget)
      ),
      initializers: budget.messages(graph, G.initializer, (i) => `${source}: initializer ${i}`).map((t) =>
        decodeTensor(t, t.context)
      ),
      inputs: budget.messages(graph, G.input, (i) => `${source}: input ${i}`).map((v) =>
        decodeValueInfo(v, v.context, budget)
      ),
      outputs: budget.messages(graph, G.output, (i) => `${source}: output ${i}`).map((v) =>
        decodeValueInfo(v, v.context, budget)
      ),
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Graph → MLX tensors

/** What is known about a value while the graph is followed from its input. */
type ValueKind =
  /** An initializer or Constant output. */
  | { kind: "const"; tensor: OnnxTensor }
  /** Computed from constants and shapes only (e.g. the frame count of the unbiased variance). */
  | { kind: "meta" }
  /** An activation: its axes by meaning, and whether a Sqrt lies on its path (the std branch). */
  | { kind: "data"; axes: string[]; sqrt: boolean }
  /** The output of the final layer: its weight `[256, 5120]` in this library's order, and its bias. */
  | { kind: "embedding"; weight: Float32Array; bias: Float64Array };

type Data = Extract<ValueKind, { kind: "data" }>;

/** Axis labels: batch, channels, frequency, time, a kept size-1 axis; flattened groups are joined. */
const STATS_PREFIX = "stats:";

function nodeText(node: OnnxNode): string {
  return `${node.opType} node '${node.name || node.outputs[0]}'`;
}

function axesText(axes: readonly string[]): string {
  return `(${axes.join(", ")})`;
}

/** Appends `item` to the list kept under `key`. */
function push<K, V>(map: Map<K, V[]>, key: K, item: V): void {
  const list = map.get(key);
  if (list) list.push(item);
  else map.set(key, [item]);
}

/** Nodes in an order where every value is written before it is read (Kahn's algorithm). */
function topologicalOrder(graph: OnnxGraph, source: string): OnnxNode[] {
  const available = new Set<string>([
    "",
    ...graph.initializers.map((t) => t.name),
    ...graph.inputs.map((v) => v.name),
  ]);
  const waiting = new Map<string, OnnxNode[]>();
  const missing = new Map<OnnxNode, number>();
  const ready: OnnxNode[] = [];
  for (const node of graph.nodes) {
    const needed = new Set(node.inputs.filter((name) => !available.has(name)));
    missing.set(node, needed.size);
    for (const name of needed) push(waiting, name, node);
    if (needed.size === 0) ready.push(node);
  }
  const order: OnnxNode[] = [];
  for (let i = 0; i < ready.length; i++) {
    const node = ready[i];
    order.push(node);
    for (const name of node.outputs) {
      if (available.has(name)) continue;
      available.add(name);
      for (const next of waiting.get(name) ?? []) {
        const left = missing.get(next)! - 1;
        missing.set(next, left);
        if (left === 0) ready.push(next);
      }
    }
  }
  if (order.length !== graph.nodes.length) {
    const stuck = graph.nodes.find((n) => missing.get(n)! > 0)!;
    const name = stuck.inputs.find((i) => !available.has(i));
    fail(
      source,
      `${nodeText(stuck)} reads '${name}', which no node, initializer or input provides (or a cycle)`,
    );
  }
  return order;
}

/** Reads attributes with type checks; every problem names the node. */
class Attributes {
  readonly #node: OnnxNode;
  readonly #source: string;

  constructor(node: OnnxNode, source: string) {
    this.#node = node;
    this.#source = source;
  }

  /** Attribute `name`, which must have type `type` when present. */
  get(name: string, type: number): OnnxAttribute["value"] | undefined {
    const a = this.#node.attributes.get(name);
    if (a === undefined) return undefined;
    if (a.type !== type) {
      fail(this.#source, `${nodeText(this.#node)}: attribute '${name}' has type ${a.type}, expected ${type}`);
    }
    return a.value;
  }

  int(name: string, fallback: number): number {
    return (this.get(name, AttributeType.INT) as number | undefined) ?? fallback;
  }

  ints(name: string): number[] | undefined {
    return this.get(name, AttributeType.INTS) as number[] | undefined;
  }

  float(name: string, fallback: number): number {
    return (this.get(name, AttributeType.FLOAT) as number | undefined) ?? fallback;
  }

  string(name: string, fallback: string): string {
    return (this.get(name, AttributeType.STRING) as string | undefined) ?? fallback;
  }
}

/** The graph with its values' kinds, and the lookups the converter needs. */
class Analysis {
  readonly values = new Map<string, ValueKind>();
  readonly consumers = new Map<string, OnnxNode[]>();
  readonly order: OnnxNode[];
  readonly #source: string;

  constructor(graph: OnnxGraph, source: string) {
    this.#source = source;
    this.order = topologicalOrder(graph, source);
    for (const t of graph.initializers) this.values.set(t.name, { kind: "const", tensor: t });
    for (const node of this.order) {
      for (const name of new Set(node.inputs)) if (name !== "") push(this.consumers, name, node);
      // Constants known before the graph is followed, so that a Conv weight may come from a Constant
      // node, or through an Identity (which exporters insert for shared parameters).
      const input = this.values.get(node.inputs[0]);
      const tensor = node.opType === "Constant"
        ? constantValue(this.attributes(node))
        : node.opType === "Identity" && input?.kind === "const"
        ? input.tensor
        : undefined;
      if (tensor) { for (const name of node.outputs) this.values.set(name, { kind: "const", tensor }); }
    }
  }

  fail(problem: string): never {
    return fail(this.#source, problem);
  }

  attributes(node: OnnxNode): Attributes {
    return new Attributes(node, this.#source);
  }

  consumersOf(name: string): OnnxNode[] {
    return this.consumers.get(name) ?? [];
  }

  /** Input `index` of `node`, which must be an initializer or a Constant (possibly through Identity). */
  constant(node: OnnxNode, index: number, role: string): OnnxTensor {
    const name = node.inputs[index];
    const v = name ? this.values.get(name) : undefined;
    if (v?.kind !== "const") {
      this.fail(`${nodeText(node)}: its ${role} ('${name ?? ""}') is not an initializer or Constant`);
    }
    return v.tensor;
  }

  /** {@link constant}, which must hold floats. */
  floats(node: OnnxNode, index: number, role: string): Tensor {
    const t = this.constant(node, index, role);
    if (!t.floats) {
      this.fail(`${nodeText(node)}: its ${role} '${t.name}' has data type ${t.dataType}, not a float type`);
    }
    return { shape: t.dims, data: t.floats };
  }

  /** {@link constant}, which must hold integers. */
  ints(node: OnnxNode, index: number, role: string): number[] {
    const t = this.constant(node, index, role);
    if (!t.ints) {
      this.fail(
        `${nodeText(node)}: its ${role} '${t.name}' has data type ${t.dataType}, not an integer type`,
      );
    }
    return t.ints;
  }
}

/** The axes a reduction or Unsqueeze names: from input 1 (newer opsets) or the `axes` attribute. */
function axesOf(a: Analysis, node: OnnxNode): number[] {
  const axes = node.inputs[1] ? a.ints(node, 1, "axes") : a.attributes(node).ints("axes");
  if (axes === undefined || axes.length === 0) a.fail(`${nodeText(node)} does not name its axes`);
  return axes;
}

/** Axes made non-negative for a tensor of rank `rank`. */
function normalizeAxes(a: Analysis, node: OnnxNode, axes: readonly number[], rank: number): number[] {
  return axes.map((x) => {
    const axis = x < 0 ? x + rank : x;
    if (axis < 0 || axis >= rank) a.fail(`${nodeText(node)}: axis ${x} is out of range for rank ${rank}`);
    return axis;
  });
}

/** `(B, C, F')` or `(B, F', C)` (size-1 axes ignored) flattened to `(B, "CF")` or `(B, "FC")`. */
function flattenAxes(a: Analysis, node: OnnxNode, axes: readonly string[]): string[] {
  const rest = axes.slice(1).filter((x) => x !== "1");
  if (axes[0] !== "B" || rest.length !== 2 || !rest.includes("C") || !rest.includes("F")) {
    a.fail(`${nodeText(node)} flattens ${axesText(axes)}; expected (B, C, F') after pooling over time`);
  }
  return ["B", rest.join("")];
}

/** Elementwise result of data inputs (numpy broadcasting, same rank); constants must be scalars. */
function broadcast(a: Analysis, node: OnnxNode, inputs: (ValueKind | undefined)[]): Data {
  let axes: string[] | undefined;
  let sqrt = false;
  for (const v of inputs) {
    if (v?.kind === "const" && numElements(v.tensor.dims) !== 1) {
      a.fail(
        `${nodeText(node)} combines an activation with the ${
          shapeText(v.tensor.dims)
        } constant '${v.tensor.name}'; expected a scalar`,
      );
    }
    if (v?.kind !== "data") continue;
    sqrt ||= v.sqrt;
    if (axes === undefined) {
      axes = [...v.axes];
      continue;
    }
    if (v.axes.length !== axes.length) {
      a.fail(`${nodeText(node)} combines ${axesText(axes)} with ${axesText(v.axes)}`);
    }
    axes = axes.map((x, i) => {
      const y = v.axes[i];
      if (x === y || y === "1") return x;
      if (x === "1") return y;
      return a.fail(`${nodeText(node)} combines ${axesText(axes!)} with ${axesText(v.axes)}`);
    });
  }
  return { kind: "data", axes: axes!, sqrt };
}

/**
 * The final layer's weight as `[256, 5120]` in this library's `(statistic, C, F')` column order, from
 * the graph's `[256, 5120]` weight (`[5120, 256]` when `transposed`) whose columns are in `order`
 * (`"CF"` or `"FC"`).
 */
function embeddingWeight(
  a: Analysis,
  node: OnnxNode,
  w: Tensor,
  transposed: boolean,
  order: string,
): Float32Array {
  const [E, S] = expectedWeights().find((s) => s.name === "embedding.weight")!.shape;
  const want = transposed ? [S, E] : [E, S];
  if (w.shape.length !== 2 || w.shape[0] !== want[0] || w.shape[1] !== want[1]) {
    a.fail(`${nodeText(node)} has weight shape ${shapeText(w.shape)}, expected ${shapeText(want)}`);
  }
  const half = S / 2;
  const C = STAGE_CHANNELS[STAGE_CHANNELS.length - 1];
  const Fp = POOLED_FREQUENCY_BINS;
  const out = new Float32Array(E * S);
  for (let e = 0; e < E; e++) {
    for (let s = 0; s < S; s++) {
      // Column s of ours is (statistic, c, f); in "FC" order the same input sits at (statistic, f, c).
      let src = s;
      if (order === "FC") {
        const stat = Math.floor(s / half);
        const c = Math.floor((s % half) / Fp);
        const f = s % Fp;
        src = stat * half + f * C + c;
      }
      out[e * S + s] = transposed ? w.data[src * E + e] : w.data[e * S + src];
    }
  }
  return out;
}

/**
 * The value of a Constant node, in any of its numeric forms (`value` from torch.onnx.export,
 * `value_ints` and friends from the dynamo exporter); `undefined` for the others (sparse, strings).
 */
function constantValue(attrs: Attributes): OnnxTensor | undefined {
  const value = attrs.get("value", AttributeType.TENSOR) as OnnxTensor | undefined;
  if (value) return value;
  const { FLOAT, INT64 } = TensorDataType;
  const forms = [
    ["value_float", AttributeType.FLOAT, FLOAT],
    ["value_floats", AttributeType.FLOATS, FLOAT],
    ["value_int", AttributeType.INT, INT64],
    ["value_ints", AttributeType.INTS, INT64],
  ] as const;
  for (const [name, type, dataType] of forms) {
    const v = attrs.get(name, type) as number | number[] | undefined;
    if (v === undefined) continue;
    const list = typeof v === "number" ? [v] : v;
    const dims = typeof v === "number" ? [] : [v.length];
    return dataType === FLOAT
      ? { name: "", dims, dataType, floats: Float32Array.from(list) }
      : { name: "", dims, dataType, ints: list };
  }
  return undefined;
}

/** A constant added to (or subtracted from) the embedding, e.g. wespeaker's `mean_vec`: folded into the bias. */
function followEmbedding(
  a: Analysis,
  node: OnnxNode,
  inputs: (ValueKind | undefined)[],
  embedding: Extract<ValueKind, { kind: "embedding" }>,
): ValueKind {
  const [p, q] = inputs;
  const other = p === embedding ? q : p;
  const sign = node.opType === "Add" ? 1 : node.opType === "Sub" && p === embedding ? -1 : 0;
  if (inputs.length !== 2 || other?.kind !== "const" || !other.tensor.floats || sign === 0) {
    a.fail(`${nodeText(node)} transforms the embedding; only adding or subtracting a constant is supported`);
  }
  const c = other.tensor.floats;
  if (c.length !== 1 && c.length !== embedding.bias.length) {
    a.fail(`${nodeText(node)} adds a ${shapeText(other.tensor.dims)} constant to the embedding`);
  }
  const bias = embedding.bias.map((b, i) => b + sign * c[c.length === 1 ? 0 : i]);
  return { kind: "embedding", weight: embedding.weight, bias };
}

/** The final Gemm (or MatMul) on the pooled statistics `x`, flattened in `order` (`"CF"` or `"FC"`). */
function finalLayer(a: Analysis, node: OnnxNode, order: string): ValueKind {
  const attrs = a.attributes(node);
  let transposed = true;
  let bias = new Float64Array(EMBEDDING_DIM);
  if (node.opType === "Gemm") {
    for (const name of ["alpha", "beta"]) {
      const value = attrs.float(name, 1);
      if (value !== 1) a.fail(`${nodeText(node)} has ${name} ${value}, expected 1`);
    }
    if (attrs.int("transA", 0) !== 0) a.fail(`${nodeText(node)} has transA 1, expected 0`);
    transposed = attrs.int("transB", 0) === 0;
    if (node.inputs[2]) {
      const c = a.floats(node, 2, "bias");
      if (numElements(c.shape) !== EMBEDDING_DIM || c.shape.at(-1) !== EMBEDDING_DIM) {
        a.fail(`${nodeText(node)} has bias shape ${shapeText(c.shape)}, expected [${EMBEDDING_DIM}]`);
      }
      bias = Float64Array.from(c.data);
    }
  }
  const weight = embeddingWeight(a, node, a.floats(node, 1, "weight"), transposed, order);
  return { kind: "embedding", weight, bias };
}

/** What `node` makes of the activations it reads (see the module documentation for the rules). */
function followActivation(a: Analysis, node: OnnxNode, inputs: (ValueKind | undefined)[]): ValueKind {
  const attrs = a.attributes(node);
  if (["Add", "Sub", "Mul", "Div", "Pow"].includes(node.opType)) return broadcast(a, node, inputs);
  const x = inputs[0];
  if (x?.kind !== "data") return a.fail(`${nodeText(node)} reads an activation in an unexpected position`);
  const { axes } = x;
  switch (node.opType) {
    case "Conv": {
      const [b, c, f, t] = axes;
      if (axes.length !== 4 || b !== "B" || (c !== "C" && c !== "1") || f !== "F" || t !== "T") {
        a.fail(
          `${nodeText(node)} reads a ${axesText(axes)} tensor; expected (B, C, F, T), frequency before time`,
        );
      }
      return { kind: "data", axes: ["B", "C", "F", "T"], sqrt: false };
    }
    case "BatchNormalization":
    case "Relu":
    case "Identity":
      return x;
    case "Sqrt":
      return { ...x, sqrt: true };
    case "Transpose": {
      const rank = axes.length;
      const perm = attrs.ints("perm") ?? axes.map((_, i) => rank - 1 - i);
      if (perm.length !== rank || new Set(perm).size !== rank || perm.some((p) => p < 0 || p >= rank)) {
        a.fail(`${nodeText(node)} has perm ${shapeText(perm)} for a rank-${rank} tensor`);
      }
      return { ...x, axes: perm.map((p) => axes[p]) };
    }
    case "Unsqueeze": {
      const inserted = axesOf(a, node);
      const out = [...axes];
      for (
        const axis of normalizeAxes(a, node, inserted, axes.length + inserted.length).sort((p, q) => p - q)
      ) {
        out.splice(axis, 0, "1");
      }
      return { ...x, axes: out };
    }
    case "ReduceMean":
    case "ReduceSum": {
      const reduced = normalizeAxes(a, node, axesOf(a, node), axes.length);
      if (reduced.length !== 1 || axes[reduced[0]] !== "T") {
        const names = shapeText(reduced.map((i) => axes[i]));
        a.fail(`${nodeText(node)} reduces axes ${names} of ${axesText(axes)}; expected time only`);
      }
      const keep = attrs.int("keepdims", 1) !== 0;
      return { ...x, axes: keep ? axes.map((n) => (n === "T" ? "1" : n)) : axes.filter((n) => n !== "T") };
    }
    case "Flatten": {
      const axis = attrs.int("axis", 1);
      if (axis !== 1) a.fail(`${nodeText(node)} has axis ${axis}; expected 1`);
      return { ...x, axes: flattenAxes(a, node, axes) };
    }
    case "Reshape": {
      const shape = a.ints(node, 1, "shape");
      // (B, C, F') → (B, C·F'): 0 copies the batch size, -1 infers a size.
      const flat = shape.length === 2 && (shape[0] === 0 || shape[0] === -1) &&
        (shape[1] === STATS_DIM / 2 || shape[1] === -1) && shape.join() !== "-1,-1";
      if (!flat) {
        a.fail(`${nodeText(node)} reshapes ${axesText(axes)} to ${shapeText(shape)}; expected [0, -1]`);
      }
      return { ...x, axes: flattenAxes(a, node, axes) };
    }
    case "Concat": {
      const std = inputs[1];
      const axis = attrs.int("axis", 0);
      const ok = inputs.length === 2 && std?.kind === "data" && axes.length === 2 && axes[0] === "B" &&
        (axes[1] === "CF" || axes[1] === "FC") && std.axes.join() === axes.join() && !x.sqrt && std.sqrt &&
        (axis === 1 || axis === -1);
      if (!ok) {
        const found = inputs.map((v) =>
          v?.kind === "data" ? `${axesText(v.axes)}${v.sqrt ? " via Sqrt" : ""}` : v?.kind
        )
          .join(" and ");
        a.fail(
          `${nodeText(node)} concatenates ${found} on axis ${axis}; ` +
            "expected the flattened mean, then the standard deviation (via Sqrt), on axis 1",
        );
      }
      return { kind: "data", axes: ["B", STATS_PREFIX + axes[1]], sqrt: true };
    }
    case "Gemm":
    case "MatMul":
      if (axes.length !== 2 || !axes[1].startsWith(STATS_PREFIX)) {
        a.fail(`${nodeText(node)} reads ${axesText(axes)}; expected the pooled statistics`);
      }
      return finalLayer(a, node, axes[1].slice(STATS_PREFIX.length));
  }
  const op = `${node.domain ? `${node.domain}.` : ""}${node.opType}`;
  return a.fail(`${nodeText(node)}: operator ${op} is not part of a WeSpeaker ResNet34`);
}

/**
 * Follows every value from the graph input (axes `(B, T, F)`) to the output, which must be the
 * embedding: returns the final layer's weight and bias.
 */
function traceAxes(a: Analysis, input: string, output: string): { weight: Float32Array; bias: Float64Array } {
  a.values.set(input, { kind: "data", axes: ["B", "T", "F"], sqrt: false });
  let last: OnnxNode | undefined;
  for (const node of a.order) {
    const inputs = node.inputs.map((name) => (name === "" ? undefined : a.values.get(name)));
    const embedding = inputs.find((v) => v?.kind === "embedding");
    if (node.outputs.length > 0 && node.outputs.every((name) => a.values.get(name)?.kind === "const")) {
      continue;
    }
    let value: ValueKind;
    if (node.opType === "Constant") {
      value = { kind: "meta" };
    } else if (embedding?.kind === "embedding") {
      value = followEmbedding(a, node, inputs, embedding);
    } else if (node.opType === "Shape" || !inputs.some((v) => v?.kind === "data")) {
      value = { kind: "meta" };
    } else {
      value = followActivation(a, node, inputs);
      if (value.kind === "embedding") {
        if (last) a.fail(`${nodeText(node)} is a second final layer (after ${nodeText(last)})`);
        last = node;
      }
    }
    for (const name of node.outputs) a.values.set(name, value);
  }
  const result = a.values.get(output);
  if (result?.kind !== "embedding") {
    a.fail(`graph output '${output}' is not computed by a final Gemm/MatMul on the pooled statistics`);
  }
  return { weight: result.weight, bias: result.bias };
}

/** Maps the 36 Conv nodes (and their BatchNormalizations) to the MLX tensors by following the blocks. */
function mapTrunk(a: Analysis): Record<string, F32Tensor> {
  const specs = new Map(expectedWeights().map((s) => [s.name, s.shape]));
  const convCount = [...specs.keys()].filter((n) => n.endsWith(".weight") && n !== "embedding.weight").length;
  const convs = a.order.filter((n) => n.opType === "Conv");
  if (convs.length !== convCount) a.fail(`expected ${convCount} Conv nodes, found ${convs.length}`);

  const tensors: Record<string, F32Tensor> = {};
  const trunk = new Set<OnnxNode>();
  const only = (value: string, opType: string, what: string): OnnxNode => {
    const users = a.consumersOf(value);
    if (users.length !== 1 || users[0].opType !== opType) {
      a.fail(
        `${what} ('${value}') should feed a single ${opType}, but feeds ${
          users.map(nodeText).join(", ") || "nothing"
        }`,
      );
    }
    trunk.add(users[0]);
    return users[0];
  };
  const conv = (node: OnnxNode, layer: string, stride: number): string => {
    const [O, kH, kW, I] = specs.get(`${layer}.weight`)!;
    const want = [O, I, kH, kW];
    const weight = a.floats(node, 1, "weight");
    if (shapeText(weight.shape) !== shapeText(want)) {
      a.fail(
        `${nodeText(node)} (${layer}) has weight shape ${shapeText(weight.shape)}, expected ${
          shapeText(want)
        }`,
      );
    }
    const attrs = a.attributes(node);
    const expect = (name: string, actual: readonly number[] | undefined, value: readonly number[]) => {
      if (actual !== undefined && shapeText(actual) !== shapeText(value)) {
        a.fail(`${nodeText(node)} (${layer}) has ${name} ${shapeText(actual)}, expected ${shapeText(value)}`);
      }
    };
    const pad = (kH - 1) / 2;
    expect("kernel_shape", attrs.ints("kernel_shape"), [kH, kW]);
    expect("strides", attrs.ints("strides") ?? [1, 1], [stride, stride]);
    expect("pads", attrs.ints("pads") ?? [0, 0, 0, 0], [pad, pad, pad, pad]);
    expect("dilations", attrs.ints("dilations"), [1, 1]);
    expect("group", [attrs.int("group", 1)], [1]);
    if (attrs.string("auto_pad", "NOTSET") !== "NOTSET") {
      a.fail(`${nodeText(node)} (${layer}) uses auto_pad; expected explicit pads`);
    }
    let bias: Tensor | undefined;
    if (node.inputs[2]) {
      bias = a.floats(node, 2, "bias");
      if (shapeText(bias.shape) !== shapeText([O])) {
        a.fail(`${nodeText(node)} (${layer}) has bias shape ${shapeText(bias.shape)}, expected [${O}]`);
      }
    }
    trunk.add(node);
    let out = node.outputs[0];
    let bn: BatchNorm | undefined;
    let eps = DEFAULT_BN_EPS;
    const users = a.consumersOf(out);
    if (users.some((u) => u.opType === "BatchNormalization")) {
      const norm = only(out, "BatchNormalization", `the output of ${nodeText(node)} (${layer})`);
      const bnAttrs = a.attributes(norm);
      if (bnAttrs.int("training_mode", 0) !== 0 || norm.outputs.length > 1) {
        a.fail(`${nodeText(norm)} is in training mode; export the model in eval mode`);
      }
      const param = (index: number, role: string): Tensor => {
        const t = a.floats(norm, index, role);
        if (shapeText(t.shape) !== shapeText([O])) {
          a.fail(`${nodeText(norm)} (${layer}) has ${role} shape ${shapeText(t.shape)}, expected [${O}]`);
        }
        return t;
      };
      bn = {
        weight: param(1, "scale"),
        bias: param(2, "bias"),
        runningMean: param(3, "mean"),
        runningVar: param(4, "variance"),
      };
      eps = bnAttrs.float("epsilon", DEFAULT_BN_EPS);
      out = norm.outputs[0];
    }
    const fused = convToMlx(weight, bias, bn, eps);
    tensors[`${layer}.weight`] = fused.weight;
    tensors[`${layer}.bias`] = fused.bias;
    return out;
  };
  const relu = (value: string, what: string) => only(value, "Relu", what).outputs[0];

  let x = relu(conv(convs[0], "conv1", 1), "the stem");
  for (let stage = 0; stage < STAGE_BLOCKS.length; stage++) {
    for (let block = 0; block < STAGE_BLOCKS[stage]; block++) {
      const prefix = `layer${stage + 1}.${block}`;
      const hasShortcut = specs.has(`${prefix}.shortcut.weight`);
      const stride = block === 0 ? STAGE_STRIDES[stage] : 1;
      // Told apart by where they lead, not by shape (shapes are checked next): conv1 goes (through
      // its BatchNormalization, if any) to a ReLU, the shortcut to the residual Add.
      const users = a.consumersOf(x);
      const leadsTo = (n: OnnxNode, opType: string) => {
        const next = a.consumersOf(n.outputs[0]);
        const bn = next.length === 1 && next[0].opType === "BatchNormalization";
        return n.opType === "Conv" &&
          (bn ? a.consumersOf(next[0].outputs[0]) : next).some((u) => u.opType === opType);
      };
      const conv1 = users.find((n) => leadsTo(n, "Relu"));
      const shortcut = users.find((n) => leadsTo(n, "Add"));
      const addUser = users.find((n) => n.opType === "Add");
      if (users.length !== 2 || !conv1 || (hasShortcut ? !shortcut : !addUser)) {
        const found = users.map(nodeText).join(", ") || "nothing";
        const want = hasShortcut ? "a shortcut Conv" : "the residual Add";
        a.fail(`block ${prefix}: its input '${x}' feeds ${found}; expected conv1 and ${want}`);
      }
      const h = relu(conv(conv1, `${prefix}.conv1`, stride), `${prefix}.conv1`);
      const conv2 = only(h, "Conv", `the ReLU after ${prefix}.conv1`);
      const main = conv(conv2, `${prefix}.conv2`, 1);
      const residual = hasShortcut ? conv(shortcut!, `${prefix}.shortcut`, stride) : x;
      const add = only(main, "Add", `${prefix}.conv2`);
      if (add.inputs.length !== 2 || !add.inputs.includes(residual)) {
        a.fail(
          `${nodeText(add)} (${prefix}) adds ${
            add.inputs.join(" and ")
          }; expected '${main}' and the shortcut '${residual}'`,
        );
      }
      x = relu(add.outputs[0], `the residual sum of ${prefix}`);
    }
  }
  for (const node of trunk) {
    for (const value of node.outputs) {
      if (value === x) continue;
      const outside = a.consumersOf(value).find((n) => !trunk.has(n));
      if (outside) a.fail(`'${value}' inside the ResNet trunk is also read by ${nodeText(outside)}`);
    }
  }
  const stray = a.order.find((n) => n.opType === "BatchNormalization" && !trunk.has(n));
  if (stray) a.fail(`${nodeText(stray)} does not directly follow a Conv`);
  return tensors;
}

/**
 * Converts a WeSpeaker ResNet34 ONNX model to this library's MLX tensors and safetensors bytes (see
 * the module documentation for what is checked). Deterministic: the same file gives the same bytes.
 *
 * @param bytes the whole `.onnx` file
 * @param source its name, for error messages
 * @returns the tensors, the `.safetensors` bytes and the `config.json` object
 * @throws {WeSpeakerError} `invalid-weights` naming the node, value or shape that does not fit
 */
export function convertOnnx(
  bytes: Uint8Array,
  source = "model.onnx",
): { tensors: Record<string, F32Tensor>; safetensors: Uint8Array; config: typeof MLX_CONFIG } {
  const model = readOnnxModel(bytes, source);
  const { graph } = model;
  const initializers = new Set(graph.initializers.map((t) => t.name));
  const inputs = graph.inputs.filter((v) => !initializers.has(v.name));
  if (inputs.length !== 1 || graph.outputs.length !== 1) {
    fail(source, `expected one input and one output, found ${inputs.length} and ${graph.outputs.length}`);
  }
  const [input] = inputs;
  const bins = input.shape?.[2];
  if (input.shape && (input.shape.length !== 3 || (typeof bins === "number" && bins !== NUM_MEL_BINS))) {
    fail(
      source,
      `input '${input.name}' has shape ${shapeText(input.shape)}, expected [B, T, ${NUM_MEL_BINS}]`,
    );
  }
  const analysis = new Analysis(graph, source);
  const trunk = mapTrunk(analysis);
  const { weight, bias } = traceAxes(analysis, input.name, graph.outputs[0].name);
  const tensors: Record<string, F32Tensor> = {};
  for (const spec of expectedWeights()) {
    tensors[spec.name] = spec.name === "embedding.weight"
      ? { dtype: "F32", shape: spec.shape, data: weight }
      : spec.name === "embedding.bias"
      ? { dtype: "F32", shape: spec.shape, data: Float32Array.from(bias) }
      : trunk[spec.name];
  }
  for (const [name, t] of Object.entries(tensors)) {
    const bad = t.data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) fail(source, `tensor '${name}' holds a non-finite value at index ${bad}`);
  }
  return { tensors, safetensors: encodeMlxWeights(tensors, "onnx"), config: MLX_CONFIG };
}
