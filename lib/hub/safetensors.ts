/**
 * Minimal safetensors support: a deterministic float32 writer and a strict, bounds-checked header
 * reader.
 *
 * File layout: an 8-byte little-endian unsigned header length `N`, then `N` bytes of UTF-8 JSON
 * (`{"__metadata__": {...}, "<name>": {"dtype", "shape", "data_offsets": [begin, end]}, ...}`), then
 * the data area; offsets are relative to the start of the data area.
 *
 * @module
 */

import { WeSpeakerError } from "../errors.ts";

/** Element types defined by the safetensors format. */
export type SafetensorsDtype =
  | "BOOL"
  | "U8"
  | "I8"
  | "F8_E5M2"
  | "F8_E4M3"
  | "I16"
  | "U16"
  | "F16"
  | "BF16"
  | "I32"
  | "U32"
  | "F32"
  | "F64"
  | "I64"
  | "U64";

/** Size in bytes of one element of each dtype. */
export const DTYPE_SIZES: Readonly<Record<SafetensorsDtype, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

/** Largest header accepted by {@link readSafetensorsHeader} (the limit the reference implementation uses). */
export const MAX_HEADER_BYTES = 100_000_000;

/** A float32 tensor to write with {@link encodeSafetensors}. */
export interface F32Tensor {
  /** Always `"F32"`. */
  dtype: "F32";
  /** Shape, outermost dimension first; its product must equal `data.length`. */
  shape: number[];
  /** Elements in row-major order. */
  data: Float32Array;
}

/** One tensor described by a safetensors header. */
export interface SafetensorsEntry {
  /** Key in the header. */
  name: string;
  /** Element type. */
  dtype: SafetensorsDtype;
  /** Shape, outermost dimension first. */
  shape: number[];
  /** `[begin, end)` byte offsets relative to the start of the data area, as written in the header. */
  dataOffsets: [number, number];
  /** Absolute byte offset of the tensor's first byte in the file. */
  byteOffset: number;
  /** Size of the tensor's data in bytes (`end - begin`). */
  byteLength: number;
}

/** A parsed and validated safetensors header. */
export interface SafetensorsHeader {
  /** The `N` of the 8-byte prefix: length in bytes of the JSON header. */
  headerLength: number;
  /** Absolute offset of the data area (`8 + N`). */
  dataStart: number;
  /** Length of the data area (file length − `dataStart`). */
  dataLength: number;
  /** `__metadata__` (string → string), empty when absent. */
  metadata: Record<string, string>;
  /** Tensors in the order the header lists them. */
  tensors: SafetensorsEntry[];
}

function numElements(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Encodes float32 tensors as a safetensors file, deterministically: `__metadata__` first (when given),
 * then the tensors sorted by name, their data laid out contiguously in that order; the JSON header is
 * padded with spaces to a multiple of 8 bytes so that the data area stays aligned.
 *
 * @param tensors float32 tensors by name
 * @param metadata optional string → string map written as `__metadata__`
 * @returns the file's bytes
 * @throws {WeSpeakerError} `invalid-argument` when a shape does not match its data or a name is reserved
 */
export function encodeSafetensors(
  tensors: Record<string, F32Tensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    const meta: Record<string, string> = {};
    for (const key of Object.keys(metadata).sort()) {
      if (typeof metadata[key] !== "string") {
        throw new WeSpeakerError("invalid-argument", `safetensors metadata "${key}" must be a string`);
      }
      meta[key] = metadata[key];
    }
    header.__metadata__ = meta;
  }
  let offset = 0;
  for (const name of names) {
    if (name === "__metadata__") {
      throw new WeSpeakerError("invalid-argument", `"__metadata__" is reserved and cannot name a tensor`);
    }
    const t = tensors[name];
    if (t.dtype !== "F32") {
      throw new WeSpeakerError("invalid-argument", `tensor ${name}: only F32 can be written, got ${t.dtype}`);
    }
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0) || numElements(t.shape) !== t.data.length) {
      throw new WeSpeakerError(
        "invalid-argument",
        `tensor ${name}: shape [${t.shape.join(", ")}] does not match ${t.data.length} elements`,
      );
    }
    const size = 4 * t.data.length;
    header[name] = { dtype: "F32", shape: [...t.shape], data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = JSON.stringify(header);
  const encoder = new TextEncoder();
  let jsonBytes = encoder.encode(json);
  const padded = Math.ceil(jsonBytes.length / 8) * 8;
  if (padded !== jsonBytes.length) {
    json += " ".repeat(padded - jsonBytes.length);
    jsonBytes = encoder.encode(json);
  }
  const out = new Uint8Array(8 + jsonBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(jsonBytes.length), true);
  out.set(jsonBytes, 8);
  let pos = 8 + jsonBytes.length;
  for (const name of names) {
    const data = tensors[name].data;
    for (let i = 0; i < data.length; i++, pos += 4) view.setFloat32(pos, data[i], true);
  }
  return out;
}

/**
 * Parses and validates the header of a safetensors file. Checks that the header length fits the file
 * and is below {@link MAX_HEADER_BYTES}; that the header is a UTF-8 JSON object; that every tensor has a
 * known dtype, a shape of non-negative integers and `data_offsets` inside the data area whose length is
 * exactly dtype size × number of elements; and that no two tensors overlap. Gaps between tensors are
 * allowed. Tensor data is not copied.
 *
 * @param bytes the whole file
 * @param source name of the file, used in error messages
 * @returns the header's tensors and metadata
 * @throws {WeSpeakerError} `invalid-weights` naming `source` and the problem
 */
export function readSafetensorsHeader(bytes: Uint8Array, source = "safetensors data"): SafetensorsHeader {
  const fail = (problem: string): never => {
    throw new WeSpeakerError("invalid-weights", `${source}: not a valid safetensors file: ${problem}`);
  };
  if (bytes.length < 8) fail(`${bytes.length} bytes is too short for the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = view.getBigUint64(0, true);
  if (declared >= BigInt(MAX_HEADER_BYTES)) {
    fail(`header length ${declared} is not below the ${MAX_HEADER_BYTES}-byte limit`);
  }
  const headerLength = Number(declared);
  if (8 + headerLength > bytes.length) {
    fail(`header length ${headerLength} runs past the end of the file (${bytes.length} bytes; truncated?)`);
  }
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;

  let parsed: unknown;
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, dataStart));
    parsed = JSON.parse(text);
  } catch (error) {
    fail(`header is not UTF-8 JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    fail("header is not a JSON object");
  }
  const root = parsed as Record<string, unknown>;

  const metadata: Record<string, string> = {};
  const tensors: SafetensorsEntry[] = [];
  for (const [name, value] of Object.entries(root)) {
    if (name === "__metadata__") {
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        fail("__metadata__ is not an object");
      }
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== "string") fail(`__metadata__ value for "${k}" is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      fail(`tensor ${name}: entry is not an object`);
    }
    const entry = value as Record<string, unknown>;
    const dtype = entry.dtype;
    if (typeof dtype !== "string" || !Object.hasOwn(DTYPE_SIZES, dtype)) {
      fail(`tensor ${name}: unknown dtype ${JSON.stringify(dtype)}`);
    }
    const shape = entry.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`tensor ${name}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    }
    const offsets = entry.data_offsets;
    if (
      !Array.isArray(offsets) || offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)
    ) {
      fail(`tensor ${name}: data_offsets ${JSON.stringify(offsets)} is not [begin, end]`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) fail(`tensor ${name}: data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataLength) {
      fail(
        `tensor ${name}: data_offsets [${begin}, ${end}] run past the ${dataLength}-byte data area (truncated?)`,
      );
    }
    const expected = numElements(shape as number[]) * DTYPE_SIZES[dtype as SafetensorsDtype];
    if (end - begin !== expected) {
      fail(
        `tensor ${name}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${dtype} ` +
          `[${(shape as number[]).join(", ")}] needs ${expected}`,
      );
    }
    tensors.push({
      name,
      dtype: dtype as SafetensorsDtype,
      shape: [...(shape as number[])],
      dataOffsets: [begin, end],
      byteOffset: dataStart + begin,
      byteLength: end - begin,
    });
  }

  const byStart = tensors.filter((t) => t.byteLength > 0).sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0]);
  for (let i = 1; i < byStart.length; i++) {
    const prev = byStart[i - 1];
    const cur = byStart[i];
    if (cur.dataOffsets[0] < prev.dataOffsets[1]) {
      fail(
        `tensors ${prev.name} [${prev.dataOffsets.join(", ")}] and ${cur.name} ` +
          `[${cur.dataOffsets.join(", ")}] overlap`,
      );
    }
  }
  return { headerLength, dataStart, dataLength, metadata, tensors };
}

/**
 * Copies the data of one F32 tensor out of a safetensors file (little-endian on any host).
 *
 * @param bytes the whole file, as passed to {@link readSafetensorsHeader}
 * @param entry an entry of the header parsed from `bytes`
 * @param source name of the file, used in error messages
 * @returns a fresh Float32Array
 * @throws {WeSpeakerError} `invalid-weights` when the tensor is not F32 or lies outside `bytes`
 */
export function readF32Tensor(
  bytes: Uint8Array,
  entry: SafetensorsEntry,
  source = "safetensors data",
): Float32Array {
  if (entry.dtype !== "F32") {
    throw new WeSpeakerError(
      "invalid-weights",
      `${source}: tensor ${entry.name} is ${entry.dtype}, expected F32`,
    );
  }
  if (entry.byteOffset + entry.byteLength > bytes.length) {
    throw new WeSpeakerError(
      "invalid-weights",
      `${source}: tensor ${entry.name} runs past the end of the file`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + entry.byteOffset, entry.byteLength);
  const out = new Float32Array(entry.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}
