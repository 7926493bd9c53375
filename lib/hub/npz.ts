/**
 * numpy's `.npy` and `.npz` files, read safely: the header is parsed as the literal numpy writes (never
 * evaluated), only numeric dtypes are accepted (object arrays, which hold pickles, are refused), and the
 * shape must account for exactly the bytes present. `.npz` archives (`np.savez`, stored, and
 * `np.savez_compressed`, deflated) go through the checked zip reader of the checkpoint converter.
 *
 * Every failure is a {@link WeSpeakerError} with code `invalid-weights` naming the file, the array and
 * what is wrong with it.
 *
 * @module
 */
import { WeSpeakerError } from "../errors.ts";
import { ZipArchive } from "./convert/zip.ts";

/** The element types this reader accepts. */
export type NpyDtype = "float32" | "float64";

/** One array: its dtype as stored, its shape, and its values in C (row-major) order. */
export interface NpyArray {
  /** Element type in the file (values are converted exactly to the matching typed array). */
  dtype: NpyDtype;
  /** Dimensions, outermost first; `[]` for a 0-d array. */
  shape: number[];
  /** Row-major values, whatever order the file stored them in. */
  data: Float32Array | Float64Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** A header longer than this is not something numpy writes for a numeric array (it caps at 64 KiB for v1). */
const MAX_HEADER = 1 << 16;

function fail(source: string, what: string): never {
  throw new WeSpeakerError("invalid-weights", `${source}: ${what}`);
}

/** The tokens of numpy's header literal: `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }`. */
type Literal = string | boolean | number[];

/**
 * Parses the header dict strictly: string keys, and as values a quoted string, `True`/`False`, or a
 * tuple of non-negative integers. Anything else (nested structures, expressions) is refused.
 */
function parseHeaderLiteral(text: string, source: string): Map<string, Literal> {
  let i = 0;
  const bad: (what: string) => never = (what) =>
    fail(source, `malformed .npy header (${what} at character ${i}): ${text.trim()}`);
  const space = () => {
    while (i < text.length && (text[i] === " " || text[i] === "\t" || text[i] === "\n")) i++;
  };
  const expect = (c: string) => {
    space();
    if (text[i] !== c) bad(`expected '${c}'`);
    i++;
  };
  const string = (): string => {
    space();
    const quote = text[i];
    if (quote !== "'" && quote !== '"') bad("expected a quoted string");
    const end = text.indexOf(quote, i + 1);
    if (end < 0) bad("unterminated string");
    const value = text.slice(i + 1, end);
    if (value.includes("\\")) bad("escape in string");
    i = end + 1;
    return value;
  };
  const integer = (): number => {
    space();
    const match = /^[0-9]+/.exec(text.slice(i));
    if (!match) bad("expected an integer");
    i += match[0].length;
    if (text[i] === "L") i++; // Python 2 longs, as old numpy wrote them
    const value = Number(match[0]);
    if (!Number.isSafeInteger(value)) bad(`dimension ${match[0]} is too large`);
    return value;
  };
  const value = (): Literal => {
    space();
    if (text.startsWith("True", i)) return (i += 4, true);
    if (text.startsWith("False", i)) return (i += 5, false);
    if (text[i] === "'" || text[i] === '"') return string();
    if (text[i] !== "(") bad("unsupported value");
    i++;
    const dims: number[] = [];
    for (;;) {
      space();
      if (text[i] === ")") break;
      dims.push(integer());
      space();
      if (text[i] === ",") i++;
      else if (text[i] !== ")") bad("expected ',' or ')' in the shape");
    }
    i++;
    return dims;
  };
  const entries = new Map<string, Literal>();
  expect("{");
  for (;;) {
    space();
    if (text[i] === "}") break;
    const key = string();
    if (entries.has(key)) bad(`duplicate key '${key}'`);
    expect(":");
    entries.set(key, value());
    space();
    if (text[i] === ",") i++;
    else if (text[i] !== "}") bad("expected ',' or '}'");
  }
  i++;
  space();
  if (i !== text.length) bad("text after the dict");
  return entries;
}

/** The parsed `descr`: element size and byte order, or a refusal naming the dtype. */
function parseDescr(descr: Literal, source: string): { dtype: NpyDtype; littleEndian: boolean } {
  if (typeof descr !== "string") fail(source, "structured dtypes are not supported (descr is not a string)");
  if (/^[<>=|]?O/.test(descr)) fail(source, "object arrays (pickled Python objects) are refused");
  const match = /^([<>=|])([a-zA-Z])(\d+)$/.exec(descr);
  if (!match || match[2] !== "f" || (match[3] !== "4" && match[3] !== "8")) {
    fail(
      source,
      `dtype '${descr}' is not supported (only float32 '<f4' and float64 '<f8', either byte order)`,
    );
  }
  return { dtype: match[3] === "4" ? "float32" : "float64", littleEndian: match[1] !== ">" };
}

/**
 * Reads one `.npy` file.
 *
 * @param bytes the whole file
 * @param source names the file (and array) in error messages
 * @throws {WeSpeakerError} `invalid-weights` for a bad magic, version or header, an unsupported dtype, or
 *   data whose length does not match the shape
 */
export function readNpy(bytes: Uint8Array, source: string): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, k) => bytes[k] !== b)) fail(source, "not a .npy file (bad magic)");
  const major = bytes[6], minor = bytes[7];
  if (![1, 2, 3].includes(major) || minor !== 0) {
    fail(source, `unsupported .npy format version ${major}.${minor}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const prefix = major === 1 ? 10 : 12;
  if (bytes.length < prefix) fail(source, "truncated .npy header");
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  if (headerLength > MAX_HEADER) fail(source, `.npy header of ${headerLength} bytes is implausibly long`);
  const dataStart = prefix + headerLength;
  if (dataStart > bytes.length) fail(source, `truncated .npy header (${headerLength} bytes announced)`);
  const headerBytes = bytes.subarray(prefix, dataStart);
  // numpy writes latin-1 for versions 1 and 2, UTF-8 for 3; the header of a numeric array is ASCII.
  if (headerBytes.some((b) => b > 0x7e || (b < 0x20 && b !== 0x0a))) {
    fail(source, ".npy header is not ASCII text");
  }
  const header = parseHeaderLiteral(new TextDecoder().decode(headerBytes), source);
  const keys = [...header.keys()].sort().join(", ");
  if (keys !== "descr, fortran_order, shape") {
    fail(
      source,
      `.npy header must hold exactly descr, fortran_order and shape (it holds ${keys || "nothing"})`,
    );
  }
  const { dtype, littleEndian } = parseDescr(header.get("descr")!, source);
  const fortran = header.get("fortran_order");
  if (typeof fortran !== "boolean") fail(source, "fortran_order must be True or False");
  const shape = header.get("shape");
  if (!Array.isArray(shape)) fail(source, "shape must be a tuple of integers");
  const itemSize = dtype === "float32" ? 4 : 8;
  const available = bytes.length - dataStart;
  let count = 1;
  for (const d of shape) {
    count *= d;
    if (count * itemSize > available) break; // also bounds the product before it can lose precision
  }
  if (count * itemSize !== available) {
    fail(
      source,
      `shape (${shape.join(", ")}) of ${dtype} needs ${shape.reduce((a, b) => a * b, 1) * itemSize} data ` +
        `bytes, the file holds ${available}`,
    );
  }
  const data = dtype === "float32" ? new Float32Array(count) : new Float64Array(count);
  for (let k = 0; k < count; k++) {
    data[k] = dtype === "float32"
      ? view.getFloat32(dataStart + 4 * k, littleEndian)
      : view.getFloat64(dataStart + 8 * k, littleEndian);
  }
  return { dtype, shape: [...shape], data: fortran && shape.length > 1 ? toRowMajor(data, shape) : data };
}

/** Fortran (column-major) order to C order. */
function toRowMajor<T extends Float32Array | Float64Array>(data: T, shape: number[]): T {
  const out = new (data.constructor as { new (n: number): T })(data.length);
  const n = shape.length;
  const index = new Array<number>(n).fill(0);
  for (let k = 0; k < data.length; k++) {
    // k walks the column-major order: the first index moves fastest.
    let c = 0;
    for (let d = 0; d < n; d++) c = c * shape[d] + index[d];
    out[c] = data[k];
    for (let d = 0; d < n; d++) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

/** An opened `.npz` archive; arrays are read when asked for. */
export class NpzFile {
  readonly #zip: ZipArchive;
  readonly #source: string;

  /**
   * Opens an archive (its central directory is read and checked now, its arrays when asked for).
   *
   * @param bytes the whole archive
   * @param source names the file in error messages
   * @throws {WeSpeakerError} `invalid-weights` when it is not a valid zip archive
   */
  constructor(bytes: Uint8Array, source: string) {
    this.#zip = new ZipArchive(bytes, source);
    this.#source = source;
  }

  /** The array names (entry names without `.npy`), in archive order. */
  get keys(): string[] {
    return [...this.#zip.entries.keys()].filter((n) => n.endsWith(".npy")).map((n) => n.slice(0, -4));
  }

  /**
   * Reads array `key`, checking its shape when `shape` is given (-1 matches any size).
   *
   * @throws {WeSpeakerError} `invalid-weights` when the array is missing, malformed or of another shape
   */
  async get(key: string, shape?: number[]): Promise<NpyArray> {
    if (!this.#zip.entries.has(`${key}.npy`)) {
      const have = this.keys;
      fail(this.#source, `no array '${key}' (it holds ${have.length ? have.join(", ") : "no arrays"})`);
    }
    const array = readNpy(await this.#zip.read(`${key}.npy`), `${this.#source}: array '${key}'`);
    if (
      shape &&
      (shape.length !== array.shape.length || shape.some((d, k) => d !== -1 && d !== array.shape[k]))
    ) {
      const want = shape.map((d) => (d === -1 ? "any" : String(d))).join(", ");
      fail(this.#source, `array '${key}' has shape (${array.shape.join(", ")}), expected (${want})`);
    }
    return array;
  }
}
