/**
 * A structural check of Matroska/WebM files before the demuxer sees them: every element header in the
 * master elements the demuxer walks must be a valid EBML variable-length integer, and every element must
 * lie inside its parent. mediabunny 1.61 loops forever on some invalid headers (an ID byte of 0), so a
 * corrupt file must be stopped here, with an error naming the byte.
 *
 * @module
 */
import { WeSpeakerError } from "../errors.ts";
import type { ByteSource } from "./byte_source.ts";

/** Master elements whose children the demuxer reads (the rest are data it never parses as elements). */
const MASTERS = new Set([
  0x1a45dfa3, // EBML
  0x18538067, // Segment
  0x114d9b74, // SeekHead
  0x4dbb, // Seek
  0x1549a966, // Info
  0x1654ae6b, // Tracks
  0xae, // TrackEntry
  0xe0, // Video
  0xe1, // Audio
  0x6d80, // ContentEncodings
  0x6240, // ContentEncoding
  0x1c53bb6b, // Cues
  0xbb, // CuePoint
  0xb7, // CueTrackPositions
  0x1f43b675, // Cluster
  0xa0, // BlockGroup
  0x1254c367, // Tags
  0x7373, // Tag
  0x63c0, // Targets
  0x67c8, // SimpleTag
  0x1043a770, // Chapters
  0x45b9, // EditionEntry
  0xb6, // ChapterAtom
]);

/** A buffered forward reader: element headers are small and close together. */
class Reader {
  #buffer: Uint8Array = new Uint8Array(0);
  #at = 0;
  constructor(readonly source: ByteSource) {}
  async byte(pos: number): Promise<number | undefined> {
    if (pos < this.#at || pos >= this.#at + this.#buffer.length) {
      this.#buffer = await this.source.read(pos, 1 << 16);
      this.#at = pos;
    }
    return this.#buffer[pos - this.#at];
  }
}

/** Reads an EBML variable-length integer: its value (all ones = unknown size: -1) and length. */
async function vint(r: Reader, pos: number, maxLength: number, keepMarker: boolean) {
  const first = await r.byte(pos);
  if (first === undefined) return undefined;
  const length = Math.clz32(first) - 23;
  if (first === 0 || length > maxLength) return null;
  let value = keepMarker ? first : first & (0xff >> length);
  let allOnes = value === (0xff >> length);
  for (let i = 1; i < length; i++) {
    const b = await r.byte(pos + i);
    if (b === undefined) return undefined;
    value = value * 256 + b;
    allOnes &&= b === 0xff;
  }
  return { value: !keepMarker && allOnes ? -1 : value, length };
}

/**
 * Walks the element tree, descending into {@link MASTERS}.
 *
 * @throws {WeSpeakerError} `invalid-audio` naming the byte of the first invalid element header
 */
export async function checkEbml(source: ByteSource): Promise<void> {
  const r = new Reader(source);
  const fail = (pos: number, problem: string): never => {
    throw new WeSpeakerError("invalid-audio", `${source.name}: Matroska: corrupt: ${problem} at byte ${pos}`);
  };
  const walk = async (from: number, end: number): Promise<void> => {
    for (let pos = from; pos < end;) {
      const id = await vint(r, pos, 4, true);
      if (id === undefined) return; // the file ends: a truncated file is the decoder's to report
      if (id === null) fail(pos, "invalid element ID");
      const size = await vint(r, pos + id!.length, 8, false);
      if (size === undefined) return;
      if (size === null) fail(pos, "invalid element size");
      const body = pos + id!.length + size!.length;
      const bodyEnd = size!.value < 0 ? end : body + size!.value;
      if (bodyEnd > end && end < source.size) fail(pos, "element larger than its parent");
      if (MASTERS.has(id!.value)) await walk(body, Math.min(bodyEnd, source.size));
      pos = bodyEnd;
    }
  };
  await walk(0, source.size);
}
