/**
 * One entry point for every format: the container is sniffed from the file's bytes (never its name) and
 * the audio decoded as it is read, by our own WAV and FLAC readers, WebAssembly decoders from npm, or
 * ffmpeg for codecs without one.
 *
 * @module
 */
import { WeSpeakerError } from "../errors.ts";
import { type ByteSource, fileSource, memorySource, sequentialBytes } from "./byte_source.ts";
import {
  type AudioInfo,
  type DecodedStream,
  interleavedFloat32,
  type Opened,
  type Selection,
  SourceStream,
} from "./audio_stream.ts";
import { describeBytes, id3Size, sniff, SNIFF_BYTES } from "./sniff.ts";
import { chunkFramesOption, openWav } from "./wav_stream.ts";
import { checkChannel } from "./wav.ts";
import { openFlac } from "./flac.ts";
import { mp3Decoder } from "./codecs.ts";
import { describeFailure, openByteStream, openContainer } from "./media.ts";
import { openFfmpeg } from "./ffmpeg.ts";
import { checkOgg } from "./ogg.ts";
import { checkEbml } from "./ebml.ts";

export type { AudioInfo };

/** Headerless samples, as `ffmpeg -f f32le` writes them: 32-bit little-endian floats, interleaved. */
export interface RawFormat {
  /** Their rate, Hz. */
  sampleRate: number;
  /** Interleaved channels (default 1). */
  channels?: number;
}

/** Options of {@link openAudioStream}, {@link decodeAudio} and `loadAudio`. */
export interface AudioOptions {
  /** The channel to keep (0-based); default: the average of all channels. */
  channel?: number;
  /** The audio track of a container holding several (0-based); required then, as guessing is worse. */
  track?: number;
  /** The bytes are headerless float32 samples in this layout (never guessed: sniffing cannot see it). */
  f32le?: RawFormat;
  /** Frames per chunk where the decoder chooses (WAV, raw; default 8192). */
  chunkFrames?: number;
  /** Names bytes given in memory in error messages (default `audio data`). */
  name?: string;
}

/** How to read a file, for the functions that take one (`embedFile`, `embedWindows`, `diarizeFile`). */
export type FileOptions = Omit<AudioOptions, "chunkFrames">;

/**
 * An open recording whose audio is read as it is iterated: `for await` yields `Float32Array` chunks of
 * mono samples (the average of its channels, or the one chosen) at {@link DecodedStream.sampleRate},
 * the file's own rate. Read once; the file is closed when the iteration ends, however it ends.
 */
export type AudioStream = DecodedStream<AudioInfo>;

/** Audio to open: a file path, or the complete bytes of a file (stdin, a download). */
export type AudioInput = string | Uint8Array;

/** Decoded audio of any format: mono samples at the file's own rate. */
export interface DecodedAudioFile {
  /** Mono samples: the average of the channels, or the one chosen. */
  samples: Float32Array;
  /** Their rate, Hz. */
  sampleRate: number;
  /** Container, codec, decoder, channels of the source. */
  info: AudioInfo;
}

const WAV_DECODER = "wespeaker";

/**
 * Opens a recording in any supported format for reading as it decodes: WAV (PCM, float, G.711 μ-law and
 * A-law, IMA ADPCM), FLAC, MP3, Ogg Vorbis and Opus, WebM/Matroska (Opus, Vorbis), MP4/M4A/MOV (AAC
 * through ffmpeg; the audio track of a video), and headerless float32 when `f32le` says so. Memory stays
 * flat however long the file: only the header (or the container's index) is read here.
 *
 * ```ts
 * await using stream = await openAudioStream("call.m4a", { channel: 0 });
 * for await (const chunk of stream) process(chunk, stream.sampleRate);
 * ```
 *
 * @param input a file path, or the file's bytes
 * @param options channel, track, f32le layout, chunk size, name for bytes
 * @returns the open stream; `info` says what was found and which decoder reads it
 * @throws {WeSpeakerError} `io` (unreadable file), `invalid-wav` / `invalid-audio` (corrupt, truncated,
 *   no audio track, several tracks and no `track`), `unsupported-audio` (unknown format; a codec that
 *   needs ffmpeg when ffmpeg is absent), `invalid-argument` (a channel or track that does not exist)
 */
export async function openAudioStream(input: AudioInput, options: AudioOptions = {}): Promise<AudioStream> {
  const source = typeof input === "string"
    ? await fileSource(input)
    : input instanceof Uint8Array
    ? memorySource(input, options.name ?? "audio data")
    : invalidInput();
  try {
    const selection: Selection = {
      channel: options.channel ?? -1,
      track: options.track,
      chunkFrames: chunkFramesOption(options.chunkFrames),
    };
    if (selection.channel !== -1) checkChannel(selection.channel, Infinity, source.name);
    const [opened, format] = await openSource(source, selection, options.f32le);
    return new SourceStream(source, opened, describeFailure(source.name, format));
  } catch (err) {
    await source.close();
    throw err;
  }
}

function invalidInput(): never {
  throw new WeSpeakerError(
    "invalid-argument",
    "audio input must be a file path or a Uint8Array of the file's bytes",
  );
}

/**
 * Decodes a whole recording held in memory (any format {@link openAudioStream} reads) to mono samples
 * at its own rate.
 *
 * @param bytes the complete file
 * @param options channel, track, f32le layout, name for messages
 * @throws {WeSpeakerError} as {@link openAudioStream}
 */
export async function decodeAudio(bytes: Uint8Array, options: AudioOptions = {}): Promise<DecodedAudioFile> {
  if (!(bytes instanceof Uint8Array)) invalidInput();
  return await readAll(await openAudioStream(bytes, options));
}

/**
 * What a recording holds (container, codec, decoder, rate, channel count, frames when known), from its
 * header alone: the file is opened and closed again without decoding its audio.
 *
 * @throws {WeSpeakerError} as {@link openAudioStream}
 */
export async function probeAudio(input: AudioInput, options: FileOptions = {}): Promise<AudioInfo> {
  const stream = await openAudioStream(input, options);
  await stream.close();
  return stream.info;
}

/** Every sample of a stream, in one array. */
export async function readAll(stream: AudioStream): Promise<DecodedAudioFile> {
  const parts: Float32Array[] = [];
  let length = 0;
  for await (const chunk of stream) {
    parts.push(chunk);
    length += chunk.length;
  }
  const samples = parts.length === 1 ? parts[0] : new Float32Array(length);
  if (parts.length !== 1) {
    let at = 0;
    for (const part of parts) {
      samples.set(part, at);
      at += part.length;
    }
  }
  return { samples, sampleRate: stream.sampleRate, info: { ...stream.info, frames: length } };
}

async function openSource(
  source: ByteSource,
  selection: Selection,
  raw: RawFormat | undefined,
): Promise<[Opened, string]> {
  const name = source.name;
  if (raw !== undefined) return [openRaw(source, selection, raw), "raw float32"];
  if (source.size === 0) throw new WeSpeakerError("invalid-audio", `${name}: the file is empty (0 bytes)`);
  const head = await source.read(0, SNIFF_BYTES);
  const tag = id3Size(head);
  const sniffed = sniff(head, tag > 0 ? await source.read(tag, SNIFF_BYTES) : undefined);
  if (sniffed === undefined) {
    throw new WeSpeakerError(
      "unsupported-audio",
      `${name}: unknown audio format (starts with "${describeBytes(head)}"): not WAV, FLAC, MP3, Ogg, ` +
        `WebM/Matroska or MP4/M4A/MOV; for headerless float32 samples give f32le (CLI: --f32le RATE)`,
    );
  }
  const { container, offset } = sniffed;
  switch (container) {
    case "WAV": {
      const opened = await openWav(source, selection);
      const info = opened.info;
      return [{
        ...opened,
        info: {
          container,
          codec: info.format === "pcm" || info.format === "float"
            ? `${info.format}${info.bitsPerSample}`
            : info.format,
          decoder: WAV_DECODER,
          sampleRate: info.sampleRate,
          channels: info.channels,
          frames: info.frames,
        },
      }, "WAV"];
    }
    case "FLAC":
      return [await openFlac(source, selection, offset), "FLAC"];
    case "MP3": {
      // libmpg123 gives mono as two equal channels; the frame header's mode says what the file holds.
      const frame = offset > 0 ? await source.read(offset, 4) : head;
      const channels = frame.length === 4 && frame[3] >> 6 === 3 ? 1 : 2;
      checkChannel(selection.channel, channels, name);
      const xing = parseXing(await source.read(offset, 192));
      if (xing?.bytes !== undefined && offset + xing.bytes > source.size) {
        throw new WeSpeakerError(
          "invalid-audio",
          `${name}: MP3: truncated: its Xing header declares ${xing.bytes} bytes of audio, the file holds ` +
            `${source.size - offset}`,
        );
      }
      const decoder = await mp3Decoder(selection.channel, `${name}: MP3`);
      const facts = { container, codec: "mp3", decoder: "mpg123-decoder", channels };
      const opened = await openByteStream(sequentialBytes(source, offset), decoder, facts, name);
      // With a LAME tag the Xing header gives the exact length (progress totals and ETAs need it).
      const frames = xing?.frames !== undefined && xing.trim !== undefined
        ? xing.frames * xing.samplesPerFrame - xing.trim
        : undefined;
      const info = { ...opened.info, frames };
      return [{ ...opened, info, chunks: () => countedMp3(opened.chunks(), xing, name) }, "MP3"];
    }
    case "Ogg":
      await checkOgg(source);
      return [await openContainer(source, selection, container), container];
    case "Matroska":
      await checkEbml(source);
      return [await openContainer(source, selection, container), container];
    case "MP4":
      return [await openContainer(source, selection, container), container];
    default: {
      const codec =
        { ADTS: "aac", AIFF: "pcm", CAF: "unknown codec", ASF: "wma", AMR: "amr", AVI: "unknown codec" }[
          container
        ];
      return [await openFfmpeg(source, selection, { container, codec }), container];
    }
  }
}

/** What an MP3's Xing/Info header (and a LAME tag after it) says about the stream. */
interface Xing {
  /** Frames in the stream, and samples per frame. */
  frames?: number;
  samplesPerFrame: number;
  /** Bytes of the stream, its Xing frame included. */
  bytes?: number;
  /** Encoder delay and padding from the LAME tag, in samples. */
  trim?: number;
}

/** The Xing/Info header in the first frame of an MP3 stream (`frame` starts at its frame header), if any. */
function parseXing(frame: Uint8Array): Xing | undefined {
  const text = new TextDecoder("latin1").decode(frame.subarray(0, 64));
  const at = Math.max(text.indexOf("Xing"), text.indexOf("Info"));
  if (at < 4 || at + 8 > frame.length) return undefined;
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const flags = view.getUint32(at + 4);
  const mpeg1 = ((frame[1] >> 3) & 3) === 3;
  const layer = (frame[1] >> 1) & 3; // 1: layer III
  const xing: Xing = { samplesPerFrame: layer === 1 ? (mpeg1 ? 1152 : 576) : layer === 3 ? 384 : 1152 };
  let p = at + 8;
  if (flags & 1 && p + 4 <= frame.length) (xing.frames = view.getUint32(p)), (p += 4);
  if (flags & 2 && p + 4 <= frame.length) (xing.bytes = view.getUint32(p)), (p += 4);
  if (flags & 4) p += 100;
  if (flags & 8) p += 4;
  // LAME tag: 9 bytes of encoder name, then at offset 21 the 12-bit delay and padding.
  if (
    p + 24 <= frame.length &&
    /^(LAME|Lavc|Lavf|L3.9)/.test(new TextDecoder("latin1").decode(frame.subarray(p, p + 4)))
  ) {
    const delay = (frame[p + 21] << 4) | (frame[p + 22] >> 4);
    const padding = ((frame[p + 22] & 0x0f) << 8) | frame[p + 23];
    xing.trim = delay + padding;
  }
  return xing;
}

/**
 * The decoded samples of an MP3, counted against its Xing header: libmpg123 resynchronises silently past
 * damaged or missing frames, so a shortfall is the only sign of them.
 */
async function* countedMp3(
  chunks: AsyncGenerator<Float32Array>,
  xing: Xing | undefined,
  name: string,
): AsyncGenerator<Float32Array> {
  let decoded = 0;
  for await (const chunk of chunks) {
    decoded += chunk.length;
    yield chunk;
  }
  if (xing?.frames === undefined) return;
  // With the LAME tag the count is exact (gapless: the encoder's delay and padding removed); without it,
  // up to two frames of delay and padding may be trimmed.
  const total = xing.frames * xing.samplesPerFrame;
  const expected = total - (xing.trim ?? 2 * xing.samplesPerFrame);
  if (decoded < expected) {
    throw new WeSpeakerError(
      "invalid-audio",
      `${name}: MP3: corrupt or truncated: ${decoded} samples decoded, its Xing header declares ` +
        `${xing.frames} frames (${expected} samples)`,
    );
  }
}

/** Headerless interleaved float32 little-endian samples. */
function openRaw(source: ByteSource, selection: Selection, raw: RawFormat): Opened {
  const { sampleRate } = raw;
  const channels = raw.channels ?? 1;
  if (!Number.isSafeInteger(sampleRate) || sampleRate < 1 || sampleRate > 1_000_000) {
    throw new WeSpeakerError(
      "invalid-argument",
      `raw sample rate must be an integer in 1..1000000, got ${sampleRate}`,
    );
  }
  if (!Number.isSafeInteger(channels) || channels < 1 || channels > 64) {
    throw new WeSpeakerError("invalid-argument", `raw channels must be an integer in 1..64, got ${channels}`);
  }
  checkChannel(selection.channel, channels, source.name);
  const frameBytes = 4 * channels;
  if (source.size % frameBytes !== 0) {
    throw new WeSpeakerError(
      "invalid-audio",
      `${source.name}: raw float32: ${source.size} bytes is not a whole number of ${channels}-channel frames ` +
        `(${frameBytes} bytes each)`,
    );
  }
  const frames = source.size / frameBytes;
  const { channel, chunkFrames } = selection;
  return {
    info: { container: "raw", codec: "f32le", decoder: WAV_DECODER, sampleRate, channels, frames },
    async *chunks() {
      for (let done = 0; done < frames; done += chunkFrames) {
        const n = Math.min(chunkFrames, frames - done);
        yield interleavedFloat32(await source.read(done * frameBytes, n * frameBytes), channels, channel);
      }
    },
  };
}
