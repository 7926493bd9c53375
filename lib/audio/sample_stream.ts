/**
 * Audio as a stream of 16 kHz mono blocks, whatever its source, and the queue of samples that sliding
 * windows over it still need: what lets long recordings be processed without ever being held whole.
 *
 * @module
 */
import { MODEL_SAMPLE_RATE } from "./load.ts";
import { StreamingResampler } from "./resample.ts";
import { type AudioStream, type FileOptions, openAudioStream } from "./open.ts";

/**
 * Audio to process in windows: a file path (any supported format, channel count and rate), an opened
 * {@link AudioStream} (any rate), or mono samples at 16 kHz, whole or as an (async) iterable of chunks of
 * any length.
 */
export type AudioSource =
  | string
  | AudioStream
  | Float32Array
  | AsyncIterable<Float32Array>
  | Iterable<Float32Array>;

function isAudioStream(source: AudioSource): source is AudioStream {
  return typeof source === "object" && "sampleRate" in source && "info" in source;
}

// Large enough that per-chunk overhead vanishes, small enough not to matter next to a window.
const SLICE_SAMPLES = 65536;

/** The source's samples at 16 kHz, in blocks; a file (read with `file`'s options) is resampled as it goes. */
export async function* modelRateChunks(
  source: AudioSource,
  file: FileOptions = {},
): AsyncGenerator<Float32Array> {
  if (source instanceof Float32Array) {
    // In slices, so that the queue copies only what the windows need rather than the whole signal.
    for (let i = 0; i < source.length; i += SLICE_SAMPLES) yield source.subarray(i, i + SLICE_SAMPLES);
    return;
  }
  if (typeof source !== "string" && !isAudioStream(source)) {
    yield* source;
    return;
  }
  const stream = typeof source === "string" ? await openAudioStream(source, file) : source;
  if (stream.sampleRate === MODEL_SAMPLE_RATE) {
    yield* stream;
    return;
  }
  const resampler = new StreamingResampler(stream.sampleRate, MODEL_SAMPLE_RATE);
  for await (const chunk of stream) yield resampler.push(chunk);
  yield resampler.flush();
}

/**
 * The samples from the earliest window not yet taken up to the latest received, indexed by their
 * position in the whole signal. Samples a hop skips over (hop > window) are dropped as they arrive.
 */
export class SampleQueue {
  #data = new Float32Array(0);
  // #data[#head .. #head + #length) holds samples [#start, #start + #length) of the signal.
  #head = 0;
  #length = 0;
  #start = 0;
  // Samples still to arrive that lie before #start.
  #skip = 0;

  append(chunk: Float32Array): void {
    const skipped = Math.min(this.#skip, chunk.length);
    this.#skip -= skipped;
    const add = chunk.subarray(skipped);
    if (this.#head + this.#length + add.length > this.#data.length) {
      const need = this.#length + add.length;
      const live = this.#data.subarray(this.#head, this.#head + this.#length);
      // Room for twice what is live keeps the copying linear in the signal's length, whatever the chunks.
      if (need * 2 > this.#data.length) {
        this.#data = new Float32Array(need * 2);
        this.#data.set(live);
      } else this.#data.copyWithin(0, this.#head, this.#head + this.#length);
      this.#head = 0;
    }
    this.#data.set(add, this.#head + this.#length);
    this.#length += add.length;
  }

  copy(from: number, to: number): Float32Array {
    const at = this.#head + from - this.#start;
    return this.#data.slice(at, at + to - from);
  }

  dropBefore(position: number): void {
    const drop = position - this.#start;
    if (drop <= this.#length) {
      this.#head += drop;
      this.#length -= drop;
    } else {
      this.#skip += drop - this.#length;
      this.#head = 0;
      this.#length = 0;
    }
    this.#start = position;
  }
}
