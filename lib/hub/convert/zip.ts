/**
 * A minimal, strict ZIP reader: enough for PyTorch's zip checkpoints (`torch.save` since 1.6), which
 * are STORED archives with 64-byte aligned data and ZIP64 records once they pass 4 GiB. DEFLATE
 * entries (hand-made archives) are inflated asynchronously with `DecompressionStream`.
 *
 * The reader trusts nothing in the file: every offset and size is checked against the bytes before
 * it is used, entries may not overlap (so no entry can be inflated twice from shared data), a
 * DEFLATE entry may not claim more output than DEFLATE can produce from its input, and CRC-32s are
 * verified. Every failure is a {@link WeSpeakerError} with code `invalid-weights`.
 *
 * @module
 */
import { WeSpeakerError } from "../../errors.ts";

/** One file of an archive, as its central directory describes it. */
export interface ZipEntry {
  /** Path inside the archive, `/`-separated. */
  name: string;
  /** Compression method: 0 (stored) or 8 (deflate). */
  method: 0 | 8;
  /** CRC-32 of the uncompressed data. */
  crc32: number;
  /** Size of the data in the archive. */
  compressedSize: number;
  /** Size of the data once extracted. */
  size: number;
  /** Absolute offset of the entry's data in the archive. */
  dataOffset: number;
}

const LOCAL_HEADER = 0x04034b50;
const CENTRAL_HEADER = 0x02014b50;
const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const ZIP64_END_OF_CENTRAL_DIRECTORY = 0x06064b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EXTRA_ID = 0x0001;
const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;
/**
 * DEFLATE cannot expand data by more than about 1032:1 (a 258-byte match costs at least two bits),
 * so an entry claiming more is corrupt, and the claim bounds what inflating it may allocate.
 */
const MAX_DEFLATE_RATIO = 1032;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** The CRC-32 (ISO 3309, as ZIP uses it) of `bytes`, as an unsigned 32-bit integer. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A parsed archive: its entries by name, read on demand. */
export class ZipArchive {
  /** Every entry, by name. */
  readonly entries: ReadonlyMap<string, ZipEntry>;
  readonly #bytes: Uint8Array;
  readonly #source: string;

  /**
   * Parses the central directory of `bytes` and checks every entry's local header.
   *
   * @param bytes the whole archive (not copied: entries read from it are views into it)
   * @param source the archive's name, for error messages
   * @throws {WeSpeakerError} `invalid-weights` when the archive is malformed
   */
  constructor(bytes: Uint8Array, source: string) {
    this.#bytes = bytes;
    this.#source = source;
    this.entries = readCentralDirectory(bytes, source);
  }

  /**
   * The extracted data of entry `name`: a view into the archive for a stored entry, a fresh array for
   * a deflated one. The CRC-32 is checked either way.
   *
   * @throws {WeSpeakerError} `invalid-weights` when there is no such entry or its data is corrupt
   */
  async read(name: string): Promise<Uint8Array> {
    const entry = this.entries.get(name);
    if (!entry) throw zipError(this.#source, `no entry '${name}'`);
    const raw = this.#bytes.subarray(entry.dataOffset, entry.dataOffset + entry.compressedSize);
    const data = entry.method === 0
      ? raw
      : await inflateRaw(raw, entry.size, `${this.#source}: entry '${name}'`);
    const crc = crc32(data);
    if (crc !== entry.crc32) {
      throw zipError(
        this.#source,
        `entry '${name}' is corrupt: CRC-32 ${hex32(crc)}, the directory says ${hex32(entry.crc32)}`,
      );
    }
    return data;
  }
}

function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, "0")}`;
}

function zipError(source: string, what: string): WeSpeakerError {
  return new WeSpeakerError("invalid-weights", `${source}: not a valid zip archive: ${what}`);
}

/** Bounds-checked little-endian reads over the archive. */
class Reader {
  readonly view: DataView;
  constructor(readonly bytes: Uint8Array, readonly source: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  need(offset: number, length: number, what: string): void {
    if (offset < 0 || length < 0 || offset + length > this.bytes.length) {
      throw zipError(
        this.source,
        `${what} at byte ${offset} (${length} bytes) runs past the end (${this.bytes.length})`,
      );
    }
  }

  u16(offset: number): number {
    return this.view.getUint16(offset, true);
  }

  u32(offset: number): number {
    return this.view.getUint32(offset, true);
  }

  /** A 64-bit size or offset, which must also lie within the archive. */
  u64(offset: number, what: string): number {
    const value = this.view.getBigUint64(offset, true);
    if (value > BigInt(this.bytes.length)) {
      throw zipError(this.source, `${what} ${value} exceeds the archive's ${this.bytes.length} bytes`);
    }
    return Number(value);
  }
}

function findEndOfCentralDirectory(r: Reader): number {
  // The record is 22 bytes plus a comment of at most 65535 bytes, at the very end of the file.
  const last = r.bytes.length - 22;
  for (let at = last; at >= 0 && at >= last - U16_MAX; at--) {
    if (r.u32(at) === END_OF_CENTRAL_DIRECTORY && at + 22 + r.u16(at + 20) === r.bytes.length) return at;
  }
  throw zipError(r.source, "no end-of-central-directory record (truncated, or not a zip file)");
}

interface Directory {
  count: number;
  offset: number;
  size: number;
}

function readDirectoryLocation(r: Reader, eocd: number): Directory {
  if (r.u16(eocd + 4) !== 0 || r.u16(eocd + 6) !== 0) {
    throw zipError(r.source, "multi-disk archives are not supported");
  }
  let count = r.u16(eocd + 10);
  let size = r.u32(eocd + 12);
  let offset = r.u32(eocd + 16);
  if (count === U16_MAX || size === U32_MAX || offset === U32_MAX) {
    const locator = eocd - 20;
    if (locator < 0 || r.u32(locator) !== ZIP64_LOCATOR) {
      throw zipError(
        r.source,
        "the end-of-central-directory record needs ZIP64 but there is no ZIP64 locator",
      );
    }
    const at = r.u64(locator + 8, "ZIP64 end-of-central-directory offset");
    r.need(at, 56, "ZIP64 end-of-central-directory record");
    if (r.u32(at) !== ZIP64_END_OF_CENTRAL_DIRECTORY) {
      throw zipError(r.source, `no ZIP64 end-of-central-directory record at byte ${at}`);
    }
    count = r.u64(at + 32, "ZIP64 entry count");
    size = r.u64(at + 40, "ZIP64 central directory size");
    offset = r.u64(at + 48, "ZIP64 central directory offset");
  }
  r.need(offset, size, "central directory");
  // Each central header is at least 46 bytes: a larger count cannot be honest.
  if (count * 46 > size) {
    throw zipError(r.source, `${count} entries cannot fit a ${size}-byte central directory`);
  }
  return { count, offset, size };
}

/** The ZIP64 extended-information extra field replaces, in this order, each field that is all ones. */
function applyZip64Extra(
  r: Reader,
  extraStart: number,
  extraEnd: number,
  fields: { size: number; compressedSize: number; localOffset: number },
  name: string,
): void {
  const wanted = (["size", "compressedSize", "localOffset"] as const).filter((k) => fields[k] === U32_MAX);
  if (wanted.length === 0) return;
  for (let at = extraStart; at + 4 <= extraEnd;) {
    const id = r.u16(at);
    const length = r.u16(at + 2);
    if (at + 4 + length > extraEnd) break;
    if (id === ZIP64_EXTRA_ID) {
      if (length < 8 * wanted.length) break;
      wanted.forEach((key, i) => fields[key] = r.u64(at + 4 + 8 * i, `entry '${name}': ZIP64 ${key}`));
      return;
    }
    at += 4 + length;
  }
  throw zipError(
    r.source,
    `entry '${name}' has 32-bit fields set to 0xFFFFFFFF but no valid ZIP64 extra field`,
  );
}

function readCentralDirectory(bytes: Uint8Array, source: string): Map<string, ZipEntry> {
  const r = new Reader(bytes, source);
  if (bytes.length < 22) throw zipError(source, `${bytes.length} bytes is too short`);
  const dir = readDirectoryLocation(r, findEndOfCentralDirectory(r));
  const decoder = new TextDecoder();
  const entries = new Map<string, ZipEntry>();
  const spans: { name: string; start: number; end: number }[] = [];
  const dirEnd = dir.offset + dir.size;
  let at = dir.offset;
  for (let i = 0; i < dir.count; i++) {
    if (at + 46 > dirEnd) throw zipError(source, `central directory ends after ${i} of ${dir.count} entries`);
    if (r.u32(at) !== CENTRAL_HEADER) throw zipError(source, `no central directory header at byte ${at}`);
    const flags = r.u16(at + 8);
    const method = r.u16(at + 10);
    const nameLength = r.u16(at + 28);
    const extraLength = r.u16(at + 30);
    const commentLength = r.u16(at + 32);
    const next = at + 46 + nameLength + extraLength + commentLength;
    if (next > dirEnd) {
      throw zipError(source, `central directory header at byte ${at} runs past the directory`);
    }
    const name = decoder.decode(bytes.subarray(at + 46, at + 46 + nameLength));
    if (entries.has(name)) throw zipError(source, `entry '${name}' appears twice`);
    if (flags & 1) throw zipError(source, `entry '${name}' is encrypted`);
    if (method !== 0 && method !== 8) {
      throw zipError(
        source,
        `entry '${name}' uses compression method ${method} (only 0 and 8 are supported)`,
      );
    }
    const fields = { compressedSize: r.u32(at + 20), size: r.u32(at + 24), localOffset: r.u32(at + 42) };
    applyZip64Extra(r, at + 46 + nameLength, at + 46 + nameLength + extraLength, fields, name);
    const dataOffset = checkLocalHeader(
      r,
      fields.localOffset,
      name,
      bytes.subarray(at + 46, at + 46 + nameLength),
    );
    const { compressedSize, size } = fields;
    if (dataOffset + compressedSize > dir.offset) {
      throw zipError(
        source,
        `entry '${name}' (${compressedSize} bytes at ${dataOffset}) runs into the central directory`,
      );
    }
    if (method === 0 && compressedSize !== size) {
      throw zipError(source, `stored entry '${name}' has compressed size ${compressedSize} but size ${size}`);
    }
    if (method === 8 && size > compressedSize * MAX_DEFLATE_RATIO + 1024) {
      throw zipError(source, `entry '${name}' claims ${size} bytes from ${compressedSize} deflated bytes`);
    }
    entries.set(name, { name, method, crc32: r.u32(at + 16), compressedSize, size, dataOffset });
    spans.push({ name, start: fields.localOffset, end: dataOffset + compressedSize });
    at = next;
  }
  spans.sort((a, b) => a.start - b.start);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i].start < spans[i - 1].end) {
      throw zipError(source, `entries '${spans[i - 1].name}' and '${spans[i].name}' overlap`);
    }
  }
  return entries;
}

/** Checks the local header of an entry against its central record; returns where its data starts. */
function checkLocalHeader(r: Reader, offset: number, name: string, nameBytes: Uint8Array): number {
  r.need(offset, 30, `local header of '${name}'`);
  if (r.u32(offset) !== LOCAL_HEADER) {
    throw zipError(r.source, `no local header for '${name}' at byte ${offset}`);
  }
  const nameLength = r.u16(offset + 26);
  const extraLength = r.u16(offset + 28);
  r.need(offset + 30, nameLength + extraLength, `local header of '${name}'`);
  const localName = r.bytes.subarray(offset + 30, offset + 30 + nameLength);
  if (localName.length !== nameBytes.length || localName.some((b, i) => b !== nameBytes[i])) {
    throw zipError(r.source, `the local header at byte ${offset} does not name '${name}'`);
  }
  return offset + 30 + nameLength + extraLength;
}

/** Inflates raw DEFLATE data that must come out at exactly `size` bytes; never holds more than that. */
async function inflateRaw(data: Uint8Array, size: number, what: string): Promise<Uint8Array> {
  const fail = (problem: string): never => {
    throw new WeSpeakerError("invalid-weights", `${what}: ${problem}`);
  };
  const input = new ReadableStream<Uint8Array<ArrayBuffer>>({
    start(controller) {
      controller.enqueue(new Uint8Array(data));
      controller.close();
    },
  });
  const reader = input.pipeThrough(new DecompressionStream("deflate-raw")).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > size) {
        await reader.cancel();
        fail(`inflates to more than the ${size} bytes the directory declares`);
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof WeSpeakerError) throw error;
    fail(`corrupt DEFLATE data (${error instanceof Error ? error.message : String(error)})`);
  }
  if (total !== size) fail(`inflates to ${total} bytes, the directory declares ${size}`);
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
