/**
 * Bringing audio to what the model takes: mono float samples at 16 kHz.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import { WeSpeakerError } from "../errors.ts";
import { resample } from "./resample.ts";
import { decodeWav, type WavInfo } from "./wav.ts";

/** Sample rate the embedding model was trained on; all audio is brought to it first. */
export const MODEL_SAMPLE_RATE = 16000;

/** Audio loaded from a file and brought to the model's rate. */
export interface LoadedAudio {
  /** Mono samples at 16 kHz. */
  samples: Float32Array;
  /** Always {@link MODEL_SAMPLE_RATE}. */
  sampleRate: 16000;
  /** Header facts of the file as stored (its own rate, channels, encoding, frame count). */
  source: WavInfo;
}

/**
 * Read a WAV file, mix it to mono and resample it to 16 kHz.
 *
 * This is exactly {@link decodeWav} followed by {@link toModelRate}, so embedding a file and embedding
 * its decoded samples with their rate give the same result.
 *
 * @param path file system path of a WAV file
 * @returns 16 kHz mono samples and the file's header facts
 * @throws {WeSpeakerError} code `io` when the file cannot be read, `invalid-wav` when it is not a
 *   supported WAV file, `invalid-argument` when it holds NaN/Inf samples, `audio-too-short` when it holds
 *   no audio; messages name `path`
 */
export async function loadAudio(path: string): Promise<LoadedAudio> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new WeSpeakerError("io", `cannot read audio file ${path}: ${why}`, { cause: err });
  }
  const decoded = decodeWav(bytes, path);
  let samples: Float32Array;
  try {
    samples = toModelRate(decoded.samples, decoded.sampleRate);
  } catch (err) {
    // The caller only knows the path, so say which file held the bad samples.
    if (err instanceof WeSpeakerError) {
      throw new WeSpeakerError(err.code, `${path}: ${err.message}`, { cause: err });
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
