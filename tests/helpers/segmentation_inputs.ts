// Deterministic 10 s test waveforms for the segmentation model (pyannote segmentation-3.0), and the
// golden log-probabilities the float64 reference computed for them (tests/fixtures/segmentation/,
// written by scripts/reference/make_segmentation_golden.ts).
//
// Bit-identical under every engine: random numbers from scripts/generate_weights.ts's integer Rng,
// tones from complex rotations whose cosine and sine are rational functions of a random t (t = tan(ω/2)),
// so only + - * / and sqrt are used, never Math.sin/cos/exp.
import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import { WeSpeakerError } from "../../lib/errors.ts";
import { Rng } from "../../scripts/generate_weights.ts";

/** Samples of one segmentation chunk: 10 s at 16 kHz. */
export const SEGMENTATION_SAMPLES = 160000;

/**
 * What a test waveform sounds like:
 * - `speech`: tones with drifting partials from two alternating or overlapping "voices", syllable-rate
 *   modulation, pauses and a faint noise floor, at about 0.1 RMS;
 * - `silence`: exact zeros (the InstanceNorm then divides 0 by sqrt(eps));
 * - `clipped`: the same kind of signal far too loud, hard-clipped at ±0.99;
 * - `dc-offset`: a quieter one riding on a +0.3 offset.
 */
export type SegmentationInputKind = "speech" | "silence" | "clipped" | "dc-offset";

/** One test waveform: its kind and the seed of its content. */
export interface SegmentationInput {
  /** What it sounds like. */
  kind: SegmentationInputKind;
  /** Integer in [0, 2^32). */
  seed: number;
}

/** A slowly rotating unit complex number: a tone whose sine is `im`. */
class Tone {
  re: number;
  im: number;
  readonly #c: number;
  readonly #s: number;

  /** `t` = tan(ω/2) of the step angle ω; `u` = tan(φ/2) of the start phase φ. */
  constructor(readonly amplitude: number, t: number, u: number) {
    this.#c = (1 - t * t) / (1 + t * t);
    this.#s = (2 * t) / (1 + t * t);
    this.re = (1 - u * u) / (1 + u * u);
    this.im = (2 * u) / (1 + u * u);
  }

  step(): void {
    const re = this.re * this.#c - this.im * this.#s;
    this.im = this.re * this.#s + this.im * this.#c;
    this.re = re;
  }
}

const SAMPLE_RATE = 16000;

/** t for a tone of about `hz` (a little higher: tan(ω/2) ≈ ω/2 = π hz / rate for small ω). */
function stepOf(hz: number): number {
  return (Math.PI * hz) / SAMPLE_RATE;
}

/** Two voices of three partials each; blocks of 0.2-1.2 s of pause, one voice, or both. Zero mean-ish. */
function speechLike(rng: Rng, samples: number): Float64Array {
  const voices = [0, 1].map(() => {
    const f0 = rng.range(90, 260);
    return [1, rng.range(1.8, 2.6), rng.range(3.5, 7)].map((ratio, k) =>
      new Tone(k === 0 ? 1 : rng.range(0.2, 0.7), stepOf(f0 * ratio), rng.range(-1, 1))
    );
  });
  const syllables = new Tone(1, stepOf(rng.range(3, 6)), rng.range(-1, 1));
  const out = new Float64Array(samples);
  const gains = [0, 0];
  const targets = [0, 0];
  let blockEnd = 0;
  for (let i = 0; i < samples; i++) {
    if (i === blockEnd) {
      blockEnd = Math.min(samples, i + Math.floor(rng.range(0.2, 1.2) * SAMPLE_RATE));
      const u = rng.uniform();
      targets[0] = u < 0.4 || u >= 0.85 ? rng.range(0.5, 1) : 0;
      targets[1] = u >= 0.4 && u < 0.7 || u >= 0.85 ? rng.range(0.5, 1) : 0;
    }
    const syllable = 0.65 + 0.35 * syllables.im;
    syllables.step();
    let x = 0.01 * rng.normal();
    for (let v = 0; v < 2; v++) {
      // One-pole smoothing of the voice's gain: ~4 ms onsets instead of clicks.
      gains[v] += 0.015 * (targets[v] - gains[v]);
      let voice = 0;
      for (const tone of voices[v]) {
        voice += tone.amplitude * tone.im;
        tone.step();
      }
      x += gains[v] * syllable * voice;
    }
    out[i] = x;
  }
  return out;
}

function scaleToRms(x: Float64Array, rms: number): void {
  let ss = 0;
  for (const v of x) ss += v * v;
  const scale = rms / Math.sqrt(ss / x.length);
  for (let i = 0; i < x.length; i++) x[i] *= scale;
}

/**
 * A deterministic test waveform (see {@link SegmentationInputKind}).
 *
 * @param input its kind and seed
 * @param samples its length (default 10 s at 16 kHz)
 * @returns float32 samples
 * @throws {WeSpeakerError} `invalid-argument` for an unknown kind, a bad seed or a bad length
 */
export function segmentationWaveform(
  input: SegmentationInput,
  samples: number = SEGMENTATION_SAMPLES,
): Float32Array {
  const { kind, seed } = input;
  if (!Number.isSafeInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new WeSpeakerError(
      "invalid-argument",
      `segmentationWaveform: seed must be in [0, 2^32), got ${seed}`,
    );
  }
  if (!Number.isSafeInteger(samples) || samples < 1) {
    throw new WeSpeakerError("invalid-argument", `segmentationWaveform: samples must be ≥ 1, got ${samples}`);
  }
  if (kind === "silence") return new Float32Array(samples);
  const x = speechLike(new Rng(seed, `segmentation input ${kind}`), samples);
  switch (kind) {
    case "speech":
      scaleToRms(x, 0.1);
      break;
    case "clipped":
      scaleToRms(x, 0.9);
      for (let i = 0; i < x.length; i++) x[i] = Math.max(-0.99, Math.min(0.99, x[i]));
      break;
    case "dc-offset":
      scaleToRms(x, 0.05);
      for (let i = 0; i < x.length; i++) x[i] += 0.3;
      break;
    default:
      throw new WeSpeakerError("invalid-argument", `segmentationWaveform: unknown kind '${kind}'`);
  }
  return Float32Array.from(x);
}

/** tests/fixtures/segmentation/golden.json. */
export interface SegmentationGolden {
  /** What the fixture is and how it was made. */
  description: string;
  /** The command that rewrites it. */
  regenerate: string;
  /** Seed of `generateSegmentationCheckpoint` (scripts/generate_segmentation.ts). */
  checkpointSeed: number;
  /** sha256 and size of that checkpoint's bytes. */
  checkpoint: { sha256: string; bytes: number };
  /** The batch, in order: each item is `segmentationWaveform(input)`. */
  inputs: SegmentationInput[];
  /** sha256 of the float32 little-endian bytes of all inputs, in order. */
  inputsSha256: string;
  /** `[batch, frames, classes]` of `logProbs`. */
  shape: [number, number, number];
  /** Float64 reference log-probabilities rounded to float32, batch-major. */
  logProbs: Float32Array;
  /** How the reference was run and what it measured (noise floors, value ranges, argmax changes). */
  sanity: Record<string, unknown>;
}

/**
 * Reads tests/fixtures/segmentation/golden.json, decoding `logProbs` (base64 float32 little-endian).
 *
 * @throws {WeSpeakerError} `invalid-argument` when the stored log-probabilities do not fill the shape
 */
export function loadSegmentationGolden(): SegmentationGolden {
  const url = new URL("../fixtures/segmentation/golden.json", import.meta.url);
  const raw = JSON.parse(readFileSync(url, "utf8"));
  const bytes = Buffer.from(raw.logProbs, "base64");
  const logProbs = new Float32Array(bytes.length / 4);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < logProbs.length; i++) logProbs[i] = view.getFloat32(4 * i, true);
  const [b, t, c] = raw.shape;
  if (bytes.length % 4 !== 0 || logProbs.length !== b * t * c) {
    throw new WeSpeakerError(
      "invalid-argument",
      `${url.pathname}: logProbs holds ${bytes.length} bytes, shape [${raw.shape}] needs ${4 * b * t * c}`,
    );
  }
  return { ...raw, logProbs };
}
