/**
 * Reading a WAV file piece by piece, for audio too long to hold: memory stays at one chunk however
 * long the file is.
 *
 * @module
 */

import { WeSpeakerError } from "../errors.ts";
import { type ByteSource, fileSource } from "./byte_source.ts";
import { type DecodedStream, type Opened, type Selection, SourceStream } from "./audio_stream.ts";
import { checkChannel, decodeFrames, parseWavHeader, type WavInfo, wavInfo } from "./wav.ts";

/** Options of {@link openWavStream}. */
export interface WavStreamOptions {
  /** Frames per chunk (default 8192, about 0.19 s at 44.1 kHz); the last chunk may be shorter. */
  chunkFrames?: number;
  /** The channel to keep (0-based); default: the average of all channels. */
  channel?: number;
}

/**
 * An open WAV file whose audio is read as it is iterated: `for await` yields `Float32Array` chunks of
 * mono samples at {@link sampleRate} which, concatenated, are exactly `decodeWav(wholeFile).samples`.
 *
 * A stream is read once: the file is closed when an iteration ends, whether it ran to the end, was left
 * with `break` or failed. {@link close} (or `await using`) closes a stream that is not iterated.
 */
export type WavStream = DecodedStream<WavInfo>;

// Runtimes free ArrayBuffers lazily, and how much garbage piles up grows with the chunk size: reading and
// resampling 30 min of 44.1 kHz stereo under Deno peaked 40 MB above start with 8192 frames, 120 MB with 65536.
export const DEFAULT_CHUNK_FRAMES = 8192;

/** Checks a `chunkFrames` option. */
export function chunkFramesOption(chunkFrames: number | undefined): number {
  const n = chunkFrames ?? DEFAULT_CHUNK_FRAMES;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new WeSpeakerError("invalid-argument", `chunkFrames must be a positive integer, got ${String(n)}`);
  }
  return n;
}

/**
 * Opens a WAV file for reading in chunks, checking its header as `decodeWav` does (same encodings,
 * same size rules for truncated files and streaming writers' placeholder sizes, same error messages).
 * Only the header is read here; the audio is read with positional reads of one chunk at a time.
 *
 * ```ts
 * const stream = await openWavStream("meeting.wav");
 * for await (const chunk of stream) process(chunk, stream.sampleRate);
 * ```
 *
 * @param path file system path of a WAV file
 * @param options chunk size, channel
 * @returns the open stream, its header facts already known
 * @throws {WeSpeakerError} `io` when the file cannot be opened or read, `invalid-wav` naming `path` and
 *   the problem, `invalid-argument` for a `chunkFrames` that is not a positive integer or a channel the
 *   file does not have
 */
export async function openWavStream(path: string, options: WavStreamOptions = {}): Promise<WavStream> {
  const chunkFrames = chunkFramesOption(options.chunkFrames);
  const source = await fileSource(path);
  try {
    const opened = await openWav(source, { channel: options.channel ?? -1, track: undefined, chunkFrames });
    return new SourceStream(source, opened, (err) => err);
  } catch (err) {
    await source.close();
    throw err;
  }
}

/** The WAV decoder over any byte source: the header read now, the audio one chunk per read. */
export async function openWav(source: ByteSource, selection: Selection): Promise<Opened<WavInfo>> {
  const walk = parseWavHeader(source.size, source.name);
  let step = walk.next();
  while (!step.done) {
    const { offset, length } = step.value;
    step = walk.next(await source.read(offset, length));
  }
  const layout = step.value;
  const { channel } = selection;
  checkChannel(channel, layout.channels, source.name);
  const { frames, blockAlign, framesPerBlock, dataOffset, dataBytes } = layout;
  // Whole blocks per read (IMA ADPCM decodes block by block).
  const blocksPerChunk = Math.max(1, Math.floor(selection.chunkFrames / framesPerBlock));
  return {
    info: wavInfo(layout),
    async *chunks() {
      for (let done = 0, block = 0; done < frames; block += blocksPerChunk) {
        const count = Math.min(blocksPerChunk * framesPerBlock, frames - done);
        const offset = block * blockAlign;
        const length = Math.min(Math.ceil(count / framesPerBlock) * blockAlign, dataBytes - offset);
        const bytes = await source.read(dataOffset + offset, length);
        const samples = new Float32Array(count);
        decodeFrames(bytes, layout, samples, channel, source.name);
        done += count;
        yield samples;
      }
    },
  };
}
