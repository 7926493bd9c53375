/**
 * The WebAssembly decoders from npm, each behind the same shape: bytes or packets in, mono chunks out.
 *
 * - MP3 (and MPEG layers I/II): `mpg123-decoder` (libmpg123), fed the file's bytes; it reads the
 *   LAME/Xing header and trims the encoder's delay and padding as ffmpeg does (gapless).
 * - Vorbis: `@wasm-audio-decoders/ogg-vorbis` (libvorbis), fed Ogg pages; it trims the last page to the
 *   stream's granule position. Vorbis from Matroska/WebM is wrapped into Ogg pages first.
 * - Opus: `opus-decoder` (libopus), fed packets from the demuxer; the pre-skip is dropped and the end
 *   trimmed to the container's last timestamp here.
 *
 * @module
 */
// npm: specifiers, as in lib/hub/hub.ts (why: there).
// deno-lint-ignore no-import-prefix
import { MPEGDecoder } from "npm:mpg123-decoder@1.0.3";
// deno-lint-ignore no-import-prefix
import { OggVorbisDecoder } from "npm:@wasm-audio-decoders/ogg-vorbis@0.1.20";
// deno-lint-ignore no-import-prefix
import { OpusDecoder } from "npm:opus-decoder@0.7.12";
import { WeSpeakerError } from "../errors.ts";
import { mixPlanes } from "./audio_stream.ts";
import { oggCrc } from "./ogg.ts";

/** What one decode call of these packages returns. */
interface Decoded {
  channelData: Float32Array[];
  samplesDecoded: number;
  sampleRate: number;
  errors: { message: string; frameNumber: number; inputBytes: number }[];
}

function checked(decoded: Decoded, what: string): Decoded {
  if (decoded.errors.length > 0) {
    const e = decoded.errors[0];
    throw new WeSpeakerError(
      "invalid-audio",
      `${what}: corrupt data near byte ${e.inputBytes} (frame ${e.frameNumber}): ${e.message}` +
        (decoded.errors.length > 1 ? ` (and ${decoded.errors.length - 1} more errors)` : ""),
    );
  }
  return decoded;
}

/** The channel count a decode reports, checked against a channel selection. */
function planes(decoded: Decoded, channel: number, what: string): Float32Array {
  const channels = decoded.channelData;
  if (channel >= channels.length) {
    throw new WeSpeakerError(
      "invalid-argument",
      `${what}: channel ${channel} does not exist; the audio has ${channels.length} channel(s), numbered from 0`,
    );
  }
  return mixPlanes(channels.map((c) => c.subarray(0, decoded.samplesDecoded)), channel);
}

/** A decoder of a byte stream (MP3, Ogg Vorbis): the first chunk tells the rate and channels. */
export interface ByteDecoder {
  /** Decodes the next bytes of the stream; returns their mono samples (maybe none) and the stream's rate. */
  push(bytes: Uint8Array): Promise<{ samples: Float32Array; sampleRate: number; channels: number }>;
  /** Decodes what is buffered at the end of the stream. */
  flush(): Promise<{ samples: Float32Array; sampleRate: number; channels: number }>;
  free(): void;
}

/** One decode call's result as {@link ByteDecoder} returns it: checked, mixed, with its rate. */
function decodedChunk(d: Decoded, channel: number, what: string) {
  return {
    samples: planes(checked(d, what), channel, what),
    sampleRate: d.sampleRate,
    channels: d.channelData.length,
  };
}

/** libmpg123 over the bytes of an MP3 file, gapless. */
export async function mp3Decoder(channel: number, what: string): Promise<ByteDecoder> {
  const decoder = new MPEGDecoder({ enableGapless: true });
  await decoder.ready;
  const out = (d: Decoded) => decodedChunk(d, channel, what);
  return {
    push: (bytes) => Promise.resolve(out(decoder.decode(bytes) as Decoded)),
    flush: () => Promise.resolve({ samples: new Float32Array(0), sampleRate: 0, channels: 0 }),
    free: () => decoder.free(),
  };
}

/** libvorbis over the bytes of an Ogg Vorbis stream. */
export async function vorbisDecoder(channel: number, what: string): Promise<ByteDecoder> {
  const decoder = new OggVorbisDecoder();
  await decoder.ready;
  const out = (d: Decoded) => decodedChunk(d, channel, what);
  return {
    push: async (bytes) => out(await decoder.decode(bytes) as Decoded),
    flush: async () => out(await decoder.flush() as Decoded),
    free: () => decoder.free(),
  };
}

/** The facts of an `OpusHead` identification header (RFC 7845, section 5.1). */
export interface OpusHead {
  channels: number;
  preSkip: number;
  /** Output gain, Q7.8 dB. */
  gain: number;
  streamCount: number;
  coupledStreamCount: number;
  mapping: number[];
}

/** Parses an `OpusHead` (as Ogg carries it, and as Matroska's CodecPrivate and MP4's dOps hold it). */
export function parseOpusHead(head: Uint8Array, what: string): OpusHead {
  const bad = (problem: string): never => {
    throw new WeSpeakerError("invalid-audio", `${what}: invalid OpusHead: ${problem}`);
  };
  if (head.length < 19) bad(`${head.length} bytes, needs at least 19`);
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const channels = head[9];
  if (channels === 0) bad("0 channels");
  const family = head[18];
  if (family === 0) {
    if (channels > 2) bad(`${channels} channels with mapping family 0`);
    return {
      channels,
      preSkip: view.getUint16(10, true),
      gain: view.getInt16(16, true),
      streamCount: 1,
      coupledStreamCount: channels - 1,
      mapping: channels === 1 ? [0] : [0, 1],
    };
  }
  if (head.length < 21 + channels) bad(`mapping table of ${channels} channels is cut short`);
  const streamCount = head[19];
  const coupledStreamCount = head[20];
  if (streamCount === 0 || coupledStreamCount > streamCount) {
    bad(`${streamCount} streams with ${coupledStreamCount} coupled`);
  }
  const mapping = Array.from(head.subarray(21, 21 + channels));
  if (mapping.some((m) => m !== 255 && m >= streamCount + coupledStreamCount)) bad("mapping out of range");
  return {
    channels,
    preSkip: view.getUint16(10, true),
    gain: view.getInt16(16, true),
    streamCount,
    coupledStreamCount,
    mapping,
  };
}

/** libopus over Opus packets, at 48 kHz. */
export interface PacketDecoder {
  decode(packet: Uint8Array): Float32Array;
  free(): void;
}

/** An Opus packet decoder for the stream `head` describes, its output gain applied. */
export async function opusDecoder(head: OpusHead, channel: number, what: string): Promise<PacketDecoder> {
  if (channel >= head.channels) {
    throw new WeSpeakerError(
      "invalid-argument",
      `${what}: channel ${channel} does not exist; the audio has ${head.channels} channel(s), numbered from 0`,
    );
  }
  const decoder = new OpusDecoder({
    channels: head.channels,
    streamCount: head.streamCount,
    coupledStreamCount: head.coupledStreamCount,
    channelMappingTable: head.mapping,
    preSkip: 0,
  });
  await decoder.ready;
  const gain = 10 ** (head.gain / (20 * 256));
  return {
    decode(packet) {
      const samples = planes(checked(decoder.decodeFrame(packet) as Decoded, what), channel, what);
      if (gain !== 1) { for (let i = 0; i < samples.length; i++) samples[i] *= gain; }
      return samples;
    },
    free: () => decoder.free(),
  };
}

/**
 * One packet as Ogg pages (RFC 3533): how Vorbis packets from Matroska reach the Ogg Vorbis decoder.
 * Pages carry granule position 0 and no end-of-stream flag, so the decoder trims nothing.
 */
export function oggPages(packet: Uint8Array, sequence: number, first: boolean): Uint8Array[] {
  const pages: Uint8Array[] = [];
  // Lacing values: 255 for each full segment, then the remainder (0 when the size is a multiple of 255).
  const lacing: number[] = [];
  for (let left = packet.length;; left -= 255) {
    lacing.push(Math.min(255, left));
    if (left < 255) break;
  }
  for (let seg = 0, at = 0, page = 0; seg < lacing.length; page++) {
    const count = Math.min(255, lacing.length - seg);
    const table = lacing.slice(seg, seg + count);
    const size = table.reduce((a, b) => a + b, 0);
    const out = new Uint8Array(27 + count + size);
    const view = new DataView(out.buffer);
    out.set([0x4f, 0x67, 0x67, 0x53]); // "OggS", version 0
    out[5] = (page > 0 ? 1 : 0) | (first && page === 0 ? 2 : 0);
    view.setUint32(14, 0x77537065, true); // serial number: any constant
    view.setUint32(18, sequence + page, true);
    out[26] = count;
    out.set(table, 27);
    out.set(packet.subarray(at, at + size), 27 + count);
    view.setUint32(22, oggCrc(out), true);
    pages.push(out);
    seg += count;
    at += size;
  }
  return pages;
}
