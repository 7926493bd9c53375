/**
 * Bringing audio to what the model takes: mono float samples at 16 kHz.
 *
 * @module
 */

import { WeSpeakerError } from "../errors.ts";
import { resample } from "./resample.ts";
import { type AudioInfo, type AudioInput, type AudioOptions, openAudioStream, readAll } from "./open.ts";

/** Sample rate the embedding model was trained on; all audio is brought to it first. */
export const MODEL_SAMPLE_RATE = 16000;

/** Audio loaded from a file and brought to the model's rate. */
export interface LoadedAudio {
  /** Mono samples at 16 kHz. */
  samples: Float32Array;
  /** Always {@link MODEL_SAMPLE_RATE}. */
  sampleRate: 16000;
  /** Facts of the file as stored: container, codec, decoder, its own rate, channels, frame count. */
  source: AudioInfo;
}

/**
 * Read an audio file in any supported format (see `openAudioStream`), mix it to mono (or keep the
 * channel chosen) and resample it to 16 kHz.
 *
 * For a WAV file this is exactly `decodeWav` followed by {@link toModelRate}, so embedding a file and
 * embedding its decoded samples with their rate give the same result.
 *
 * @param input file system path of an audio file, or its bytes
 * @param options channel, track, raw layout (see `AudioOptions`)
 * @returns 16 kHz mono samples and the file's facts
 * @throws {WeSpeakerError} code `io` when the file cannot be read, `invalid-wav` / `invalid-audio` /
 *   `unsupported-audio` when it cannot be decoded, `invalid-argument` when it holds NaN/Inf samples,
 *   `audio-too-short` when it holds no audio; messages name the file
 */
export async function loadAudio(input: AudioInput, options: AudioOptions = {}): Promise<LoadedAudio> {
  const decoded = await readAll(await openAudioStream(input, options));
  const name = typeof input === "string" ? input : options.name ?? "audio data";
  let samples: Float32Array;
  try {
    samples = toModelRate(decoded.samples, decoded.sampleRate);
  } catch (err) {
    // The caller only knows the path, so say which file held the bad samples.
    if (err instanceof WeSpeakerError) {
      throw new WeSpeakerError(err.code, `${name}: ${err.message}`, { cause: err });
    }
    throw err;
  }
  return { samples, sampleRate: MODEL_SAMPLE_RATE, source: decoded.info };
}

/**
 * Validate caller-supplied mono samples and bring them to 16 kHz.
 *
 * Samples already at 16 kHz are returned as-is (no copy); other rates go through {@link resample},
 * which reproduces torchaudio's resampling as used by pyannote.
 *
 * @param samples mono audio, nominally in [-1, 1]
 * @param sampleRate rate of `samples` in Hz (positive integer)
 * @returns samples at {@link MODEL_SAMPLE_RATE}
 * @throws {WeSpeakerError} code `invalid-argument` when `samples` is not a Float32Array, the rate is not
 *   a positive integer, or a sample is NaN/Inf (the message gives the first bad index); `audio-too-short`
 *   when `samples` is empty
 */
export function toModelRate(samples: Float32Array, sampleRate: number): Float32Array {
  if (!(samples instanceof Float32Array)) {
    throw new WeSpeakerError("invalid-argument", "samples must be a Float32Array of mono audio");
  }
  if (typeof sampleRate !== "number" || !Number.isInteger(sampleRate) || sampleRate <= 0) {
    throw new WeSpeakerError(
      "invalid-argument",
      `sample rate must be a positive integer, got ${String(sampleRate)}`,
    );
  }
  if (samples.length === 0) throw new WeSpeakerError("audio-too-short", "audio is empty (0 samples)");
  for (let i = 0; i < samples.length; i++) {
    const v = samples[i];
    // v - v is NaN exactly for NaN and ±Infinity; cheaper than Number.isFinite in the hot loop.
    if (v - v !== 0) {
      throw new WeSpeakerError("invalid-argument", `sample ${i} is ${v}; audio must be finite`);
    }
  }
  return sampleRate === MODEL_SAMPLE_RATE ? samples : resample(samples, sampleRate, MODEL_SAMPLE_RATE);
}
