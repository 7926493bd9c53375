/**
 * What every decoder hands back, and the one stream class that wraps them: mono chunks at the file's
 * own rate, read once, the file closed when the iteration ends however it ends.
 *
 * @module
 */
import { WeSpeakerError } from "../errors.ts";
import type { ByteSource } from "./byte_source.ts";

/** What is known about an opened recording before its audio is read. */
export interface AudioInfo {
  /** The container, as sniffed from its bytes: `WAV`, `FLAC`, `MP3`, `Ogg`, `WebM`, `Matroska`, `MP4`, … */
  container: string;
  /** The codec of the audio decoded (`pcm`, `mu-law`, `flac`, `mp3`, `vorbis`, `opus`, `aac`, …). */
  codec: string;
  /** Which decoder reads it: `wespeaker` (our own), an npm package's name, or `ffmpeg`. */
  decoder: string;
  /** Frames per second of the decoded samples (the file's own rate). */
  sampleRate: number;
  /** Channels in the file (the stream yields their average, or the one chosen). */
  channels: number;
  /** Frames the file holds when its header says so; `undefined` when only decoding it all would tell. */
  frames: number | undefined;
}

/** Which audio to take from a file. */
export interface Selection {
  /** The channel to keep (0-based), or -1 for the average of all channels. */
  channel: number;
  /** The audio track of a container holding several, or `undefined` to require a single one. */
  track: number | undefined;
  /** Frames per yielded chunk, for decoders that choose (WAV). */
  chunkFrames: number;
}

/** A decoder opened on a source: its facts, and its audio as mono chunks. */
export interface Opened<I = AudioInfo> {
  info: I;
  /** Mono samples (the selection applied) at `info.sampleRate`; iterated at most once. */
  chunks(): AsyncGenerator<Float32Array>;
  /** Frees what the decoder holds beyond the source (WASM memory, a child process). */
  release?(): void | Promise<void>;
}

/**
 * Decoded channels (planar, equal lengths) to one mono array: the chosen channel, or their average
 * computed in double precision in channel order, exactly as the WAV reader averages, so that a lossless
 * file decodes to the same bits whatever its container.
 */
export function mixPlanes(planes: readonly Float32Array[], channel: number): Float32Array {
  if (channel >= 0) return planes[channel].slice();
  if (planes.length === 1) return planes[0].slice();
  const n = planes[0].length;
  const out = new Float32Array(n);
  const count = planes.length;
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let c = 0; c < count; c++) sum += planes[c][i];
    out[i] = sum / count;
  }
  return out;
}

/**
 * Interleaved 32-bit little-endian float frames (ffmpeg's output, raw input) to mono: the chosen channel,
 * or the average in double precision in channel order, as the WAV reader does for float WAV files.
 */
export function interleavedFloat32(bytes: Uint8Array, channels: number, channel: number): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const frameBytes = 4 * channels;
  const n = Math.floor(bytes.length / frameBytes);
  const out = new Float32Array(n);
  for (let i = 0, p = 0; i < n; i++, p += frameBytes) {
    if (channel >= 0) out[i] = view.getFloat32(p + 4 * channel, true);
    else {
      let sum = 0;
      for (let c = 0; c < channels; c++) sum += view.getFloat32(p + 4 * c, true);
      out[i] = sum / channels;
    }
  }
  return out;
}

/**
 * An open recording whose audio is read as it is iterated: `for await` yields `Float32Array` chunks of
 * mono samples at {@link sampleRate}. Read once: the file is closed when an iteration ends, whether it
 * ran to the end, was left with `break` or failed; {@link close} (or `await using`) closes one that is
 * not iterated.
 */
export interface DecodedStream<I> extends AsyncIterable<Float32Array>, AsyncDisposable {
  /** What is known about the recording before reading it. */
  readonly info: I;
  /** Rate of the yielded samples, Hz: the file's own. */
  readonly sampleRate: number;
  /** Closes the file. Idempotent; iterating afterwards throws `closed`. */
  close(): Promise<void>;
}

/** Wraps an opened decoder: one iteration, errors named after the file, the source closed at the end. */
export class SourceStream<I extends { sampleRate: number }> implements DecodedStream<I> {
  readonly info: I;
  readonly sampleRate: number;
  #source: ByteSource | null;
  #opened: Opened<I>;
  #iterated = false;
  readonly #describe: (err: unknown) => unknown;

  constructor(source: ByteSource, opened: Opened<I>, describe: (err: unknown) => unknown) {
    this.#source = source;
    this.#opened = opened;
    this.info = opened.info;
    this.sampleRate = opened.info.sampleRate;
    this.#describe = describe;
  }

  [Symbol.asyncIterator](): AsyncIterator<Float32Array> {
    if (this.#iterated || this.#source === null) {
      throw new WeSpeakerError(
        "closed",
        `audio stream of ${
          this.#source?.name ?? "a file"
        } was already read or closed: open it again to read it again`,
      );
    }
    this.#iterated = true;
    return this.#chunks();
  }

  async *#chunks(): AsyncGenerator<Float32Array> {
    try {
      for await (const chunk of this.#opened.chunks()) {
        if (this.#source === null) {
          throw new WeSpeakerError("closed", "audio stream was closed while being read");
        }
        if (chunk.length > 0) yield chunk;
      }
    } catch (err) {
      throw this.#describe(err);
    } finally {
      await this.close();
    }
  }

  async close(): Promise<void> {
    const source = this.#source;
    this.#source = null;
    if (source === null) return;
    try {
      await this.#opened.release?.();
    } finally {
      await source.close();
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
