/**
 * PyTorch checkpoints (`.bin`, `.pt`, `.ckpt`) → state dict → MLX safetensors, in TypeScript: no
 * Python, nothing from the file ever executed.
 *
 * Reads both formats `torch.save` writes:
 * - the zip format (torch ≥ 1.6): `<root>/data.pkl` (the pickled object), `<root>/data/<key>` (one
 *   entry per storage), `<root>/byteorder` (`little` or `big`; absent before torch 2.1: little);
 * - the legacy format: a pickled magic number, protocol version and system info, the pickled
 *   object, the pickled list of storage keys, then each storage as an int64 element count followed
 *   by its little-endian bytes.
 *
 * In both, tensors are `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, …)` calls
 * whose storages are persistent ids `('storage', <storage type>, key, location, numel)`. Tensors
 * are materialised as float32 from float32, float16, bfloat16, float64 and integer storages,
 * honouring the offset and strides (a non-contiguous view comes out as the tensor it shows).
 *
 * @module
 */
import { WeSpeakerError } from "../../errors.ts";
import type { F32Tensor } from "../safetensors.ts";
import { encodeMlxWeights, MLX_CONFIG, type StateDictOptions, stateDictToMlx, type Tensor } from "./fuse.ts";
import {
  type PyDict,
  PyExternal,
  PyFunction,
  PyObject,
  pyTypeName,
  type PyValue,
  unpickle,
} from "./unpickle.ts";
import { ZipArchive } from "./zip.ts";

type ElementReader = (view: DataView, byteOffset: number, littleEndian: boolean) => number;

const scratch = new DataView(new ArrayBuffer(4));

function readHalf(view: DataView, at: number, le: boolean): number {
  const bits = view.getUint16(at, le);
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa ? NaN : sign * Infinity;
  return sign * (1024 + mantissa) * 2 ** (exponent - 25);
}

function readBfloat16(view: DataView, at: number, le: boolean): number {
  scratch.setUint32(0, view.getUint16(at, le) << 16);
  return scratch.getFloat32(0);
}

/** Element size of every torch dtype a storage can hold, and how to read it as a number if we can. */
const DTYPES: Readonly<Record<string, { size: number; read?: ElementReader }>> = {
  float32: { size: 4, read: (v, at, le) => v.getFloat32(at, le) },
  float64: { size: 8, read: (v, at, le) => v.getFloat64(at, le) },
  float16: { size: 2, read: readHalf },
  bfloat16: { size: 2, read: readBfloat16 },
  int64: { size: 8, read: (v, at, le) => Number(v.getBigInt64(at, le)) },
  int32: { size: 4, read: (v, at, le) => v.getInt32(at, le) },
  int16: { size: 2, read: (v, at, le) => v.getInt16(at, le) },
  int8: { size: 1, read: (v, at) => v.getInt8(at) },
  uint8: { size: 1, read: (v, at) => v.getUint8(at) },
  bool: { size: 1, read: (v, at) => (v.getUint8(at) ? 1 : 0) },
  complex64: { size: 8 },
  complex128: { size: 16 },
  qint8: { size: 1 },
  quint8: { size: 1 },
  qint32: { size: 4 },
  quint4x2: { size: 1 },
  quint2x4: { size: 1 },
};

/** torch's legacy typed-storage classes (still what `torch.save` names in persistent ids). */
const STORAGE_TYPES: Readonly<Record<string, string>> = {
  FloatStorage: "float32",
  DoubleStorage: "float64",
  HalfStorage: "float16",
  BFloat16Storage: "bfloat16",
  LongStorage: "int64",
  IntStorage: "int32",
  ShortStorage: "int16",
  CharStorage: "int8",
  ByteStorage: "uint8",
  BoolStorage: "bool",
  ComplexFloatStorage: "complex64",
  ComplexDoubleStorage: "complex128",
  QInt8Storage: "qint8",
  QUInt8Storage: "quint8",
  QInt32Storage: "qint32",
  QUInt4x2Storage: "quint4x2",
  QUInt2x4Storage: "quint2x4",
};

/** `torch.FloatStorage` & co.: names an element type in a persistent id. */
class StorageType extends PyExternal {
  constructor(readonly dtype: string) {
    super();
  }
}

/** `torch.float32` & co. (what `_rebuild_tensor_v3` takes). */
class Dtype extends PyExternal {
  constructor(readonly dtype: string) {
    super();
  }
}

/** A storage named by a persistent id; its bytes are found by `key` once the pickle is read. */
class Storage extends PyExternal {
  constructor(readonly key: string, readonly dtype: string, readonly numel: number) {
    super();
  }
}

/** A tensor as pickled: a view (offset and strides in elements of `dtype`) into a storage. */
class TensorRef extends PyExternal {
  constructor(
    readonly storage: Storage,
    readonly dtype: string,
    readonly offset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
  ) {
    super();
  }
}

/** The magic number and version that open a legacy (non-zip) checkpoint. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL_VERSION = 1001;

function invalid(source: string, what: string): WeSpeakerError {
  return new WeSpeakerError("invalid-weights", `${source}: ${what}`);
}

function naturals(value: PyValue, what: string): number[] {
  if (!Array.isArray(value) || !value.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw new Error(`${what} must be a tuple of non-negative integers, got ${pyTypeName(value)}`);
  }
  return value as number[];
}

function tensorRef(args: readonly PyValue[], dtypeArg?: PyValue): TensorRef {
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof Storage)) throw new Error(`expects a storage, got ${pyTypeName(storage)}`);
  if (!Number.isSafeInteger(offset) || (offset as number) < 0) {
    throw new Error(`bad storage offset ${offset}`);
  }
  const shape = naturals(size, "size");
  const strides = naturals(stride, "stride");
  if (shape.length !== strides.length) {
    throw new Error(`size has ${shape.length} dims but stride ${strides.length}`);
  }
  let dtype = storage.dtype;
  if (dtypeArg !== undefined) {
    if (!(dtypeArg instanceof Dtype)) throw new Error(`unsupported dtype ${pyTypeName(dtypeArg)}`);
    dtype = dtypeArg.dtype;
  }
  return new TensorRef(storage, dtype, offset as number, shape, strides);
}

function rebuildFromType(args: readonly PyValue[]): PyValue {
  const [func, , funcArgs] = args;
  if (!(func instanceof PyFunction) || !Array.isArray(funcArgs)) {
    throw new Error(`expects an allow-listed rebuild function and its arguments, got ${pyTypeName(func)}`);
  }
  return func.call(funcArgs, null);
}

function parameterData(args: readonly PyValue[]): PyValue {
  if (!(args[0] instanceof TensorRef)) throw new Error(`expects a tensor, got ${pyTypeName(args[0])}`);
  return args[0];
}

/** The torch globals a checkpoint may use, implemented here; anything else stays an inert name. */
const TORCH_GLOBALS: ReadonlyMap<string, PyValue> = new Map<string, PyValue>([
  ...[
    new PyFunction("torch._utils", "_rebuild_tensor", (args) => tensorRef(args)),
    new PyFunction("torch._utils", "_rebuild_tensor_v2", (args) => tensorRef(args)),
    new PyFunction("torch._utils", "_rebuild_tensor_v3", (args) => tensorRef(args, args[6])),
    new PyFunction("torch._utils", "_rebuild_parameter", parameterData),
    new PyFunction("torch._utils", "_rebuild_parameter_with_state", parameterData),
    new PyFunction("torch._tensor", "_rebuild_from_type", rebuildFromType),
    new PyFunction("torch._tensor", "_rebuild_from_type_v2", rebuildFromType),
  ].map((f): [string, PyValue] => [`${f.module}.${f.name}`, f]),
  ...Object.entries(STORAGE_TYPES).map(([name, dtype]): [string, PyValue] => [
    `torch.${name}`,
    new StorageType(dtype),
  ]),
  ["torch.storage.UntypedStorage", new StorageType("uint8")],
  ["torch.UntypedStorage", new StorageType("uint8")],
  ...Object.keys(DTYPES).map((dtype): [string, PyValue] => [`torch.${dtype}`, new Dtype(dtype)]),
]);

function resolveGlobal(module: string, name: string): PyValue | undefined {
  return TORCH_GLOBALS.get(`${module}.${name}`);
}

/** `persistent_load` of torch.load: `('storage', storage_type, key, location, numel[, view])`. */
function storageLoader(storages: Map<string, Storage>): (pid: PyValue) => PyValue {
  return (pid) => {
    if (!Array.isArray(pid) || pid[0] !== "storage" || pid.length < 5 || pid.length > 6) {
      throw new Error(`expected ('storage', type, key, location, numel), got ${pyTypeName(pid)}`);
    }
    const [, type, key, , numel, view] = pid;
    if (!(type instanceof StorageType)) throw new Error(`unsupported storage type ${pyTypeName(type)}`);
    if (typeof key !== "string") throw new Error(`storage key must be a str, got ${pyTypeName(key)}`);
    if (!Number.isSafeInteger(numel) || (numel as number) < 0) throw new Error(`bad storage size ${numel}`);
    if (view !== undefined && view !== null) throw new Error("storage views (torch < 1.0) are not supported");
    const known = storages.get(key);
    if (known) {
      if (known.dtype !== type.dtype || known.numel !== numel) {
        throw new Error(`storage '${key}' is declared twice with different types or sizes`);
      }
      return known;
    }
    const storage = new Storage(key, type.dtype, numel as number);
    storages.set(key, storage);
    return storage;
  };
}

function asDict(value: PyValue | undefined): PyDict | undefined {
  return value instanceof Map ? value : value instanceof PyObject ? value.items : undefined;
}

function isStateDict(dict: PyDict): boolean {
  return dict.size > 0 && [...dict.values()].every((v) => v instanceof TensorRef);
}

/**
 * The state dict inside a checkpoint: the top-level dict itself when it maps names to tensors, else
 * one found under `state_dict` or `model` (Lightning checkpoints, training scripts), nested up to
 * three levels deep.
 */
function findStateDict(root: PyValue, source: string): Map<string, TensorRef> {
  let level: PyDict[] = [];
  const top = asDict(root);
  if (top) level.push(top);
  for (let depth = 0; depth < 4 && level.length > 0; depth++) {
    const found = level.find(isStateDict);
    if (found) {
      const out = new Map<string, TensorRef>();
      for (const [key, value] of found) {
        if (typeof key !== "string") throw invalid(source, `state dict key ${pyTypeName(key)} is not a str`);
        out.set(key, value as TensorRef);
      }
      return out;
    }
    level = level.flatMap((dict) =>
      ["state_dict", "model"].map((key) => asDict(dict.get(key))).filter((d): d is PyDict => d !== undefined)
    );
  }
  const keys = top ? [...top.keys()].map((k) => (typeof k === "string" ? `'${k}'` : pyTypeName(k))) : [];
  throw invalid(
    source,
    `no state dict (a dict of tensors at the top level or under 'state_dict' or 'model') in this checkpoint; ` +
      (top
        ? `its top-level keys are ${keys.slice(0, 10).join(", ") || "none"}`
        : `it holds ${pyTypeName(root)}`),
  );
}

/** The float32 values of a (possibly strided) view into the storage bytes `bytes`. */
function materialise(
  t: TensorRef,
  bytes: Uint8Array,
  littleEndian: boolean,
  name: string,
  source: string,
): Tensor {
  const info = DTYPES[t.dtype];
  if (!info.read) {
    throw invalid(source, `tensor '${name}' has dtype ${t.dtype}, which has no float32 conversion`);
  }
  const read = info.read;
  const available = Math.floor(bytes.length / info.size);
  const shape = [...t.shape];
  const numel = shape.reduce((a, b) => a * b, 1);
  if (numel === 0) return { shape, data: new Float32Array(0) };
  let last = t.offset;
  shape.forEach((d, i) => last += (d - 1) * t.stride[i]);
  if (last >= available) {
    throw invalid(
      source,
      `tensor '${name}' (offset ${t.offset}, size [${shape}], stride [${t.stride}]) reaches element ${last} ` +
        `of storage '${t.storage.key}', which holds ${available} ${t.dtype} elements`,
    );
  }
  if (numel > available) {
    throw invalid(
      source,
      `tensor '${name}' has ${numel} elements, more than its storage holds (overlapping view)`,
    );
  }
  const data = new Float32Array(numel);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const rank = shape.length;
  const index = new Array<number>(rank).fill(0);
  let at = t.offset;
  for (let i = 0; i < numel; i++) {
    data[i] = read(view, at * info.size, littleEndian);
    // Odometer over the indices, innermost first, keeping `at` = offset + Σ index·stride.
    for (let d = rank - 1; d >= 0; d--) {
      if (++index[d] < shape[d]) {
        at += t.stride[d];
        break;
      }
      at -= (shape[d] - 1) * t.stride[d];
      index[d] = 0;
    }
  }
  return { shape, data };
}

/** Reads the byte storages a state dict needs, then its tensors. */
async function materialiseAll(
  stateDict: Map<string, TensorRef>,
  storageBytes: (storage: Storage) => Promise<Uint8Array>,
  littleEndian: boolean,
  source: string,
): Promise<Map<string, Tensor>> {
  const cache = new Map<Storage, Uint8Array>();
  const out = new Map<string, Tensor>();
  for (const [name, ref] of stateDict) {
    let bytes = cache.get(ref.storage);
    if (!bytes) {
      bytes = await storageBytes(ref.storage);
      const expected = ref.storage.numel * DTYPES[ref.storage.dtype].size;
      if (bytes.length !== expected) {
        throw invalid(
          source,
          `storage '${ref.storage.key}' holds ${bytes.length} bytes, but ${ref.storage.numel} ` +
            `${ref.storage.dtype} elements need ${expected}`,
        );
      }
      cache.set(ref.storage, bytes);
    }
    out.set(name, materialise(ref, bytes, littleEndian, name, source));
  }
  return out;
}

async function readZipCheckpoint(bytes: Uint8Array, source: string): Promise<Map<string, Tensor>> {
  const zip = new ZipArchive(bytes, source);
  const pickles = [...zip.entries.keys()].filter((name) => /^[^/]+\/data\.pkl$/.test(name));
  if (pickles.length !== 1) {
    throw invalid(
      source,
      pickles.length === 0
        ? "not a PyTorch checkpoint: the zip archive has no <root>/data.pkl"
        : `ambiguous PyTorch checkpoint: ${pickles.join(", ")}`,
    );
  }
  const root = pickles[0].slice(0, -"data.pkl".length);
  let littleEndian = true;
  if (zip.entries.has(`${root}byteorder`)) {
    const order = new TextDecoder().decode(await zip.read(`${root}byteorder`));
    if (order !== "little" && order !== "big") throw invalid(source, `unknown byte order '${order}'`);
    littleEndian = order === "little";
  }
  const storages = new Map<string, Storage>();
  const { value } = unpickle(await zip.read(pickles[0]), source, {
    resolveGlobal,
    persistentLoad: storageLoader(storages),
  });
  const stateDict = findStateDict(value, source);
  return await materialiseAll(
    stateDict,
    async (storage) => {
      const name = `${root}data/${storage.key}`;
      if (!zip.entries.has(name)) throw invalid(source, `storage '${storage.key}' has no entry '${name}'`);
      return await zip.read(name);
    },
    littleEndian,
    source,
  );
}

async function readLegacyCheckpoint(bytes: Uint8Array, source: string): Promise<Map<string, Tensor>> {
  const magic = unpickle(bytes, source);
  if (magic.value !== LEGACY_MAGIC) throw invalid(source, "not a PyTorch checkpoint: wrong magic number");
  const version = unpickle(bytes, source, { offset: magic.end });
  if (version.value !== LEGACY_PROTOCOL_VERSION) {
    throw invalid(source, `unsupported legacy checkpoint protocol ${String(version.value)}`);
  }
  const sysInfo = unpickle(bytes, source, { offset: version.end });
  const storages = new Map<string, Storage>();
  const main = unpickle(bytes, source, {
    offset: sysInfo.end,
    resolveGlobal,
    persistentLoad: storageLoader(storages),
  });
  const keys = unpickle(bytes, source, { offset: main.end });
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === "string")) {
    throw invalid(source, "the legacy storage key list is not a list of str");
  }
  // The storages follow back to back: an int64 element count, then the elements. Their element
  // size comes from the persistent ids, which is why every key must have been seen in the pickle.
  const records = new Map<string, Uint8Array>();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = keys.end;
  for (const key of keys.value as string[]) {
    const storage = storages.get(key);
    if (!storage) throw invalid(source, `storage '${key}' is listed but the pickle never names it`);
    if (at + 8 > bytes.length) throw invalid(source, `truncated before storage '${key}' (byte ${at})`);
    const numel = view.getBigInt64(at, true);
    const size = BigInt(DTYPES[storage.dtype].size);
    if (numel < 0n || numel * size > BigInt(bytes.length - at - 8)) {
      throw invalid(
        source,
        `storage '${key}' at byte ${at} claims ${numel} elements, past the end of the file`,
      );
    }
    const length = Number(numel * size);
    records.set(key, bytes.subarray(at + 8, at + 8 + length));
    at += 8 + length;
  }
  const stateDict = findStateDict(main.value, source);
  // Legacy storages are always written little-endian (torch converts on big-endian hosts).
  return await materialiseAll(
    stateDict,
    (storage) => {
      const record = records.get(storage.key);
      if (!record) throw invalid(source, `storage '${storage.key}' is missing from the storage list`);
      return Promise.resolve(record);
    },
    true,
    source,
  );
}

/**
 * Reads the state dict of a PyTorch checkpoint (zip or legacy format): a pyannote/Lightning
 * checkpoint's `state_dict`, a bare state dict (WeSpeaker's `avg_model.pt`), or one nested under
 * `model`. Tensors come out as float32 in row-major order, in the state dict's order.
 *
 * @param bytes the whole file
 * @param source its name, for error messages
 * @returns tensor name → tensor
 * @throws {WeSpeakerError} `invalid-weights` naming the file and what is wrong with it
 */
export async function readTorchCheckpoint(bytes: Uint8Array, source: string): Promise<Map<string, Tensor>> {
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) {
    return await readZipCheckpoint(bytes, source);
  }
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] === 0x02) {
    return await readLegacyCheckpoint(bytes, source);
  }
  throw invalid(source, "not a PyTorch checkpoint (neither a zip archive nor a legacy pickle)");
}

/** Options of {@link convertTorchCheckpoint}: those of {@link stateDictToMlx} but the source. */
export type TorchConvertOptions = Omit<StateDictOptions, "source">;

/**
 * Converts a PyTorch WeSpeaker ResNet34 checkpoint (pyannote's `pytorch_model.bin` or WeSpeaker's
 * `avg_model.pt`) to the MLX safetensors this library loads. WeSpeaker's training head
 * (`projection.*`) is dropped unless `ignorePrefixes` says otherwise.
 *
 * @param bytes the whole checkpoint file
 * @param source its name, for error messages
 * @param options BatchNorm epsilon and key prefixes to ignore
 * @returns the MLX tensors, the bytes of the `.safetensors` file (identical for identical input)
 *   and the `config.json` object
 * @throws {WeSpeakerError} `invalid-weights` naming the file and the first missing, mis-shaped or
 *   unexpected key, or what is wrong with the file
 */
export async function convertTorchCheckpoint(
  bytes: Uint8Array,
  source: string,
  options: TorchConvertOptions = {},
): Promise<{ tensors: Record<string, F32Tensor>; safetensors: Uint8Array; config: typeof MLX_CONFIG }> {
  const stateDict = await readTorchCheckpoint(bytes, source);
  const tensors = stateDictToMlx(stateDict, { ignorePrefixes: ["projection."], ...options, source });
  return { tensors, safetensors: encodeMlxWeights(tensors, "pytorch"), config: MLX_CONFIG };
}
