/**
 * Test-only WAV encoder: builds files in every layout lib/audio/wav.ts claims to read, plus the building blocks
 * (chunks, fmt bodies, RIFF wrappers) to assemble corrupt ones by hand.
 */

/** Encoding of the samples in a generated file. */
export interface WavSpec {
  sampleRate: number;
  format: "pcm" | "float";
  bits: 8 | 16 | 24 | 32 | 64;
  /** Write WAVE_FORMAT_EXTENSIBLE (40-byte fmt) instead of the plain tag. */
  extensible?: boolean;
  /** Size of a plain fmt chunk: 16 (classic) or 18 (with cbSize = 0). Ignored when extensible. */
  fmtSize?: 16 | 18;
  /** Chunks inserted between fmt and data (e.g. LIST, fact, odd-sized ones to test padding). */
  beforeData?: { id: string; body: Uint8Array }[];
  /** Chunks inserted before fmt. */
  beforeFmt?: { id: string; body: Uint8Array }[];
  /** Chunks after data. */
  afterData?: { id: string; body: Uint8Array }[];
  /** Value written in the data chunk's size field instead of the true size. */
  dataSizeField?: number;
  /** Value written in the RIFF size field instead of the true size. */
  riffSizeField?: number;
}

function ascii(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

export function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** One RIFF chunk: id, size (or `sizeField`), body and the pad byte when the body is odd-sized. */
export function chunk(id: string, body: Uint8Array, sizeField?: number, pad = true): Uint8Array {
  const head = new Uint8Array(8);
  head.set(ascii(id.padEnd(4, " ").slice(0, 4)), 0);
  new DataView(head.buffer).setUint32(4, sizeField ?? body.length, true);
  const parts = [head, body];
  if (pad && body.length % 2 === 1) parts.push(new Uint8Array(1));
  return concat(parts);
}

/** "RIFF" size "WAVE" followed by the given chunks. */
export function riff(chunks: Uint8Array[], opts: { magic?: string; form?: string; sizeField?: number } = {}) {
  const body = concat(chunks);
  const head = new Uint8Array(12);
  head.set(ascii(opts.magic ?? "RIFF"), 0);
  new DataView(head.buffer).setUint32(4, opts.sizeField ?? body.length + 4, true);
  head.set(ascii(opts.form ?? "WAVE"), 8);
  return concat([head, body]);
}

/**
 * An RF64 file of 16 kHz mono 16-bit `pcm`: the real sizes in its ds64 chunk (RIFF size and data size),
 * 0xFFFFFFFF in the 32-bit size fields, and a LIST chunk after the data.
 */
export function rf64Pcm16(pcm: Uint8Array): Uint8Array {
  const ds64 = new Uint8Array(28);
  new DataView(ds64.buffer).setUint32(8, pcm.length, true); // data size, low 32 bits
  const bytes = riff([
    chunk("ds64", ds64),
    chunk("fmt ", fmtBody({ tag: 1, channels: 1, sampleRate: 16000, bits: 16 })),
    chunk("data", pcm, 0xffffffff),
    chunk("LIST", new Uint8Array(8)),
  ], { magic: "RF64", sizeField: 0xffffffff });
  new DataView(bytes.buffer).setUint32(12 + 8, bytes.length - 8, true); // RIFF size, in the ds64 body
  return bytes;
}

/** A fmt chunk body with every field settable, for building inconsistent headers. */
export function fmtBody(f: {
  tag: number;
  channels: number;
  sampleRate: number;
  bits: number;
  blockAlign?: number;
  byteRate?: number;
  size?: number;
  subFormat?: number;
}): Uint8Array {
  const size = f.size ?? (f.tag === 0xfffe ? 40 : 16);
  const b = new Uint8Array(size);
  const v = new DataView(b.buffer);
  const align = f.blockAlign ?? (f.channels * f.bits) / 8;
  const put16 = (o: number, x: number) => o + 2 <= size && v.setUint16(o, x, true);
  const put32 = (o: number, x: number) => o + 4 <= size && v.setUint32(o, x, true);
  put16(0, f.tag);
  put16(2, f.channels);
  put32(4, f.sampleRate);
  put32(8, f.byteRate ?? f.sampleRate * align);
  put16(12, align);
  put16(14, f.bits);
  if (size >= 18) put16(16, size - 18);
  if (size >= 40) {
    put16(18, f.bits);
    put32(20, f.channels === 1 ? 0x4 : f.channels === 2 ? 0x3 : 0);
    put16(24, f.subFormat ?? 1);
    // KSDATAFORMAT_SUBTYPE suffix: 0000-0010-8000-00AA00389B71
    b.set([0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71], 26);
  }
  return b;
}

/**
 * Encode interleaved-by-channel values. For PCM, `channels[c][i]` are the stored integer codes
 * (8-bit: unsigned 0..255); for float they are the stored values.
 */
export function encodeSamples(
  channels: ArrayLike<number>[],
  format: "pcm" | "float",
  bits: number,
): Uint8Array {
  const nch = channels.length;
  const frames = nch ? channels[0].length : 0;
  const bps = bits / 8;
  const out = new Uint8Array(frames * nch * bps);
  const v = new DataView(out.buffer);
  let p = 0;
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < nch; c++, p += bps) {
      const x = channels[c][i];
      if (format === "float") {
        if (bits === 32) v.setFloat32(p, x, true);
        else v.setFloat64(p, x, true);
      } else if (bits === 8) v.setUint8(p, x);
      else if (bits === 16) v.setInt16(p, x, true);
      else if (bits === 24) {
        v.setUint8(p, x & 0xff);
        v.setUint8(p + 1, (x >> 8) & 0xff);
        v.setUint8(p + 2, (x >> 16) & 0xff);
      } else v.setInt32(p, x, true);
    }
  }
  return out;
}

/** A complete WAV file holding `channels` (see {@link encodeSamples} for the value convention). */
export function encodeWav(channels: ArrayLike<number>[], spec: WavSpec): Uint8Array {
  const tag = spec.extensible ? 0xfffe : spec.format === "pcm" ? 1 : 3;
  const fmt = fmtBody({
    tag,
    channels: channels.length,
    sampleRate: spec.sampleRate,
    bits: spec.bits,
    size: spec.extensible ? 40 : spec.fmtSize ?? 16,
    subFormat: spec.format === "pcm" ? 1 : 3,
  });
  const data = encodeSamples(channels, spec.format, spec.bits);
  const parts = [
    ...(spec.beforeFmt ?? []).map((c) => chunk(c.id, c.body)),
    chunk("fmt ", fmt),
    ...(spec.beforeData ?? []).map((c) => chunk(c.id, c.body)),
    chunk("data", data, spec.dataSizeField),
    ...(spec.afterData ?? []).map((c) => chunk(c.id, c.body)),
  ];
  return riff(parts, { sizeField: spec.riffSizeField });
}

/** Deterministic pseudo-random integers in [lo, hi] (xorshift), so tests need no seed library. */
export function randomInts(n: number, lo: number, hi: number, seed = 12345): number[] {
  let s = seed >>> 0 || 1;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out.push(lo + (s % (hi - lo + 1)));
  }
  return out;
}
