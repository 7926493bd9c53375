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

/** How a WAV file stores its samples. */
export type WavEncoding = "pcm" | "float" | "mu-law" | "a-law" | "ima-adpcm";

/** What the WAV header says about the audio that was decoded. */
export interface WavInfo {
  /** Frames per second, as stored in the `fmt ` chunk. */
  sampleRate: number;
  /** Interleaved channels in the file (the decoded samples are their average). */
  channels: number;
  /** Container bits per sample (8, 16, 24, 32 or 64; 8 for G.711, 4 for IMA ADPCM). */
  bitsPerSample: number;
  /** Integer PCM, IEEE floating point, G.711 μ-law or A-law, or IMA ADPCM. */
  format: WavEncoding;
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
const WAVE_FORMAT_ALAW = 0x0006;
const WAVE_FORMAT_MULAW = 0x0007;
const WAVE_FORMAT_IMA_ADPCM = 0x0011;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

const ENCODINGS: Record<number, WavEncoding> = {
  [WAVE_FORMAT_PCM]: "pcm",
  [WAVE_FORMAT_IEEE_FLOAT]: "float",
  [WAVE_FORMAT_ALAW]: "a-law",
  [WAVE_FORMAT_MULAW]: "mu-law",
  [WAVE_FORMAT_IMA_ADPCM]: "ima-adpcm",
};

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
  format: WavEncoding;
  channels: number;
  sampleRate: number;
  blockAlign: number;
  bitsPerSample: number;
  framesPerBlock: number;
}

const SUPPORTED_TAGS =
  "PCM (0x0001), IEEE float (0x0003), A-law (0x0006), mu-law (0x0007), IMA ADPCM (0x0011) " +
  "and WAVE_FORMAT_EXTENSIBLE (0xFFFE) of PCM or float";

/** Parses a `fmt ` chunk; exported for readers of WAV streams whose size is unknown (ffmpeg's pipe). */
export function parseFmt(view: DataView, offset: number, size: number, source: string): FmtChunk {
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
  const format = ENCODINGS[tag];
  if (format === undefined) {
    fail(source, `unsupported format tag ${formatName(tag)}; supported: ${SUPPORTED_TAGS}`);
  }
  const okBits =
    { pcm: [8, 16, 24, 32], float: [32, 64], "mu-law": [8], "a-law": [8], "ima-adpcm": [4] }[format];
  if (!okBits.includes(bitsPerSample)) {
    fail(
      source,
      `unsupported bits per sample ${bitsPerSample} for ${format}; expected one of ${okBits.join(", ")}`,
    );
  }
  if (channels === 0) fail(source, "zero channels in fmt chunk");
  if (sampleRate === 0 || sampleRate > MAX_SAMPLE_RATE) {
    fail(source, `sample rate ${sampleRate} Hz is out of range (1..${MAX_SAMPLE_RATE})`);
  }
  let framesPerBlock = 1;
  if (format === "ima-adpcm") {
    // Per channel, a 4-byte header (the first sample and the step index), then groups of 4 bytes each
    // holding 8 samples.
    const groups = (blockAlign - 4 * channels) / (4 * channels);
    if (!(Number.isInteger(groups) && groups >= 0)) {
      fail(source, `IMA ADPCM block align ${blockAlign} does not fit ${channels} channel(s)`);
    }
    framesPerBlock = groups * 8 + 1;
    if (size >= 22) {
      const declared = view.getUint16(offset + 18, true);
      if (declared !== framesPerBlock) {
        fail(
          source,
          `IMA ADPCM fmt chunk declares ${declared} samples per block, block align ${blockAlign} holds ` +
            `${framesPerBlock}`,
        );
      }
    }
  } else {
    const expectedAlign = channels * (bitsPerSample / 8);
    if (blockAlign !== expectedAlign) {
      fail(
        source,
        `block align ${blockAlign} is inconsistent with ${channels} channel(s) x ${bitsPerSample} bits ` +
          `(expected ${expectedAlign})`,
      );
    }
  }
  return { format, channels, sampleRate, blockAlign, bitsPerSample, framesPerBlock };
}

/** Frames held in `bytes` bytes of audio data: whole blocks, and what a last partial ADPCM block holds. */
export function framesIn(bytes: number, fmt: FmtChunk): number {
  const blocks = Math.floor(bytes / fmt.blockAlign);
  if (fmt.framesPerBlock === 1) return blocks;
  const rest = bytes - blocks * fmt.blockAlign - 4 * fmt.channels;
  const partial = rest < 0 ? 0 : Math.floor(rest / (4 * fmt.channels)) * 8 + 1;
  return blocks * fmt.framesPerBlock + partial;
}

/** Where a WAV file keeps its audio and how it is encoded, as {@link parseWavHeader} finds it. */
export interface WavLayout extends WavInfo {
  /** Bytes per block: one frame (all channels of one sample instant), or one IMA ADPCM block. */
  blockAlign: number;
  /** Frames per block: 1, or the samples of one IMA ADPCM block. */
  framesPerBlock: number;
  /** File offset of the first byte of audio. */
  dataOffset: number;
  /** Bytes of audio data from `dataOffset` on. */
  dataBytes: number;
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
  let factFrames = -1;
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
    } else if (id === "fact" && size >= 4 && size <= avail) {
      factFrames = viewOf(yield { offset: body, length: 4 }).getUint32(0, true);
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

  const { channels, blockAlign, bitsPerSample, format, sampleRate, framesPerBlock } = fmt;
  let frames = framesIn(dataBytes, fmt);
  // The last ADPCM block is padded to full size; the fact chunk says how many of its samples are real.
  if (framesPerBlock > 1 && factFrames >= 0 && factFrames < frames) frames = factFrames;
  return {
    sampleRate,
    channels,
    bitsPerSample,
    format,
    frames,
    blockAlign,
    framesPerBlock,
    dataOffset,
    dataBytes,
  };
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
 * of 32 or 64 bits, WAVE_FORMAT_EXTENSIBLE wrapping either, G.711 μ-law and A-law (ITU-T G.711's
 * 16-bit values) and IMA ADPCM. Integers are scaled by 2^(bits-1) (8-bit: `(v - 128) / 128`), so 16-bit
 * mono decodes to exactly `int16 / 32768`, as soundfile/torchaudio give. Several channels are averaged
 * (in double precision) into one, or one is picked with `channel`.
 *
 * Data size rules: a data chunk whose size is not a whole number of frames keeps its complete frames.
 * A declared size larger than the bytes present is an error (the file was cut short), except for the
 * placeholders streaming writers leave behind — `0xFFFFFFFF`, or `0` in a file whose RIFF size was not
 * finalized either — where all bytes that follow are taken as audio (again whole frames only).
 *
 * @param bytes the complete file contents
 * @param source name of the file, used in error messages
 * @param channel the channel to keep (0-based), or -1 (default) for the average of all channels
 * @returns mono samples, their rate and the header facts
 * @throws {WeSpeakerError} code `invalid-wav` naming `source` and the problem (not RIFF/WAVE, missing
 *   or truncated chunks, unsupported encodings, inconsistent header fields); `invalid-argument` for a
 *   channel the file does not have
 */
export function decodeWav(bytes: Uint8Array, source = "WAV data", channel = -1): DecodedAudio {
  if (!(bytes instanceof Uint8Array)) {
    throw new WeSpeakerError("invalid-argument", `${source}: expected a Uint8Array of WAV bytes`);
  }
  const walk = parseWavHeader(bytes.length, source);
  let step = walk.next();
  while (!step.done) {
    step = walk.next(bytes.subarray(step.value.offset, step.value.offset + step.value.length));
  }
  const layout = step.value;
  checkChannel(channel, layout.channels, source);
  const samples = new Float32Array(layout.frames);
  decodeFrames(bytes.subarray(layout.dataOffset), layout, samples, channel, source);
  return { samples, sampleRate: layout.sampleRate, info: wavInfo(layout) };
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Checks a channel selection against a file's channel count: -1 (the average) or an existing index. */
export function checkChannel(channel: number, channels: number, source: string): void {
  if (channel === -1) return;
  if (!Number.isSafeInteger(channel) || channel < 0 || channel >= channels) {
    throw new WeSpeakerError(
      "invalid-argument",
      `${source}: channel ${channel} does not exist; the audio has ${channels} channel(s), numbered from 0`,
    );
  }
}

/**
 * Decodes `out.length` frames from the start of `bytes` into mono samples, exactly as {@link decodeWav}
 * does, so that a file decoded piecewise matches one decoded at once.
 *
 * @param bytes audio data beginning at a block boundary, holding the blocks of `out.length` frames
 * @param layout the file's encoding
 * @param out receives one mono sample per frame
 * @param channel the channel to keep, or -1 for the average of all channels
 * @param source name of the file, for the error an IMA ADPCM block with a corrupt header raises
 */
export function decodeFrames(
  bytes: Uint8Array,
  layout: WavLayout,
  out: Float32Array,
  channel = -1,
  source = "WAV data",
): void {
  const { channels, bitsPerSample, format } = layout;
  if (format === "ima-adpcm") {
    decodeImaAdpcm(bytes, layout, out, channel, source);
    return;
  }
  const frames = out.length;
  const bytesPer = bitsPerSample / 8;
  const read = sampleReader(viewOf(bytes), bitsPerSample, format);
  if (channels === 1 || channel >= 0) {
    // Stored straight into float32: for 16/24-bit ints this is exact, which parity with soundfile needs.
    const stride = bytesPer * channels;
    for (let i = 0, p = bytesPer * Math.max(channel, 0); i < frames; i++, p += stride) out[i] = read(p);
    return;
  }
  const stride = bytesPer * channels;
  for (let i = 0, p = 0; i < frames; i++, p += stride) {
    let sum = 0;
    for (let c = 0, q = p; c < channels; c++, q += bytesPer) sum += read(q);
    out[i] = sum / channels;
  }
}

function sampleReader(view: DataView, bits: number, format: WavEncoding): (p: number) => number {
  if (format === "mu-law") return (p) => MULAW[view.getUint8(p)] / 32768;
  if (format === "a-law") return (p) => ALAW[view.getUint8(p)] / 32768;
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

/**
 * G.711 μ-law code → 16-bit linear value: the code's bits are inverted, then sign, 3-bit exponent and
 * 4-bit mantissa give `±(((2m + 33) << e) - 33) * 4` (ITU-T G.711 table 2a, on the 16-bit scale).
 */
const MULAW = Int16Array.from({ length: 256 }, (_, code) => {
  const u = ~code & 0xff;
  const magnitude = ((((u & 0x0f) << 3) + 0x84) << ((u >> 4) & 7)) - 0x84;
  return u & 0x80 ? -magnitude : magnitude;
});

/**
 * G.711 A-law code → 16-bit linear value: even bits inverted (XOR 0x55), then sign (set = positive),
 * exponent and mantissa give `(2m + 1) * 8` for exponent 0 and `(2m + 33) << (e + 2)` above (table 1a).
 */
const ALAW = Int16Array.from({ length: 256 }, (_, code) => {
  const a = code ^ 0x55;
  const e = (a >> 4) & 7;
  const m = a & 0x0f;
  const magnitude = e === 0 ? (2 * m + 1) * 8 : (2 * m + 33) << (e + 2);
  return a & 0x80 ? magnitude : -magnitude;
});

const IMA_STEPS = Int16Array.from([
  7,
  8,
  9,
  10,
  11,
  12,
  13,
  14,
  16,
  17,
  19,
  21,
  23,
  25,
  28,
  31,
  34,
  37,
  41,
  45,
  50,
  55,
  60,
  66,
  73,
  80,
  88,
  97,
  107,
  118,
  130,
  143,
  157,
  173,
  190,
  209,
  230,
  253,
  279,
  307,
  337,
  371,
  408,
  449,
  494,
  544,
  598,
  658,
  724,
  796,
  876,
  963,
  1060,
  1166,
  1282,
  1411,
  1552,
  1707,
  1878,
  2066,
  2272,
  2499,
  2749,
  3024,
  3327,
  3660,
  4026,
  4428,
  4871,
  5358,
  5894,
  6484,
  7132,
  7845,
  8630,
  9493,
  10442,
  11487,
  12635,
  13899,
  15289,
  16818,
  18500,
  20350,
  22385,
  24623,
  27086,
  29794,
  32767,
]);
const IMA_INDEX_STEP = Int8Array.from([-1, -1, -1, -1, 2, 4, 6, 8, -1, -1, -1, -1, 2, 4, 6, 8]);

/**
 * IMA ADPCM as WAV stores it: per block and channel a header with the first sample and the step index,
 * then 4-byte groups of 8 nibbles, low nibble first, channels interleaved group by group. The difference
 * is `((2 * magnitude + 1) * step) >> 3`, the exact form that ffmpeg's `adpcm_ima_wav` uses (the IMA
 * reference's shift-and-add form rounds differently by a few LSBs). The fact chunk's sample count trims
 * the padded last block.
 */
function decodeImaAdpcm(
  bytes: Uint8Array,
  layout: WavLayout,
  out: Float32Array,
  channel: number,
  source: string,
): void {
  const { channels, blockAlign, framesPerBlock } = layout;
  const view = viewOf(bytes);
  const first = channel >= 0 ? channel : 0;
  const last = channel >= 0 ? channel : channels - 1;
  const sums = channel >= 0 ? null : new Float64Array(framesPerBlock);
  for (let frame = 0, block = 0; frame < out.length; frame += framesPerBlock, block += blockAlign) {
    const count = Math.min(framesPerBlock, out.length - frame);
    sums?.fill(0);
    for (let c = first; c <= last; c++) {
      let predictor = view.getInt16(block + 4 * c, true);
      let index = view.getUint8(block + 4 * c + 2);
      if (index > 88) {
        fail(source, `corrupt IMA ADPCM block: step index ${index} is out of range (0..88)`);
      }
      const emit = (i: number) => {
        if (sums) sums[i] += predictor / 32768;
        else out[frame + i] = predictor / 32768;
      };
      emit(0);
      for (let i = 1; i < count; i++) {
        const group = (i - 1) >> 3;
        const within = (i - 1) & 7;
        const byte = view.getUint8(block + 4 * channels + (group * channels + c) * 4 + (within >> 1));
        const nibble = within & 1 ? byte >> 4 : byte & 0x0f;
        const step = IMA_STEPS[index];
        const diff = ((2 * (nibble & 7) + 1) * step) >> 3;
        predictor = nibble & 8 ? Math.max(-32768, predictor - diff) : Math.min(32767, predictor + diff);
        index = Math.min(88, Math.max(0, index + IMA_INDEX_STEP[nibble]));
        emit(i);
      }
    }
    if (sums) { for (let i = 0; i < count; i++) out[frame + i] = sums[i] / channels; }
  }
}
