/**
 * FLAC decoding, our own: native FLAC streams (RFC 9639) read frame by frame from a byte source.
 *
 * Why not a WebAssembly decoder from npm: exactness. `@wasm-audio-decoders/flac` 0.2.11 scales integers
 * by 2^(bits-1) - 1 (so a FLAC made from a WAV does not give the WAV's samples) and drops the last
 * frame of a stream. Here samples are the stream's integers scaled by 2^(bits-1) and averaged over
 * channels exactly as the WAV reader does, so a FLAC decodes to the same bits as the WAV it was made
 * from. Every read is bounds-checked, the header CRC-8 and frame CRC-16 are verified, and a stream that
 * ends before the sample count its STREAMINFO declares is an error.
 *
 * @module
 */
import { WeSpeakerError } from "../errors.ts";
import type { ByteSource } from "./byte_source.ts";
import type { AudioInfo, Opened, Selection } from "./audio_stream.ts";
import { checkChannel } from "./wav.ts";

/** STREAMINFO: the facts every frame is checked against. */
interface StreamInfo {
  sampleRate: number;
  channels: number;
  bitsPerSample: number;
  /** Total samples per channel; 0 when the encoder did not know. */
  totalSamples: number;
  maxBlockSize: number;
}

function fail(source: string, problem: string): never {
  throw new WeSpeakerError("invalid-audio", `${source}: FLAC: ${problem}`);
}

/** Thrown by the bit reader when a frame runs past the bytes read so far: read more and retry. */
const NEED_MORE = Symbol("need more bytes");

class BitReader {
  bit: number;
  constructor(readonly data: Uint8Array, readonly start: number, readonly end: number) {
    this.bit = start * 8;
  }

  /** Reads `n` (0..53) bits as an unsigned number, most significant first. */
  read(n: number): number {
    let value = 0;
    while (n > 0) {
      const at = this.bit >> 3;
      if (at >= this.end) throw NEED_MORE;
      const avail = 8 - (this.bit & 7);
      const take = avail < n ? avail : n;
      value = value * (1 << take) + ((this.data[at] >> (avail - take)) & ((1 << take) - 1));
      n -= take;
      this.bit += take;
    }
    return value;
  }

  /** Reads `n` bits as a two's-complement signed number. */
  signed(n: number): number {
    if (n === 0) return 0;
    const v = this.read(n);
    return v >= 2 ** (n - 1) ? v - 2 ** n : v;
  }

  /** Counts zero bits up to the next one bit, consuming both. */
  unary(): number {
    let count = 0;
    for (;;) {
      const at = this.bit >> 3;
      if (at >= this.end) throw NEED_MORE;
      const rest = this.data[at] & (0xff >> (this.bit & 7));
      if (rest === 0) {
        count += 8 - (this.bit & 7);
        this.bit = (at + 1) * 8;
        continue;
      }
      const leading = Math.clz32(rest) - 24;
      count += leading - (this.bit & 7);
      this.bit = at * 8 + leading + 1;
      return count;
    }
  }

  alignToByte(): void {
    this.bit = Math.ceil(this.bit / 8) * 8;
  }

  get byte(): number {
    return this.bit >> 3;
  }
}

const CRC8 = Uint8Array.from({ length: 256 }, (_, i) => {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 0x80 ? ((c << 1) ^ 0x07) & 0xff : (c << 1) & 0xff;
  return c;
});
const CRC16 = Uint16Array.from({ length: 256 }, (_, i) => {
  let c = i << 8;
  for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x8005) & 0xffff : (c << 1) & 0xffff;
  return c;
});

function crc8(data: Uint8Array, from: number, to: number): number {
  let c = 0;
  for (let i = from; i < to; i++) c = CRC8[c ^ data[i]];
  return c;
}

function crc16(data: Uint8Array, from: number, to: number): number {
  let c = 0;
  for (let i = from; i < to; i++) c = ((c << 8) & 0xffff) ^ CRC16[(c >> 8) ^ data[i]];
  return c;
}

const BLOCK_SIZES = [0, 192, 576, 1152, 2304, 4608, -8, -16, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768];
const SAMPLE_SIZES = [0, 8, 12, -1, 16, 20, 24, 32];

/** One decoded frame: per channel, its integer samples. */
interface Frame {
  blockSize: number;
  channels: Float64Array[];
  /** Byte offset just past the frame (relative to the buffer). */
  end: number;
}

/**
 * Decodes the frame starting at `start` in `data[start, end)`. Throws {@link NEED_MORE} when the frame
 * runs past `end`; `at` is the frame's file offset, for messages.
 */
function decodeFrame(
  data: Uint8Array,
  start: number,
  end: number,
  info: StreamInfo,
  name: string,
  at: number,
): Frame {
  const r = new BitReader(data, start, end);
  const bad = (problem: string): never => fail(name, `frame at byte ${at}: ${problem}`);
  if (r.read(15) !== 0x7ffc) bad("no frame sync code (corrupt or not FLAC audio)");
  r.read(1); // blocking strategy: fixed or variable, both decoded alike
  const blockCode = r.read(4);
  const rateCode = r.read(4);
  const assignment = r.read(4);
  const sizeCode = r.read(3);
  if (r.read(1) !== 0) bad("reserved header bit set");
  // The frame or sample number, UTF-8 coded: its length is all that matters here.
  const lead = r.read(8);
  const extra = lead < 0x80 ? 0 : lead >= 0xfe ? (lead === 0xfe ? 6 : -1) : Math.clz32(~(lead << 24)) - 1;
  if (extra < 0 || (lead & 0xc0) === 0x80) bad("malformed frame number");
  for (let k = 0; k < extra; k++) if ((r.read(8) & 0xc0) !== 0x80) bad("malformed frame number");
  let blockSize = BLOCK_SIZES[blockCode];
  if (blockSize === 0) bad("reserved block size code 0");
  if (blockSize < 0) blockSize = r.read(-blockSize) + 1;
  if (rateCode === 12) r.read(8);
  else if (rateCode === 13 || rateCode === 14) r.read(16);
  else if (rateCode === 15) bad("invalid sample rate code 15");
  const headerEnd = r.byte;
  if (r.read(8) !== crc8(data, start, headerEnd)) bad("header CRC-8 mismatch (corrupt data)");

  if (assignment > 10) bad(`reserved channel assignment ${assignment}`);
  const channels = assignment < 8 ? assignment + 1 : 2;
  if (channels !== info.channels) {
    bad(`${channels} channel(s), STREAMINFO declares ${info.channels}`);
  }
  let bits = SAMPLE_SIZES[sizeCode];
  if (bits === 0) bits = info.bitsPerSample;
  if (bits !== info.bitsPerSample) bad(`${bits} bits per sample, STREAMINFO declares ${info.bitsPerSample}`);
  if (blockSize > info.maxBlockSize && info.maxBlockSize >= 16) {
    bad(`block of ${blockSize} samples, STREAMINFO allows at most ${info.maxBlockSize}`);
  }

  const out: Float64Array[] = [];
  for (let c = 0; c < channels; c++) {
    // The side channel of a stereo decorrelation carries one bit more.
    const side = (assignment === 8 && c === 1) || (assignment === 9 && c === 0) ||
      (assignment === 10 && c === 1);
    out.push(decodeSubframe(r, blockSize, bits + (side ? 1 : 0), bad));
  }
  r.alignToByte();
  const crcAt = r.byte;
  if (r.read(16) !== crc16(data, start, crcAt)) bad("frame CRC-16 mismatch (corrupt data)");

  if (assignment >= 8) {
    const [a, b] = out;
    for (let i = 0; i < blockSize; i++) {
      if (assignment === 8) b[i] = a[i] - b[i]; // left, side -> right
      else if (assignment === 9) a[i] = a[i] + b[i]; // side, right -> left
      else {
        const mid = a[i] * 2 + Math.abs(b[i] % 2);
        a[i] = Math.floor((mid + b[i]) / 2);
        b[i] = Math.floor((mid - b[i]) / 2);
      }
    }
  }
  return { blockSize, channels: out, end: r.byte };
}

const FIXED = [[], [1], [2, -1], [3, -3, 1], [4, -6, 4, -1]];

function decodeSubframe(r: BitReader, n: number, bits: number, bad: (p: string) => never): Float64Array {
  if (r.read(1) !== 0) bad("subframe padding bit set");
  const type = r.read(6);
  let wasted = 0;
  if (r.read(1) === 1) wasted = r.unary() + 1;
  if (wasted >= bits) bad(`${wasted} wasted bits of ${bits}`);
  const size = bits - wasted;
  const s = new Float64Array(n);
  if (type === 0) {
    s.fill(r.signed(size));
  } else if (type === 1) {
    for (let i = 0; i < n; i++) s[i] = r.signed(size);
  } else if (type >= 8 && type <= 12) {
    const order = type - 8;
    if (order > n) bad(`fixed predictor order ${order} exceeds the block of ${n}`);
    for (let i = 0; i < order; i++) s[i] = r.signed(size);
    residual(r, s, n, order, bad);
    const coef = FIXED[order];
    for (let i = order; i < n; i++) {
      let p = 0;
      for (let j = 0; j < order; j++) p += coef[j] * s[i - 1 - j];
      s[i] += p;
    }
  } else if (type >= 32) {
    const order = type - 31;
    if (order > n) bad(`LPC order ${order} exceeds the block of ${n}`);
    for (let i = 0; i < order; i++) s[i] = r.signed(size);
    const precision = r.read(4) + 1;
    if (precision === 16) bad("invalid LPC coefficient precision");
    const shift = r.signed(5);
    if (shift < 0) bad(`negative LPC shift ${shift}`);
    const coef = new Float64Array(order);
    for (let j = 0; j < order; j++) coef[j] = r.signed(precision);
    residual(r, s, n, order, bad);
    const scale = 2 ** shift;
    for (let i = order; i < n; i++) {
      let p = 0;
      for (let j = 0; j < order; j++) p += coef[j] * s[i - 1 - j];
      s[i] += Math.floor(p / scale);
    }
  } else {
    bad(`reserved subframe type ${type}`);
  }
  if (wasted > 0) {
    const k = 2 ** wasted;
    for (let i = 0; i < n; i++) s[i] *= k;
  }
  return s;
}

/** Reads the Rice-coded residual into `s[order..n)`. */
function residual(r: BitReader, s: Float64Array, n: number, order: number, bad: (p: string) => never): void {
  const method = r.read(2);
  if (method > 1) bad(`reserved residual coding method ${method}`);
  const paramBits = method === 0 ? 4 : 5;
  const escape = (1 << paramBits) - 1;
  const partitionOrder = r.read(4);
  const partitions = 1 << partitionOrder;
  const per = n >> partitionOrder;
  if (per * partitions !== n || per < order) {
    bad(`residual partition order ${partitionOrder} does not fit a block of ${n} (predictor order ${order})`);
  }
  let i = order;
  for (let p = 0; p < partitions; p++) {
    const count = p === 0 ? per - order : per;
    const param = r.read(paramBits);
    if (param === escape) {
      const raw = r.read(5);
      for (let k = 0; k < count; k++) s[i++] = r.signed(raw);
      continue;
    }
    const scale = 2 ** param;
    for (let k = 0; k < count; k++) {
      const u = r.unary() * scale + r.read(param);
      s[i++] = u % 2 === 0 ? u / 2 : -(u + 1) / 2;
    }
  }
}

/** Bytes of buffered input kept before asking for more: a frame is rarely larger. */
const READ_PIECE = 1 << 16;

/**
 * Opens a FLAC stream whose `fLaC` marker is at `offset` (after an ID3 tag, if any): its metadata is read
 * now, its frames as the stream is iterated.
 */
export async function openFlac(source: ByteSource, selection: Selection, offset = 0): Promise<Opened> {
  const name = source.name;
  let pos = offset + 4;
  let info: StreamInfo | undefined;
  for (let last = false; !last;) {
    const header = await source.read(pos, 4);
    if (header.length < 4) fail(name, `truncated metadata block header at byte ${pos}`);
    last = (header[0] & 0x80) !== 0;
    const type = header[0] & 0x7f;
    const length = (header[1] << 16) | (header[2] << 8) | header[3];
    if (type === 127) fail(name, `invalid metadata block type 127 at byte ${pos}`);
    if (pos + 4 + length > source.size) {
      fail(name, `truncated: metadata block at byte ${pos} declares ${length} bytes, the file ends first`);
    }
    if (info === undefined) {
      if (type !== 0 || length < 34) fail(name, `first metadata block is not a STREAMINFO (type ${type})`);
      const b = await source.read(pos + 4, 34);
      const r = new BitReader(b, 0, b.length);
      const minBlock = r.read(16);
      const maxBlockSize = r.read(16);
      r.read(48);
      const sampleRate = r.read(20);
      const channels = r.read(3) + 1;
      const bitsPerSample = r.read(5) + 1;
      const totalSamples = r.read(36);
      if (sampleRate === 0) fail(name, "STREAMINFO sample rate is 0");
      if (bitsPerSample < 4) fail(name, `STREAMINFO declares ${bitsPerSample} bits per sample`);
      if (minBlock < 16 && minBlock !== maxBlockSize) fail(name, `STREAMINFO minimum block size ${minBlock}`);
      info = { sampleRate, channels, bitsPerSample, totalSamples, maxBlockSize };
    }
    pos += 4 + length;
  }
  if (info === undefined) fail(name, "no STREAMINFO block");
  const stream = info;
  const { channel } = selection;
  checkChannel(channel, stream.channels, name);
  const scale = 2 ** (stream.bitsPerSample - 1);
  const audioStart = pos;
  return {
    info: {
      container: "FLAC",
      codec: "flac",
      decoder: "wespeaker",
      sampleRate: stream.sampleRate,
      channels: stream.channels,
      frames: stream.totalSamples || undefined,
    } satisfies AudioInfo,
    async *chunks() {
      let buffer = new Uint8Array(0);
      let bufferAt = audioStart; // file offset of buffer[0]
      let start = 0; // next frame's offset in buffer
      let readTo = audioStart;
      let decoded = 0;
      const wanted = stream.totalSamples;
      while (wanted === 0 || decoded < wanted) {
        const eof = readTo >= source.size;
        if (eof && start >= buffer.length) break;
        let frame: Frame | undefined;
        try {
          frame = decodeFrame(buffer, start, buffer.length, stream, name, bufferAt + start);
        } catch (err) {
          if (err !== NEED_MORE) throw err;
          if (eof) {
            const have = wanted ? `, STREAMINFO declares ${wanted} samples and ${decoded} were decoded` : "";
            fail(
              name,
              `truncated: the frame at byte ${bufferAt + start} ends past the end of the file${have}`,
            );
          }
          const more = await source.read(readTo, READ_PIECE);
          readTo += more.length;
          const kept = buffer.subarray(start);
          const grown = new Uint8Array(kept.length + more.length);
          grown.set(kept);
          grown.set(more, kept.length);
          bufferAt += start;
          buffer = grown;
          start = 0;
          continue;
        }
        start = frame.end;
        const n = wanted ? Math.min(frame.blockSize, wanted - decoded) : frame.blockSize;
        decoded += n;
        const out = new Float32Array(n);
        const planes = frame.channels;
        if (channel >= 0 || planes.length === 1) {
          const plane = planes[Math.max(channel, 0)];
          for (let i = 0; i < n; i++) out[i] = plane[i] / scale;
        } else {
          // As the WAV reader: each sample scaled in double, summed in channel order, one rounding.
          for (let i = 0; i < n; i++) {
            let sum = 0;
            for (let c = 0; c < planes.length; c++) sum += planes[c][i] / scale;
            out[i] = sum / planes.length;
          }
        }
        yield out;
      }
      if (wanted && decoded < wanted) {
        fail(name, `truncated: STREAMINFO declares ${wanted} samples, the file holds ${decoded}`);
      }
    },
  };
}
