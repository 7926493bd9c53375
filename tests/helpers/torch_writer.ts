// Writes PyTorch checkpoints in torch.save's zip format, in TypeScript, so that the converter tests can
// build full-size checkpoints at test time (too large to commit) without Python. The layout is the one
// scripts/reference/make_checkpoints.py writes, which follows torch: a protocol-2 pickle whose tensors
// reduce to torch._utils._rebuild_tensor_v2 over persistent-id storages, in a STORED zip with 64-byte
// aligned data. Also the deterministic full-size random WeSpeaker state dict of tests/fixtures/unfused.json.
import { crc32 } from "../../lib/hub/convert/zip.ts";
import { expectedWeights } from "../../lib/native/model_layout.ts";
import { DEFAULT_WEIGHTS_SEED, generateWeights, Rng } from "../../scripts/generate_weights.ts";
import { tensorsOf } from "./weights.ts";

/** A Python tuple. */
export class Tuple {
  constructor(readonly items: PickleValue[]) {}
}

/** A Python float whose value is integral (a plain integral `number` is pickled as an int). */
export class Float {
  constructor(readonly value: number) {}
}

/**
 * An object pickled as `GLOBAL module name`, its arguments, then `NEWOBJ` (an instance: `cls.__new__`)
 * or `REDUCE` (a call), then its dict items (`SETITEMS`) and its state (`BUILD`).
 */
export class Instance {
  constructor(
    readonly module: string,
    readonly name: string,
    readonly args: PickleValue[] = [],
    readonly options: { newobj?: boolean; items?: Map<string, PickleValue>; state?: PickleValue } = {},
  ) {}
}

/** A tensor with a contiguous storage of its own. */
export class TensorValue {
  constructor(
    readonly dtype: "float32" | "int64",
    readonly shape: number[],
    readonly data: Float32Array | BigInt64Array,
  ) {
    if (data.length !== shape.reduce((a, b) => a * b, 1)) {
      throw new Error(`shape [${shape}] ≠ ${data.length}`);
    }
  }
}

/** What {@link encodeTorchZip} can pickle. A `Map` is a plain dict; an array is a list. */
export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | PickleValue[]
  | Map<string, PickleValue>
  | Tuple
  | Float
  | Instance
  | TensorValue;

/** The `collections.OrderedDict` holding `items`, with `state` (e.g. a state dict's `_metadata`). */
export function orderedDict(items: Map<string, PickleValue>, state?: PickleValue): Instance {
  return new Instance("collections", "OrderedDict", [], { items, state });
}

/** Little-endian byte output. */
class ByteWriter {
  #chunks: Uint8Array[] = [];
  #length = 0;

  get length(): number {
    return this.#length;
  }

  bytes(data: Uint8Array | number[]): void {
    const chunk = Uint8Array.from(data);
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  #fixed(size: number, set: (view: DataView) => void): void {
    const chunk = new Uint8Array(size);
    set(new DataView(chunk.buffer));
    this.bytes(chunk);
  }

  u16(n: number): void {
    this.#fixed(2, (v) => v.setUint16(0, n, true));
  }

  u32(n: number): void {
    this.#fixed(4, (v) => v.setUint32(0, n, true));
  }

  i32(n: number): void {
    this.#fixed(4, (v) => v.setInt32(0, n, true));
  }

  u64(n: number): void {
    this.#fixed(8, (v) => v.setBigUint64(0, BigInt(n), true));
  }

  f64be(n: number): void {
    this.#fixed(8, (v) => v.setFloat64(0, n, false));
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.#length);
    let at = 0;
    for (const chunk of this.#chunks) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }
}

const OP = {
  MARK: 0x28,
  STOP: 0x2e,
  BININT: 0x4a,
  BININT1: 0x4b,
  BININT2: 0x4d,
  NONE: 0x4e,
  BINPERSID: 0x51,
  REDUCE: 0x52,
  BINUNICODE: 0x58,
  EMPTY_LIST: 0x5d,
  APPEND: 0x61,
  BUILD: 0x62,
  GLOBAL: 0x63,
  APPENDS: 0x65,
  BINGET: 0x68,
  LONG_BINGET: 0x6a,
  BINPUT: 0x71,
  LONG_BINPUT: 0x72,
  SETITEM: 0x73,
  TUPLE: 0x74,
  SETITEMS: 0x75,
  EMPTY_DICT: 0x7d,
  EMPTY_TUPLE: 0x29,
  BINFLOAT: 0x47,
  PROTO: 0x80,
  NEWOBJ: 0x81,
  TUPLE1: 0x85,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  LONG1: 0x8a,
} as const;

/** Python's pickler batches SETITEMS/APPENDS by this many items. */
const BATCH = 1000;

/** Python's `encode_long`: minimal little-endian two's complement. */
function encodeLong(n: bigint): number[] {
  if (n === 0n) return [];
  const out: number[] = [];
  let v = n;
  for (;;) {
    out.push(Number(v & 0xffn));
    v >>= 8n;
    const sign = out[out.length - 1] & 0x80;
    if ((v === 0n && !sign) || (v === -1n && sign)) return out;
  }
}

/** torch.save's pickler: protocol 2, every container memoised, storages as persistent ids. */
class TorchPickler {
  readonly out = new ByteWriter();
  /** Storage key → bytes, in order of first use (keys "0", "1", … as torch numbers them). */
  readonly storages = new Map<string, Uint8Array>();
  #memo = 0;
  readonly #memoised = new Map<string, number>();
  readonly #encoder = new TextEncoder();

  dump(value: PickleValue): Uint8Array {
    this.out.bytes([OP.PROTO, 2]);
    this.#save(value);
    this.out.bytes([OP.STOP]);
    return this.out.finish();
  }

  #put(): void {
    const index = this.#memo++;
    if (index < 256) this.out.bytes([OP.BINPUT, index]);
    else {
      this.out.bytes([OP.LONG_BINPUT]);
      this.out.u32(index);
    }
  }

  /** Emits a value that Python would memoise and reuse by identity (globals, strings) only once. */
  #once(key: string, emit: () => void): void {
    const index = this.#memoised.get(key);
    if (index === undefined) {
      emit();
      this.#memoised.set(key, this.#memo);
      this.#put();
    } else if (index < 256) {
      this.out.bytes([OP.BINGET, index]);
    } else {
      this.out.bytes([OP.LONG_BINGET]);
      this.out.u32(index);
    }
  }

  #global(module: string, name: string): void {
    this.#once(
      `global ${module} ${name}`,
      () => this.out.bytes([OP.GLOBAL, ...this.#encoder.encode(`${module}\n${name}\n`)]),
    );
  }

  #int(n: number | bigint): void {
    if (typeof n === "number" && n >= 0 && n < 256) this.out.bytes([OP.BININT1, n]);
    else if (typeof n === "number" && n >= 0 && n < 65536) {
      this.out.bytes([OP.BININT2]);
      this.out.u16(n);
    } else if (typeof n === "number" && n >= -(2 ** 31) && n < 2 ** 31) {
      this.out.bytes([OP.BININT]);
      this.out.i32(n);
    } else {
      const bytes = encodeLong(BigInt(n));
      this.out.bytes([OP.LONG1, bytes.length, ...bytes]);
    }
  }

  #tuple(items: PickleValue[]): void {
    if (items.length === 0) {
      this.out.bytes([OP.EMPTY_TUPLE]);
      return;
    }
    if (items.length > 3) this.out.bytes([OP.MARK]);
    for (const item of items) this.#save(item);
    this.out.bytes([items.length > 3 ? OP.TUPLE : OP.TUPLE1 + items.length - 1]);
    this.#put();
  }

  #batches(items: PickleValue[][], one: number, many: number): void {
    for (let i = 0; i < items.length; i += BATCH) {
      const batch = items.slice(i, i + BATCH);
      if (batch.length > 1) this.out.bytes([OP.MARK]);
      for (const group of batch) for (const item of group) this.#save(item);
      this.out.bytes([batch.length > 1 ? many : one]);
    }
  }

  #tensor(t: TensorValue): void {
    const key = String(this.storages.size);
    const bytes = new Uint8Array(t.data.length * t.data.BYTES_PER_ELEMENT);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < t.data.length; i++) {
      const v = t.data[i];
      if (typeof v === "bigint") view.setBigInt64(8 * i, v, true);
      else view.setFloat32(4 * i, v, true);
    }
    this.storages.set(key, bytes);
    const strides = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    this.#global("torch._utils", "_rebuild_tensor_v2");
    this.out.bytes([OP.MARK]);
    this.out.bytes([OP.MARK]);
    this.#save("storage");
    this.#global("torch", t.dtype === "float32" ? "FloatStorage" : "LongStorage");
    this.#save(key);
    this.#save("cpu");
    this.#int(t.data.length);
    this.out.bytes([OP.TUPLE]);
    this.#put();
    this.out.bytes([OP.BINPERSID]);
    this.#int(0);
    this.#tuple(t.shape);
    this.#tuple(strides);
    this.#save(false);
    this.#save(new Instance("collections", "OrderedDict"));
    this.out.bytes([OP.TUPLE]);
    this.#put();
    this.out.bytes([OP.REDUCE]);
    this.#put();
  }

  #save(value: PickleValue): void {
    if (value === null) this.out.bytes([OP.NONE]);
    else if (value === true) this.out.bytes([OP.NEWTRUE]);
    else if (value === false) this.out.bytes([OP.NEWFALSE]);
    else if (typeof value === "bigint" || (typeof value === "number" && Number.isInteger(value))) {
      this.#int(value);
    } else if (typeof value === "number" || value instanceof Float) {
      this.out.bytes([OP.BINFLOAT]);
      this.out.f64be(typeof value === "number" ? value : value.value);
    } else if (typeof value === "string") {
      this.#once(`str ${value}`, () => {
        const utf8 = this.#encoder.encode(value);
        this.out.bytes([OP.BINUNICODE]);
        this.out.u32(utf8.length);
        this.out.bytes(utf8);
      });
    } else if (Array.isArray(value)) {
      this.out.bytes([OP.EMPTY_LIST]);
      this.#put();
      this.#batches(value.map((v) => [v]), OP.APPEND, OP.APPENDS);
    } else if (value instanceof Map) {
      this.out.bytes([OP.EMPTY_DICT]);
      this.#put();
      this.#batches([...value], OP.SETITEM, OP.SETITEMS);
    } else if (value instanceof Tuple) {
      this.#tuple(value.items);
    } else if (value instanceof TensorValue) {
      this.#tensor(value);
    } else {
      this.#global(value.module, value.name);
      this.#tuple(value.args);
      this.out.bytes([value.options.newobj ? OP.NEWOBJ : OP.REDUCE]);
      this.#put();
      if (value.options.items) this.#batches([...value.options.items], OP.SETITEM, OP.SETITEMS);
      if (value.options.state !== undefined) {
        this.#save(value.options.state);
        this.out.bytes([OP.BUILD]);
      }
    }
  }
}

/** Options of {@link encodeZip}. */
export interface ZipOptions {
  /** Write every size and offset in ZIP64 records (as torch does past 4 GiB). */
  zip64?: boolean;
  /** DEFLATE every entry (torch never does; other tools may). */
  deflate?: boolean;
}

async function deflateRaw(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([Uint8Array.from(data)]).stream().pipeThrough(new CompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * A zip archive laid out like torch's writer: no timestamps, STORED entries whose data starts on a
 * 64-byte boundary (padding in an "FB" extra field of the local header), no central extra fields.
 */
export async function encodeZip(
  entries: { name: string; data: Uint8Array }[],
  options: ZipOptions = {},
): Promise<Uint8Array> {
  const out = new ByteWriter();
  const central = new ByteWriter();
  const encoder = new TextEncoder();
  const version = options.zip64 ? 45 : 20;
  const field = (n: number) => (options.zip64 ? 0xffffffff : n);
  for (const { name, data } of entries) {
    const nameBytes = encoder.encode(name);
    const stored = options.deflate ? await deflateRaw(data) : data;
    const offset = out.length;
    const zip64Local = options.zip64 ? 20 : 0;
    const pad = options.deflate ? -1 : (64 - ((offset + 30 + nameBytes.length + zip64Local + 4) % 64)) % 64;
    out.u32(0x04034b50);
    out.u16(version);
    out.u16(0); // flags
    out.u16(options.deflate ? 8 : 0);
    out.u32(0); // time, date
    out.u32(crc32(data));
    out.u32(field(stored.length));
    out.u32(field(data.length));
    out.u16(nameBytes.length);
    out.u16(zip64Local + (pad < 0 ? 0 : 4 + pad));
    out.bytes(nameBytes);
    if (options.zip64) {
      out.u16(1);
      out.u16(16);
      out.u64(data.length);
      out.u64(stored.length);
    }
    if (pad >= 0) out.bytes([0x46, 0x42, pad & 0xff, pad >> 8, ...new Array(pad).fill(0x5a)]);
    out.bytes(stored);

    central.u32(0x02014b50);
    central.u16(version);
    central.u16(version);
    central.u16(0);
    central.u16(options.deflate ? 8 : 0);
    central.u32(0);
    central.u32(crc32(data));
    central.u32(field(stored.length));
    central.u32(field(data.length));
    central.u16(nameBytes.length);
    central.u16(options.zip64 ? 28 : 0);
    central.bytes([0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // comment length, disk, internal and external attributes
    central.u32(field(offset));
    central.bytes(nameBytes);
    if (options.zip64) {
      central.u16(1);
      central.u16(24);
      central.u64(data.length);
      central.u64(stored.length);
      central.u64(offset);
    }
  }
  const directory = central.finish();
  const directoryOffset = out.length;
  out.bytes(directory);
  if (options.zip64) {
    const record = out.length;
    out.u32(0x06064b50);
    out.u64(44);
    out.u16(45);
    out.u16(45);
    out.u64(0); // this disk, directory disk
    out.u64(entries.length);
    out.u64(entries.length);
    out.u64(directory.length);
    out.u64(directoryOffset);
    out.u32(0x07064b50);
    out.u32(0);
    out.u64(record);
    out.u32(1);
  }
  out.u32(0x06054b50);
  out.u32(0); // this disk, directory disk
  out.u16(options.zip64 ? 0xffff : entries.length);
  out.u16(options.zip64 ? 0xffff : entries.length);
  out.u32(field(directory.length));
  out.u32(field(directoryOffset));
  out.u16(0);
  return out.finish();
}

/** torch writes a random id; a fixed one (that of make_checkpoints.py) keeps the bytes reproducible. */
const SERIALIZATION_ID = "1507612213730493412600000000000000000000";

/**
 * The bytes of `torch.save(value)`: `<root>/data.pkl`, `<root>/byteorder`, `<root>/data/<key>` (keys
 * sorted as strings, as torch does), `<root>/version`, `<root>/.data/serialization_id`.
 */
export async function encodeTorchZip(
  value: PickleValue,
  options: ZipOptions & { root?: string } = {},
): Promise<Uint8Array> {
  const root = options.root ?? "archive";
  const pickler = new TorchPickler();
  const pickle = pickler.dump(value);
  const text = (s: string) => new TextEncoder().encode(s);
  return await encodeZip([
    { name: `${root}/data.pkl`, data: pickle },
    { name: `${root}/byteorder`, data: text("little") },
    ...[...pickler.storages.keys()].sort().map((key) => ({
      name: `${root}/data/${key}`,
      data: pickler.storages.get(key)!,
    })),
    { name: `${root}/version`, data: text("3\n") },
    { name: `${root}/.data/serialization_id`, data: text(SERIALIZATION_ID) },
  ], options);
}

/** Seed of the state dict behind tests/fixtures/unfused.json. */
export const STATE_DICT_SEED = DEFAULT_WEIGHTS_SEED + 1;

/** Number of speakers of the ArcMargin training head in {@link wespeakerCheckpoint}. */
export const PROJECTION_CLASSES = 17;

/**
 * A full-size random WeSpeaker ResNet34 state dict, as `model.state_dict()` would hold it: PyTorch
 * names and module order, `[O, I, kH, kW]` convolutions without bias, each followed by a BatchNorm
 * with random statistics, `num_batches_tracked` counters, `seg_1`. The convolutions and `seg_1` are
 * those of `generateWeights(seed)` (already scaled for a sane network); the BatchNorm parameters come
 * from their own {@link Rng} streams. Bit-identical under every engine.
 */
export function generateStateDict(seed: number): Map<string, TensorValue> {
  const mlx = tensorsOf(generateWeights(seed));
  const sd = new Map<string, TensorValue>();
  const f32 = (shape: number[], data: Float32Array) => new TensorValue("float32", shape, data);
  for (const spec of expectedWeights()) {
    if (!spec.name.endsWith(".weight")) continue;
    const base = spec.name.slice(0, -".weight".length);
    const w = mlx[spec.name];
    if (base === "embedding") {
      sd.set("seg_1.weight", f32(w.shape, w.data));
      sd.set("seg_1.bias", f32([w.shape[0]], mlx["embedding.bias"].data));
      continue;
    }
    const [O, H, W, I] = w.shape;
    const torchLayout = new Float32Array(w.data.length);
    for (let o = 0; o < O; o++) {
      for (let h = 0; h < H; h++) {
        for (let x = 0; x < W; x++) {
          for (let i = 0; i < I; i++) {
            torchLayout[((o * I + i) * H + h) * W + x] = w.data[((o * H + h) * W + x) * I + i];
          }
        }
      }
    }
    const shortcut = base.endsWith("shortcut");
    const bn = shortcut ? `${base}.1` : base.replace(/conv(\d)$/, "bn$1");
    sd.set(`${shortcut ? `${base}.0` : base}.weight`, f32([O, I, H, W], torchLayout));
    const rng = new Rng(seed, bn);
    const channel = (f: () => number) => f32([O], Float32Array.from({ length: O }, f));
    sd.set(`${bn}.weight`, channel(() => rng.range(0.8, 1.25)));
    sd.set(`${bn}.bias`, channel(() => rng.range(-0.1, 0.1)));
    sd.set(`${bn}.running_mean`, channel(() => rng.range(-0.2, 0.2)));
    sd.set(`${bn}.running_var`, channel(() => rng.range(0.5, 2)));
    sd.set(
      `${bn}.num_batches_tracked`,
      new TensorValue("int64", [], BigInt64Array.of(BigInt(rng.nextU32() >>> 8))),
    );
  }
  return sd;
}

/** A member of one of pyannote's task enums (`Problem`, `Resolution`), as pickled. */
export function pyannoteEnum(name: string, value: number): Instance {
  return new Instance("pyannote.audio.core.task", name, [value]);
}

/** What distinguishes one pyannote model's `pytorch_model.bin` from another's. */
export interface PyannoteCheckpointParts {
  /** The state dict, keys as written. */
  stateDict: Map<string, PickleValue>;
  /** Its `_metadata`: module path → `{version}`, parents first. */
  metadata: Map<string, PickleValue>;
  /** `pytorch-lightning_version`. */
  lightningVersion: string;
  /** The model's hyper-parameters (pickled as a Lightning `AttributeDict`). */
  hyperParameters: Map<string, PickleValue>;
  /** Versions of torch and pyannote.audio that saved it. */
  versions: { torch: string; pyannote: string };
  /** The model's Python module and class. */
  architecture: { module: string; class: string };
  /** The `__dict__` of the task's pickled `Specifications` dataclass. */
  specifications: Map<string, PickleValue>;
}

/**
 * The Lightning checkpoint pyannote saves as `pytorch_model.bin`: the state dict (with `_metadata`), the
 * hyper-parameters as a Lightning `AttributeDict`, training bookkeeping, and under `pyannote.audio` the
 * versions, the architecture and the task `Specifications`.
 */
export function pyannoteLightningCheckpoint(parts: PyannoteCheckpointParts): Map<string, PickleValue> {
  return new Map<string, PickleValue>([
    ["epoch", 0],
    ["global_step", 0],
    ["pytorch-lightning_version", parts.lightningVersion],
    ["state_dict", orderedDict(parts.stateDict, new Map([["_metadata", orderedDict(parts.metadata)]]))],
    ["loops", new Map()],
    ["callbacks", new Map()],
    ["optimizer_states", []],
    ["lr_schedulers", []],
    ["hparams_name", "kwargs"],
    [
      "hyper_parameters",
      new Instance("lightning_fabric.utilities.data", "AttributeDict", [], {
        newobj: true,
        items: parts.hyperParameters,
      }),
    ],
    [
      "pyannote.audio",
      new Map<string, PickleValue>([
        [
          "versions",
          new Map<string, PickleValue>([
            [
              "torch",
              new Instance("torch.torch_version", "TorchVersion", [parts.versions.torch], { newobj: true }),
            ],
            ["pyannote.audio", parts.versions.pyannote],
          ]),
        ],
        [
          "architecture",
          new Map<string, PickleValue>([["module", parts.architecture.module], [
            "class",
            parts.architecture.class,
          ]]),
        ],
        [
          "specifications",
          new Instance("pyannote.audio.core.task", "Specifications", [], {
            newobj: true,
            state: parts.specifications,
          }),
        ],
      ]),
    ],
  ]);
}

/**
 * pyannote's `pytorch_model.bin` around a state dict: a Lightning checkpoint whose `state_dict` has
 * the `resnet.` prefix (and `_metadata`), with pyannote's versions, architecture and task
 * `Specifications`, and the model's hyper-parameters as a Lightning `AttributeDict`.
 */
export function pyannoteCheckpoint(stateDict: Map<string, TensorValue>): Map<string, PickleValue> {
  const prefixed = new Map<string, PickleValue>([...stateDict].map(([k, v]) => [`resnet.${k}`, v]));
  // state_dict()'s `_metadata`: every module, parents first, with its version (BatchNorm's is 2).
  const metadata = new Map<string, PickleValue>([["", new Map([["version", 1]])]]);
  for (const key of prefixed.keys()) {
    const path = key.split(".").slice(0, -1);
    for (let depth = 1; depth <= path.length; depth++) {
      const module = path.slice(0, depth).join(".");
      if (!metadata.has(module)) {
        metadata.set(module, new Map([["version", prefixed.has(`${module}.running_mean`) ? 2 : 1]]));
      }
    }
  }
  return pyannoteLightningCheckpoint({
    stateDict: prefixed,
    metadata,
    lightningVersion: "2.1.3",
    hyperParameters: new Map<string, PickleValue>([
      ["sample_rate", 16000],
      ["num_channels", 1],
      ["num_mel_bins", 80],
      ["frame_length", 25],
      ["frame_shift", 10],
      ["dither", new Float(0)],
      ["window_type", "hamming"],
      ["use_energy", false],
    ]),
    versions: { torch: "2.1.2+cu121", pyannote: "3.1.0" },
    architecture: { module: "pyannote.audio.models.embedding.wespeaker", class: "WeSpeakerResNet34" },
    specifications: new Map<string, PickleValue>([
      ["problem", pyannoteEnum("Problem", 3)],
      ["resolution", pyannoteEnum("Resolution", 2)],
      ["duration", new Float(5)],
      ["min_duration", null],
      ["warm_up", new Tuple([new Float(0), new Float(0)])],
      ["classes", null],
      ["powerset_max_classes", null],
      ["permutation_invariant", false],
    ]),
  });
}

/**
 * WeSpeaker's `avg_model.pt` around a state dict: a plain dict without prefix, `num_batches_tracked`
 * turned into floats (average_model.py divides every tensor), plus the ArcMargin training head
 * `projection.weight` `[PROJECTION_CLASSES, 256]`.
 */
export function wespeakerCheckpoint(
  stateDict: Map<string, TensorValue>,
  seed: number,
): Map<string, PickleValue> {
  const out = new Map<string, PickleValue>();
  for (const [key, t] of stateDict) {
    out.set(
      key,
      t.dtype === "int64" ? new TensorValue("float32", t.shape, Float32Array.from(t.data, Number)) : t,
    );
  }
  const rng = new Rng(seed, "projection.weight");
  const head = Float32Array.from({ length: PROJECTION_CLASSES * 256 }, () => 0.05 * rng.normal());
  out.set("projection.weight", new TensorValue("float32", [PROJECTION_CLASSES, 256], head));
  return out;
}
