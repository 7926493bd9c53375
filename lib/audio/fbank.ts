/**
 * Kaldi log-mel filterbank features, as WeSpeaker models expect them.
 *
 * This reproduces `torchaudio.compliance.kaldi.fbank` with the settings pyannote's WeSpeaker
 * wrapper uses (samples scaled by 32768, 25 ms Hamming frames every 10 ms with `snip_edges`,
 * no dither, DC removal, 0.97 pre-emphasis, 512-point power spectrum, 80 mel bins from 20 Hz to
 * Nyquist, log floored at `FLT_EPSILON`), followed by per-clip mean normalisation.
 *
 * @module
 */
import { WeSpeakerError } from "../errors.ts";
import { RealFft } from "./fft.ts";

/** Settings of {@linkcode fbank}; the defaults are the ones the WeSpeaker models were trained with. */
export interface FbankOptions {
  /** Sample rate of `samples` in Hz (default 16000). The models only accept 16 kHz features. */
  sampleRate?: number;
  /** Number of triangular mel filters, at least 4 (default 80). */
  numMelBins?: number;
  /** Frame length in milliseconds (default 25). */
  frameLengthMs?: number;
  /** Frame shift in milliseconds (default 10). */
  frameShiftMs?: number;
  /** Factor applied to the samples first (default 32768: float audio in [-1, 1] to 16-bit range). */
  scale?: number;
  /** Subtract each bin's mean over all frames of the clip (default true). */
  subtractMean?: boolean;
}

/** Log-mel features of one clip. */
export interface Fbank {
  /** Frame-major values: frame `t`, bin `m` at `t * bins + m`. */
  data: Float32Array;
  /** Number of frames. */
  frames: number;
  /** Number of mel bins per frame. */
  bins: number;
}

/** `std::numeric_limits<float>::epsilon()`: Kaldi's floor on mel energies before the log. */
const FLT_EPSILON = 1.1920928955078125e-7;
const PREEMPHASIS = 0.97;
const LOW_FREQ_HZ = 20;

interface Settings {
  sampleRate: number;
  numMelBins: number;
  frameLengthMs: number;
  frameLength: number;
  frameShift: number;
  scale: number;
  subtractMean: boolean;
}

/** Everything that depends only on the configuration, built once per configuration. */
interface Tables {
  fft: RealFft;
  window: Float64Array;
  /** Filter `m` covers FFT bins `melStart[m] …` with weights `melWeights[melOffset[m] … melOffset[m+1])`. */
  melStart: Int32Array;
  melOffset: Int32Array;
  melWeights: Float64Array;
}

const tablesCache = new Map<string, Tables>();

function invalid(message: string): WeSpeakerError {
  return new WeSpeakerError("invalid-argument", message);
}

function typeName(value: unknown): string {
  if (value === null || typeof value !== "object") return value === null ? "null" : typeof value;
  return (value as object).constructor?.name ?? "object";
}

function positiveNumber(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw invalid(`${name} must be a positive finite number, got ${String(value)}`);
  }
  return value;
}

function resolve(options: FbankOptions | undefined): Settings {
  if (options !== undefined && (typeof options !== "object" || options === null)) {
    throw invalid(`options must be an object, got ${options === null ? "null" : typeof options}`);
  }
  const o = options ?? {};
  const sampleRate = positiveNumber("sampleRate", o.sampleRate, 16000);
  if (sampleRate <= 2 * LOW_FREQ_HZ) {
    throw invalid(
      `sampleRate must exceed ${
        2 * LOW_FREQ_HZ
      } Hz (the lowest mel filter starts at ${LOW_FREQ_HZ} Hz), got ${sampleRate}`,
    );
  }
  const numMelBins = o.numMelBins ?? 80;
  if (
    typeof numMelBins !== "number" || !Number.isInteger(numMelBins) || numMelBins < 4 || numMelBins > 1024
  ) {
    throw invalid(`numMelBins must be an integer from 4 to 1024, got ${String(numMelBins)}`);
  }
  const frameLengthMs = positiveNumber("frameLengthMs", o.frameLengthMs, 25);
  const frameShiftMs = positiveNumber("frameShiftMs", o.frameShiftMs, 10);
  // Same expression and truncation as torchaudio, so frame sizes agree for any rate and duration.
  const frameLength = Math.trunc(sampleRate * frameLengthMs * 0.001);
  const frameShift = Math.trunc(sampleRate * frameShiftMs * 0.001);
  if (frameLength < 2) {
    throw invalid(
      `frameLengthMs ${frameLengthMs} at ${sampleRate} Hz gives ${frameLength} samples per frame; at least 2 are needed`,
    );
  }
  if (frameShift < 1) {
    throw invalid(`frameShiftMs ${frameShiftMs} at ${sampleRate} Hz gives a shift of 0 samples`);
  }
  const scale = positiveNumber("scale", o.scale, 32768);
  const subtractMean = o.subtractMean ?? true;
  if (typeof subtractMean !== "boolean") {
    throw invalid(`subtractMean must be a boolean, got ${typeof subtractMean}`);
  }
  return { sampleRate, numMelBins, frameLengthMs, frameLength, frameShift, scale, subtractMean };
}

function melScale(hz: number): number {
  return 1127 * Math.log(1 + hz / 700);
}

function buildTables(s: Settings): Tables {
  let padded = 1;
  while (padded < s.frameLength) padded *= 2;
  const fft = RealFft.forSize(padded);

  const window = new Float64Array(s.frameLength);
  for (let i = 0; i < s.frameLength; i++) {
    window[i] = 0.54 - 0.46 * Math.cos((2 * Math.PI * i) / (s.frameLength - 1));
  }

  // Kaldi's filters are triangles in the mel domain, sampled at the FFT bin centres below Nyquist;
  // the Nyquist bin itself gets no weight. Each triangle is a contiguous run of non-zero weights,
  // so only that run is stored.
  const numFftBins = padded / 2;
  const binWidth = s.sampleRate / padded;
  const melLow = melScale(LOW_FREQ_HZ);
  const melHigh = melScale(s.sampleRate / 2);
  const delta = (melHigh - melLow) / (s.numMelBins + 1);
  const binMel = new Float64Array(numFftBins);
  for (let k = 0; k < numFftBins; k++) binMel[k] = melScale(binWidth * k);

  const melStart = new Int32Array(s.numMelBins);
  const melOffset = new Int32Array(s.numMelBins + 1);
  const weights: number[] = [];
  for (let m = 0; m < s.numMelBins; m++) {
    const left = melLow + m * delta;
    const center = melLow + (m + 1) * delta;
    const right = melLow + (m + 2) * delta;
    let first = -1;
    for (let k = 0; k < numFftBins; k++) {
      const w = Math.min((binMel[k] - left) / (center - left), (right - binMel[k]) / (right - center));
      if (w > 0) {
        if (first < 0) first = k;
        weights.push(w);
      }
    }
    melStart[m] = Math.max(first, 0);
    melOffset[m + 1] = weights.length;
  }
  return { fft, window, melStart, melOffset, melWeights: Float64Array.from(weights) };
}

function tablesFor(s: Settings): Tables {
  const key = `${s.sampleRate}/${s.frameLength}/${s.numMelBins}`;
  let tables = tablesCache.get(key);
  if (!tables) {
    tables = buildTables(s);
    tablesCache.set(key, tables);
  }
  return tables;
}

function frameCount(numSamples: number, s: Settings): number {
  return numSamples < s.frameLength ? 0 : 1 + Math.floor((numSamples - s.frameLength) / s.frameShift);
}

/**
 * Number of frames {@linkcode fbank} produces for a clip of `numSamples` samples: Kaldi's
 * `snip_edges` rule, `1 + floor((numSamples - frameLength) / frameShift)`, or 0 when the clip is
 * shorter than one frame (400 samples at 16 kHz).
 *
 * @param numSamples clip length in samples, a non-negative integer
 * @param options the same options as given to {@linkcode fbank}
 * @throws {WeSpeakerError} `invalid-argument` when `numSamples` or an option is out of range
 */
export function numFbankFrames(numSamples: number, options?: FbankOptions): number {
  if (typeof numSamples !== "number" || !Number.isSafeInteger(numSamples) || numSamples < 0) {
    throw invalid(`numSamples must be a non-negative integer, got ${String(numSamples)}`);
  }
  return frameCount(numSamples, resolve(options));
}

/**
 * Computes Kaldi log-mel filterbank features of mono audio, matching
 * `torchaudio.compliance.kaldi.fbank` as pyannote's WeSpeaker wrapper calls it (followed by
 * per-clip mean subtraction unless `subtractMean` is false).
 *
 * Computed in float64, returned as float32.
 *
 * @param samples mono samples in [-1, 1] at `options.sampleRate` (16 kHz for the models)
 * @param options framing, mel and normalisation settings; the defaults match the models
 * @returns `frames × bins` features, frame-major
 * @throws {WeSpeakerError} `invalid-argument` when `samples` is not a Float32Array, holds a NaN or
 *   infinite sample, or an option is out of range; `audio-too-short` when `samples` is shorter
 *   than one frame
 *
 * @example
 * ```ts
 * import { fbank } from "jsr:@x/wespeaker";
 *
 * const features = fbank(new Float32Array(16000)); // 1 s of silence
 * console.log(features.frames, features.bins); // 98 80
 * ```
 */
export function fbank(samples: Float32Array, options?: FbankOptions): Fbank {
  if (!(samples instanceof Float32Array)) {
    throw invalid(`samples must be a Float32Array, got ${typeName(samples)}`);
  }
  const s = resolve(options);
  const n = samples.length;
  if (n < s.frameLength) {
    throw new WeSpeakerError(
      "audio-too-short",
      `audio has ${n} samples; at least ${s.frameLength} (one ${s.frameLengthMs} ms frame at ${s.sampleRate} Hz) are needed`,
    );
  }
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(samples[i])) throw invalid(`sample ${i} is ${samples[i]}; audio must be finite`);
  }

  const { fft, window, melStart, melOffset, melWeights } = tablesFor(s);
  const frames = frameCount(n, s);
  const bins = s.numMelBins;
  const len = s.frameLength;
  const padded = fft.size;
  const numFftBins = padded / 2;
  // The zero padding past `len` is written once here and never touched by the frame loop.
  const frame = new Float64Array(padded);
  const re = new Float64Array(numFftBins + 1);
  const im = new Float64Array(numFftBins + 1);
  const power = new Float64Array(numFftBins);
  const means = new Float64Array(bins);
  const data = new Float32Array(frames * bins);

  for (let t = 0; t < frames; t++) {
    const base = t * s.frameShift;
    let sum = 0;
    for (let i = 0; i < len; i++) {
      const v = samples[base + i] * s.scale;
      frame[i] = v;
      sum += v;
    }
    const dc = sum / len;
    for (let i = 0; i < len; i++) frame[i] -= dc;
    // Pre-emphasis runs backwards so each sample still sees its unmodified predecessor; the first
    // sample is its own predecessor, as in Kaldi. The window is folded into the same pass.
    for (let i = len - 1; i > 0; i--) frame[i] = (frame[i] - PREEMPHASIS * frame[i - 1]) * window[i];
    frame[0] = (frame[0] - PREEMPHASIS * frame[0]) * window[0];

    fft.transform(frame, re, im);
    for (let k = 0; k < numFftBins; k++) power[k] = re[k] * re[k] + im[k] * im[k];

    const row = t * bins;
    for (let m = 0; m < bins; m++) {
      const bin = melStart[m] - melOffset[m]; // FFT bin of weight j is bin + j
      let energy = 0;
      for (let j = melOffset[m]; j < melOffset[m + 1]; j++) energy += melWeights[j] * power[bin + j];
      const logEnergy = Math.log(Math.max(energy, FLT_EPSILON));
      data[row + m] = logEnergy;
      means[m] += logEnergy;
    }
  }

  if (s.subtractMean) {
    // The means come from the float64 values but are subtracted from the stored float32 ones:
    // a float64 copy of a long clip's features would triple peak memory to save one float32
    // rounding of the uncentred value (~2e-6 at typical magnitudes).
    for (let m = 0; m < bins; m++) means[m] /= frames;
    for (let t = 0; t < frames; t++) {
      const row = t * bins;
      for (let m = 0; m < bins; m++) data[row + m] -= means[m];
    }
  }
  return { data, frames, bins };
}
