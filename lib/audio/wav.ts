/**
 * WAV (RIFF/WAVE, RF64/BW64) decoding to mono float samples.
 *
 * Hostile input is the norm for a file parser: every read is bounds-checked against the bytes actually
 * present, and nothing is allocated from a size field until that size has been clamped to what the file
 * holds. Every failure is a {@link WeSpeakerError} with code `invalid-wav`.
 *
 * @module
 */

import { WeSpeakerError } from "../errors.ts";

/** What the WAV header says about the audio that was decoded. */
export interface WavInfo {
  /** Frames per second, as stored in the `fmt ` chunk. */
  sampleRate: number;
  /** Interleaved channels in the file (the decoded samples are their average). */
  channels: number;
  /** Container bits per sample (8, 16, 24, 32 or 64). */
  bitsPerSample: number;
  /** Integer PCM or IEEE floating point. */
  format: "pcm" | "float";
  /** Number of complete frames decoded (one frame = one sample per channel). */
  frames: number;
}

/** Decoded audio: mono samples at the file's own sample rate. */
export interface DecodedAudio {
  /** Mono samples, nominally in [-1, 1]; multi-channel files are averaged. */
  samples: Float32Array;
  /** Sample rate of `samples`, in Hz. */
  sampleRate: number;
  /** Header facts of the source file. */
  info: WavInfo;
}

const WAVE_FORMAT_PCM = 0x0001;
const WAVE_FORMAT_IEEE_FLOAT = 0x0003;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

/** Names for the tags people actually meet, so the error says what the file is rather than a bare number. */
const FORMAT_NAMES: Record<number, string> = {
  0x0002: "Microsoft ADPCM",
  0x0006: "A-law",
  0x0007: "mu-law",
  0x0011: "IMA ADPCM",
  0x0031: "GSM 6.10",
  0x0050: "MPEG",
  0x0055: "MPEG Layer 3",
  0x0161: "WMA",
  0x1610: "AAC",
  0xf1ac: "FLAC",
};

/**
 * Highest sample rate accepted. Real recordings top out at 768 kHz; anything far above that is a corrupt
 * header, and rejecting it early keeps later arithmetic (resampler kernels sized by the rate) sane.
 */
const MAX_SAMPLE_RATE = 1_000_000;

/** Streaming writers leave one of these in the size fields until (unless) they finalize the file. */
const STREAMING_SIZE_MAX = 0xffffffff;

function fail(source: string, problem: string): never {
  throw new WeSpeakerError("invalid-wav", `${source}: ${problem}`);
}

function fourcc(bytes: Uint8Array, offset: number): string {
  let s = "";
  for (let i = 0; i < 4 && offset + i < bytes.length; i++) {
    const c = bytes[offset + i];
    s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, "0")}`;
  }
  return s;
}

function isChunkId(bytes: Uint8Array, offset: number): boolean {
  if (offset + 8 > bytes.length) return false;
  for (let i = 0; i < 4; i++) {
    const c = bytes[offset + i];
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

function formatName(tag: number): string {
  const hex = `0x${tag.toString(16).toUpperCase().padStart(4, "0")}`;
  const name = FORMAT_NAMES[tag];
  return name ? `${hex} (${name})` : hex;
}

/** A 64-bit little-endian size as a number; sizes beyond 2^53 cannot be real files, so they saturate. */
function readU64(view: DataView, offset: number): number {
  const lo = view.getUint32(offset, true);
  const hi = view.getUint32(offset + 4, true);
  return hi >= 0x200000 ? Number.MAX_SAFE_INTEGER : hi * 0x1_0000_0000 + lo;
}

interface FmtChunk {
  format: "pcm" | "float";
  channels: number;
  sampleRate: number;
  blockAlign: number;
  bitsPerSample: number;
}

function parseFmt(view: DataView, offset: number, size: number, source: string): FmtChunk {
  if (size < 16) fail(source, `truncated header: fmt chunk is ${size} bytes, needs at least 16`);
  let tag = view.getUint16(offset, true);
  const channels = view.getUint16(offset + 2, true);
  const sampleRate = view.getUint32(offset + 4, true);
  const blockAlign = view.getUint16(offset + 12, true);
  const bitsPerSample = view.getUint16(offset + 14, true);

  if (tag === WAVE_FORMAT_EXTENSIBLE) {
    // cbSize(2) validBits(2) channelMask(4) subformat GUID(16): 40 bytes in all.
    if (size < 40) {
      fail(source, `truncated header: WAVE_FORMAT_EXTENSIBLE fmt chunk is ${size} bytes, needs 40`);
    }
    // The GUID's first two bytes carry the classic format tag; the rest is the fixed KSDATAFORMAT suffix,
    // which we do not insist on because some writers (ambisonic B-format) vary it for plain PCM/float data.
    const sub = view.getUint16(offset + 24, true);
    if (sub !== WAVE_FORMAT_PCM && sub !== WAVE_FORMAT_IEEE_FLOAT) {
      fail(
        source,
        `unsupported WAVE_FORMAT_EXTENSIBLE subformat ${formatName(sub)}; only PCM and IEEE float`,
      );
    }
    tag = sub;
  }
  if (tag !== WAVE_FORMAT_PCM && tag !== WAVE_FORMAT_IEEE_FLOAT) {
    fail(
      source,
      `unsupported format tag ${formatName(tag)}; only PCM (0x0001), IEEE float (0x0003) and ` +
        `WAVE_FORMAT_EXTENSIBLE (0xFFFE) are supported`,
    );
  }
  const format = tag === WAVE_FORMAT_PCM ? "pcm" : "float";
  const okBits = format === "pcm" ? [8, 16, 24, 32] : [32, 64];
  if (!okBits.includes(bitsPerSample)) {
    fail(
      source,
      `unsupported bits per sample ${bitsPerSample} for ${format === "pcm" ? "PCM" : "IEEE float"}; ` +
        `expected one of ${okBits.join(", ")}`,
    );
  }
  if (channels === 0) fail(source, "zero channels in fmt chunk");
  if (sampleRate === 0 || sampleRate > MAX_SAMPLE_RATE) {
    fail(source, `sample rate ${sampleRate} Hz is out of range (1..${MAX_SAMPLE_RATE})`);
  }
  const expectedAlign = channels * (bitsPerSample / 8);
  if (blockAlign !== expectedAlign) {
    fail(
      source,
      `block align ${blockAlign} is inconsistent with ${channels} channel(s) x ${bitsPerSample} bits ` +
        `(expected ${expectedAlign})`,
    );
  }
  return { format, channels, sampleRate, blockAlign, bitsPerSample };
}

/** Where a WAV file keeps its audio and how it is encoded, as {@link parseWavHeader} finds it. */
export interface WavLayout extends WavInfo {
  /** Bytes per frame (all channels of one sample instant). */
  blockAlign: number;
  /** File offset of the first byte of audio. */
  dataOffset: number;
}

/** A request from {@link parseWavHeader}: the file's bytes `[offset, offset + length)`. */
export interface ByteRequest {
  /** File offset of the first byte wanted. */
  offset: number;
  /** Bytes wanted; the answer is shorter only where the file ends first. */
  length: number;
}

/**
 * Walks a WAV file's chunks and applies every header and size rule of {@link decodeWav}, without
 * holding the file: it yields the few small byte ranges it needs and is resumed with their contents.
 * Driving it over a buffer in memory ({@link decodeWav}) and over positional reads of an open file
 * (`openWavStream` in wav_stream.ts) gives one set of checks and error messages for both.
 *
 * @param fileSize total bytes in the file
 * @param source name of the file, used in error messages
 * @returns (as the generator's return value) where the audio lies and how it is encoded
 * @throws {WeSpeakerError} code `invalid-wav`, exactly as {@link decodeWav} describes
 */
export function* parseWavHeader(
  fileSize: number,
  source: string,
): Generator<ByteRequest, WavLayout, Uint8Array> {
  const n = fileSize;
  if (n < 12) fail(source, `truncated header: ${n} bytes, a WAV file needs at least 12`);
  const head = yield { offset: 0, length: 12 };
  const magic = fourcc(head, 0);
  const isRf64 = magic === "RF64" || magic === "BW64";
  if (magic !== "RIFF" && !isRf64) fail(source, `not a RIFF file (starts with "${magic}")`);
  if (fourcc(head, 8) !== "WAVE") fail(source, `not a WAVE file (RIFF form type "${fourcc(head, 8)}")`);
  let riffSize = viewOf(head).getUint32(4, true);

  let fmt: FmtChunk | undefined;
  let dataOffset = -1;
  let dataDeclared = 0;
  let rf64DataSize = -1;
  let sawTruncatedChunk = "";

  let off = 12;
  while (off + 8 <= n) {
    const header = yield { offset: off, length: 8 };
    const id = fourcc(header, 0);
    const size = viewOf(header).getUint32(4, true);
    const body = off + 8;
    const avail = n - body;

    if (id === "data") {
      dataOffset = body;
      dataDeclared = size;
      if (fmt) break;
      // fmt after data is legal but rare: skip over the audio (if its size is believable) to find it.
      if (size > avail || size === 0) break;
    } else if (id === "fmt ") {
      if (size > avail) fail(source, `truncated header: fmt chunk declares ${size} bytes, ${avail} present`);
      // parseFmt reads no further than the 40 bytes of WAVE_FORMAT_EXTENSIBLE.
      fmt = parseFmt(viewOf(yield { offset: body, length: Math.min(size, 40) }), 0, size, source);
      if (dataOffset >= 0) break;
    } else if (id === "ds64" && isRf64) {
      if (size < 24 || size > avail) {
        fail(source, `truncated header: ds64 chunk declares ${size} bytes (${avail} present), needs 24`);
      }
      const ds64 = viewOf(yield { offset: body, length: 16 });
      riffSize = readU64(ds64, 0);
      rf64DataSize = readU64(ds64, 8);
    } else if (size > avail) {
      // An unknown chunk running past the end: nothing usable can follow it.
      sawTruncatedChunk = ` (chunk "${id}" at byte ${off} declares ${size} bytes, only ${avail} present)`;
      break;
    }
    // Chunks are padded to even sizes; tolerate writers that forget the pad byte on odd-sized chunks.
    let next = body + size;
    if (size % 2 === 1) {
      const after = yield { offset: next, length: 9 };
      if (isChunkId(after, 1) || !isChunkId(after, 0)) next += 1;
    }
    off = next;
  }

  if (!fmt) fail(source, `missing fmt chunk${sawTruncatedChunk}`);
  if (dataOffset < 0) fail(source, `missing data chunk${sawTruncatedChunk}`);

  const available = n - dataOffset;
  let declared = dataDeclared;
  if (isRf64 && declared === STREAMING_SIZE_MAX && rf64DataSize >= 0) declared = rf64DataSize;
  let dataBytes: number;
  if (declared <= available) {
    dataBytes = declared;
    // A 0 left by a streaming writer that never came back to finalize: the RIFF size is unfinalized too.
    if (declared === 0 && available > 0 && riffSize + 8 !== n) dataBytes = available;
  } else if (declared === STREAMING_SIZE_MAX) {
    dataBytes = available;
  } else {
    fail(
      source,
      `truncated data chunk: declares ${declared} bytes but only ${available} are present`,
    );
  }

  const { channels, blockAlign, bitsPerSample, format, sampleRate } = fmt;
  const frames = Math.floor(dataBytes / blockAlign);
  return { sampleRate, channels, bitsPerSample, format, frames, blockAlign, dataOffset };
}

/** The header facts of a layout, without its file offsets. */
export function wavInfo(layout: WavLayout): WavInfo {
  const { sampleRate, channels, bitsPerSample, format, frames } = layout;
  return { sampleRate, channels, bitsPerSample, format, frames };
}

/**
 * Decode a WAV file held in memory into mono float samples at the file's own rate.
 *
 * Supported: RIFF/WAVE (and RF64/BW64) with integer PCM of 8 (unsigned), 16, 24 or 32 bits, IEEE float
 * of 32 or 64 bits, and WAVE_FORMAT_EXTENSIBLE wrapping either. Integers are scaled by 2^(bits-1) (8-bit:
 * `(v - 128) / 128`), so 16-bit mono decodes to exactly `int16 / 32768`, as soundfile/torchaudio give.
 * Several channels are averaged (in double precision) into one.
 *
 * Data size rules: a data chunk whose size is not a whole number of frames keeps its complete frames.
 * A declared size larger than the bytes present is an error (the file was cut short), except for the
 * placeholders streaming writers leave behind — `0xFFFFFFFF`, or `0` in a file whose RIFF size was not
 * finalized either — where all bytes that follow are taken as audio (again whole frames only).
 *
 * @param bytes the complete file contents
 * @param source name of the file, used in error messages
 * @returns mono samples, their rate and the header facts
 * @throws {WeSpeakerError} code `invalid-wav` naming `source` and the problem (not RIFF/WAVE, missing
 *   or truncated chunks, unsupported encodings, inconsistent header fields)
 */
export function decodeWav(bytes: Uint8Array, source = "WAV data"): DecodedAudio {
  if (!(bytes instanceof Uint8Array)) {
    throw new WeSpeakerError("invalid-argument", `${source}: expected a Uint8Array of WAV bytes`);
  }
  const walk = parseWavHeader(bytes.length, source);
  let step = walk.next();
  while (!step.done) {
    step = walk.next(bytes.subarray(step.value.offset, step.value.offset + step.value.length));
  }
  const layout = step.value;
  const samples = new Float32Array(layout.frames);
  decodeFrames(bytes.subarray(layout.dataOffset), layout, samples);
  return { samples, sampleRate: layout.sampleRate, info: wavInfo(layout) };
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Decodes `out.length` whole frames from the start of `bytes` into mono samples, exactly as
 * {@link decodeWav} does, so that a file decoded piecewise matches one decoded at once.
 *
 * @param bytes audio data beginning at a frame boundary, at least `out.length * layout.blockAlign` long
 * @param layout the file's encoding
 * @param out receives one mono sample per frame
 */
export function decodeFrames(bytes: Uint8Array, layout: WavLayout, out: Float32Array): void {
  const { channels, bitsPerSample, format } = layout;
  const frames = out.length;
  const bytesPer = bitsPerSample / 8;
  const read = sampleReader(viewOf(bytes), bitsPerSample, format);
  if (channels === 1) {
    // Stored straight into float32: for 16/24-bit ints this is exact, which parity with soundfile needs.
    for (let i = 0, p = 0; i < frames; i++, p += bytesPer) out[i] = read(p);
    return;
  }
  const stride = bytesPer * channels;
  for (let i = 0, p = 0; i < frames; i++, p += stride) {
    let sum = 0;
    for (let c = 0, q = p; c < channels; c++, q += bytesPer) sum += read(q);
    out[i] = sum / channels;
  }
}

function sampleReader(view: DataView, bits: number, format: "pcm" | "float"): (p: number) => number {
  if (format === "float") {
    return bits === 32 ? (p) => view.getFloat32(p, true) : (p) => view.getFloat64(p, true);
  }
  switch (bits) {
    case 8:
      return (p) => (view.getUint8(p) - 128) / 128;
    case 16:
      return (p) => view.getInt16(p, true) / 32768;
    case 24:
      return (p) => {
        const v = view.getUint8(p) | (view.getUint8(p + 1) << 8) | (view.getInt8(p + 2) << 16);
        return v / 8388608;
      };
    default:
      return (p) => view.getInt32(p, true) / 2147483648;
  }
}
