/**
 * Which container a file is, from its first bytes, never from its name.
 *
 * @module
 */

/** Containers told apart by their bytes. */
export type Container =
  | "WAV"
  | "FLAC"
  | "MP3"
  | "Ogg"
  | "Matroska"
  | "MP4"
  | "ADTS"
  | "AIFF"
  | "CAF"
  | "ASF"
  | "AMR"
  | "AVI";

/** What sniffing found: the container, and where its own data starts (after an ID3v2 tag). */
export interface Sniffed {
  container: Container;
  offset: number;
}

/** Bytes {@link sniff} looks at, at most (after an ID3v2 tag, which it skips). */
export const SNIFF_BYTES = 64;

function ascii(bytes: Uint8Array, at: number, text: string): boolean {
  if (at + text.length > bytes.length) return false;
  for (let i = 0; i < text.length; i++) if (bytes[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** Size of the ID3v2 tag at the start of `head`, or 0: a synchsafe 28-bit size after a 10-byte header. */
export function id3Size(head: Uint8Array): number {
  if (!ascii(head, 0, "ID3") || head.length < 10) return 0;
  if ((head[6] | head[7] | head[8] | head[9]) & 0x80) return 0;
  const size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9];
  return 10 + size + (head[5] & 0x10 ? 10 : 0);
}

/**
 * An MPEG audio frame header at `at`: sync, a valid version, layer, bitrate and rate. Layer bits 00 with
 * the sync is ADTS (AAC).
 */
function mpegKind(b: Uint8Array, at: number): "MP3" | "ADTS" | undefined {
  if (at + 4 > b.length || b[at] !== 0xff || (b[at + 1] & 0xe0) !== 0xe0) return undefined;
  const layer = (b[at + 1] >> 1) & 3;
  if (layer === 0) return (b[at + 1] & 0xf0) === 0xf0 && ((b[at + 2] >> 2) & 0xf) < 13 ? "ADTS" : undefined;
  const version = (b[at + 1] >> 3) & 3;
  const bitrate = b[at + 2] >> 4;
  const rate = (b[at + 2] >> 2) & 3;
  return version !== 1 && bitrate !== 15 && rate !== 3 ? "MP3" : undefined;
}

/**
 * Identifies the container from the file's first bytes (`head`, at least {@link SNIFF_BYTES} after any
 * ID3v2 tag when the file is that long): `undefined` when nothing matches.
 *
 * @param head the first bytes of the file
 * @param afterId3 the bytes right after an ID3v2 tag, when there is one (see {@link id3Size})
 */
export function sniff(head: Uint8Array, afterId3?: Uint8Array): Sniffed | undefined {
  const tag = id3Size(head);
  if (tag > 0 && afterId3 !== undefined) {
    // MP3 is what ID3 tags usually precede; FLAC and ADTS sometimes carry one too.
    if (ascii(afterId3, 0, "fLaC")) return { container: "FLAC", offset: tag };
    const kind = mpegKind(afterId3, 0);
    return { container: kind ?? "MP3", offset: tag };
  }
  if (ascii(head, 0, "RIFF") && ascii(head, 8, "AVI ")) return { container: "AVI", offset: 0 };
  // Any other RIFF form goes to the WAV reader, whose error names the form type it found.
  if (ascii(head, 0, "RIFF") || ascii(head, 0, "RF64") || ascii(head, 0, "BW64")) {
    return { container: "WAV", offset: 0 };
  }
  if (ascii(head, 0, "fLaC")) return { container: "FLAC", offset: 0 };
  if (ascii(head, 0, "OggS")) return { container: "Ogg", offset: 0 };
  if (head.length >= 4 && head[0] === 0x1a && head[1] === 0x45 && head[2] === 0xdf && head[3] === 0xa3) {
    return { container: "Matroska", offset: 0 };
  }
  for (const box of ["ftyp", "moov", "mdat", "wide", "free", "skip"]) {
    if (ascii(head, 4, box)) return { container: "MP4", offset: 0 };
  }
  if (ascii(head, 0, "FORM") && (ascii(head, 8, "AIFF") || ascii(head, 8, "AIFC"))) {
    return { container: "AIFF", offset: 0 };
  }
  if (ascii(head, 0, "caff")) return { container: "CAF", offset: 0 };
  if (head.length >= 4 && head[0] === 0x30 && head[1] === 0x26 && head[2] === 0xb2 && head[3] === 0x75) {
    return { container: "ASF", offset: 0 };
  }
  if (ascii(head, 0, "#!AMR")) return { container: "AMR", offset: 0 };
  const kind = mpegKind(head, 0);
  return kind ? { container: kind, offset: 0 } : undefined;
}

/** The first bytes of a file as text for an error message: printable ASCII, the rest as `\xNN`. */
export function describeBytes(head: Uint8Array, count = 8): string {
  let s = "";
  for (let i = 0; i < Math.min(count, head.length); i++) {
    const c = head[i];
    s += c >= 0x20 && c < 0x7f && c !== 0x22
      ? String.fromCharCode(c)
      : `\\x${c.toString(16).padStart(2, "0")}`;
  }
  return s;
}
