/**
 * Embedding long audio in sliding windows while holding only the windows being embedded: a two-hour
 * recording is read, resampled and embedded piece by piece, never whole.
 *
 * @module
 */

import { MODEL_SAMPLE_RATE } from "./audio/load.ts";
import { WeSpeakerError } from "./errors.ts";
import { numFbankFrames } from "./audio/fbank.ts";
import { MIN_FRAMES } from "./native/symbols.ts";
import type { WeSpeakerModel } from "./model.ts";
import { type AudioSource, modelRateChunks, SampleQueue } from "./audio/sample_stream.ts";
import type { FileOptions } from "./audio/open.ts";

/** Options of {@link embedWindows}; `channel`, `track` and `f32le` say how to read a file. */
export interface WindowOptions extends FileOptions {
  /** Length of a window in seconds (default 10); rounded to whole samples at 16 kHz. */
  windowSeconds?: number;
  /** Distance between window starts in seconds (default: the window length, i.e. no overlap). */
  hopSeconds?: number;
  /** Most windows embedded in one native call (default 8): the windows held at once. */
  batchSize?: number;
  /** Return the raw output of the final Linear layer instead of the L2-normalised embedding. */
  raw?: boolean;
  /** Stops the embedding: the generator then throws `WeSpeakerError` with code `aborted`. */
  signal?: AbortSignal;
}

/** Audio for {@link embedWindows}: see {@link AudioSource}. */
export type WindowSource = AudioSource;

/** The embedding of one window of audio. */
export interface WindowEmbedding {
  /** Start of the window, in seconds from the start of the audio. */
  start: number;
  /** End of the window (exclusive), in seconds; shorter than a full window only for the last one. */
  end: number;
  /** 256 values, L2-normalised unless `raw` was set. */
  embedding: Float32Array;
}

/**
 * Embeds audio in windows of `windowSeconds`, one every `hopSeconds`, yielding them in order as they
 * are computed. Each embedding is bit for bit what `model.embed(audio.subarray(start, end), 16000)`
 * gives for that window of the whole 16 kHz audio (a file is first decoded to mono and resampled
 * exactly as `loadAudio` does). The audio is never held whole: a file is read with `openAudioStream`
 * and resampled with {@link StreamingResampler} as it goes, and only the windows of one batch, the audio
 * from the next window's start on and the resampler's few dozen samples of history are kept.
 *
 * Windows start at 0, `hop`, `2 * hop`, … and are full windows as long as the audio lasts. If audio
 * remains after the last full window, one more window starts at the next hop and ends with the audio;
 * it is embedded when it holds at least the model's minimum (9 fbank frames, 1680 samples: 0.105 s)
 * and dropped otherwise, so audio shorter than that yields nothing at all.
 *
 * ```ts
 * for await (const { start, end, embedding } of embedWindows(model, "meeting.wav", { hopSeconds: 5 })) {
 *   console.log(start, end, embedding[0]);
 * }
 * ```
 *
 * @param model the model to embed with (through {@link WeSpeakerModel.embedBatchAsync})
 * @param source an audio file path, an opened `AudioStream`, or mono samples at 16 kHz (see {@link WindowSource})
 * @param options window length and hop, batch size, `raw`, `signal`
 * @returns an async generator of the windows' embeddings, in order
 * @throws {WeSpeakerError} `invalid-argument` for a window shorter than the model's minimum, a
 *   non-positive hop or batch size, a chunk that is not a Float32Array or NaN/Inf samples; `io` and
 *   `invalid-wav`, `invalid-audio`, `unsupported-audio` for a file that cannot be read; `aborted` when `signal` fires; `closed` when the
 *   model is closed. Errors from the model name the source and the windows' times.
 */
export async function* embedWindows(
  model: WeSpeakerModel,
  source: WindowSource,
  options: WindowOptions = {},
): AsyncGenerator<WindowEmbedding, void, undefined> {
  const win = samplesOf("windowSeconds", options.windowSeconds ?? 10);
  const hop = options.hopSeconds === undefined ? win : samplesOf("hopSeconds", options.hopSeconds);
  if (numFbankFrames(win) < MIN_FRAMES) {
    throw new WeSpeakerError(
      "invalid-argument",
      `windowSeconds ${options.windowSeconds} is shorter than the model's minimum of ${MIN_FRAMES} fbank frames`,
    );
  }
  const batchSize = options.batchSize ?? 8;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new WeSpeakerError("invalid-argument", `batchSize must be a positive integer, got ${batchSize}`);
  }
  const { signal, raw } = options;
  const label = typeof source === "string" ? source : options.name ?? "audio";
  const checkAborted = () => {
    if (signal?.aborted) {
      throw new WeSpeakerError("aborted", `${label}: embedding windows aborted`, { cause: signal.reason });
    }
  };
  checkAborted();

  const held = new SampleQueue();
  let received = 0;
  let nextStart = 0;
  let coveredEnd = 0;
  let batch: Window[] = [];
  const embed = async function* (): AsyncGenerator<WindowEmbedding> {
    checkAborted();
    const clips = batch.map((w) => w.samples);
    const windows = batch;
    batch = [];
    let embeddings: Float32Array[];
    try {
      embeddings = await model.embedBatchAsync(clips, MODEL_SAMPLE_RATE, { raw, maxBatchSize: batchSize });
    } catch (err) {
      if (!(err instanceof WeSpeakerError)) throw err;
      const from = windows[0].start / MODEL_SAMPLE_RATE;
      const to = windows[windows.length - 1].end / MODEL_SAMPLE_RATE;
      throw new WeSpeakerError(err.code, `${label}, windows from ${from} s to ${to} s: ${err.message}`, {
        cause: err,
      });
    }
    for (let i = 0; i < windows.length; i++) {
      const { start, end } = windows[i];
      yield { start: start / MODEL_SAMPLE_RATE, end: end / MODEL_SAMPLE_RATE, embedding: embeddings[i] };
    }
  };

  const { channel, track, f32le, name } = options;
  for await (const chunk of modelRateChunks(source, { channel, track, f32le, name })) {
    if (!(chunk instanceof Float32Array)) {
      throw new WeSpeakerError("invalid-argument", `${label}: chunks must be Float32Arrays of mono samples`);
    }
    checkAborted();
    held.append(chunk);
    received += chunk.length;
    while (received >= nextStart + win) {
      batch.push({ start: nextStart, end: nextStart + win, samples: held.copy(nextStart, nextStart + win) });
      coveredEnd = nextStart + win;
      nextStart += hop;
      held.dropBefore(nextStart);
      if (batch.length === batchSize) yield* embed();
    }
  }
  if (received > coveredEnd && nextStart < received && numFbankFrames(received - nextStart) >= MIN_FRAMES) {
    batch.push({ start: nextStart, end: received, samples: held.copy(nextStart, received) });
  }
  if (batch.length > 0) yield* embed();
}

/** A window waiting for its embedding: sample range at 16 kHz and its samples. */
interface Window {
  start: number;
  end: number;
  samples: Float32Array;
}

function samplesOf(name: string, seconds: number): number {
  const n = typeof seconds === "number" ? Math.round(seconds * MODEL_SAMPLE_RATE) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new WeSpeakerError(
      "invalid-argument",
      `${name} must be a positive number of seconds, got ${seconds}`,
    );
  }
  return n;
}
