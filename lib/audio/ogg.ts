/**
 * Ogg's own integrity checks, which the decoders skip: every page in place, its CRC-32 right, and the
 * last page of each logical stream flagged as such. A truncated or corrupted Ogg file is an error that
 * names the page, rather than audio that silently ends early or glitches.
 *
 * @module
 */
import { WeSpeakerError } from "../errors.ts";
import type { ByteSource } from "./byte_source.ts";

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, i) => {
  let c = i << 24;
  for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
  return c >>> 0;
});

/** Ogg's CRC-32 (polynomial 0x04C11DB7, no reflection, initial value 0) of a page whose CRC field is 0. */
export function oggCrc(page: Uint8Array): number {
  let crc = 0;
  for (let i = 0; i < page.length; i++) crc = ((crc << 8) ^ CRC_TABLE[(crc >>> 24) ^ page[i]]) >>> 0;
  return crc;
}

/**
 * Walks every page of an Ogg file, reading one page at a time.
 *
 * @throws {WeSpeakerError} `invalid-audio` naming the file and the page's byte offset: a missing capture
 *   pattern, a page cut short, a CRC mismatch, or a stream without its end-of-stream page
 */
export async function checkOgg(source: ByteSource): Promise<void> {
  const fail = (problem: string): never => {
    throw new WeSpeakerError("invalid-audio", `${source.name}: Ogg: ${problem}`);
  };
  const open = new Set<number>();
  let pos = 0;
  while (pos < source.size) {
    const header = await source.read(pos, 27);
    if (header.length < 27) fail(`truncated: the page at byte ${pos} is cut short`);
    if (header[0] !== 0x4f || header[1] !== 0x67 || header[2] !== 0x67 || header[3] !== 0x53) {
      fail(`corrupt: no page at byte ${pos} (capture pattern "OggS" missing)`);
    }
    const segments = header[26];
    const table = await source.read(pos + 27, segments);
    const bodySize = table.reduce((a, b) => a + b, 0);
    const size = 27 + segments + bodySize;
    if (table.length < segments || pos + size > source.size) {
      fail(`truncated: the page at byte ${pos} is cut short`);
    }
    const page = await source.read(pos, size);
    const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
    const stored = view.getUint32(22, true);
    view.setUint32(22, 0, true);
    if (oggCrc(page) !== stored) fail(`corrupt: the page at byte ${pos} fails its CRC check`);
    const serial = view.getUint32(14, true);
    const flags = page[5];
    if (flags & 2) open.add(serial);
    if (flags & 4) open.delete(serial);
    pos += size;
  }
  if (open.size > 0) fail("truncated: the stream ends without its last page (no end-of-stream flag)");
}
