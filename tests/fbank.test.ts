import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { fbank, numFbankFrames } from "../lib/audio/fbank.ts";
import { RealFft } from "../lib/audio/fft.ts";
import { WeSpeakerError, type WeSpeakerErrorCode } from "../lib/errors.ts";

interface FixtureCase {
  name: string;
  description: string;
  numSamples: number;
  options: { subtractMean?: boolean };
  input: { encoding: "f32le" | "s16le"; base64: string };
  expected: { frames: number; bins: number; frameStep: number; base64: string };
}

const fixture: { cases: FixtureCase[] } = JSON.parse(
  readFileSync(new URL("./fixtures/fbank.json", import.meta.url), "utf8"),
);

function decodeBase64(text: string): DataView {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new DataView(bytes.buffer);
}

function decodeFloat32(text: string): Float32Array {
  const view = decodeBase64(text);
  const out = new Float32Array(view.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}

function decodeInput(input: FixtureCase["input"]): Float32Array {
  if (input.encoding === "f32le") return decodeFloat32(input.base64);
  const view = decodeBase64(input.base64);
  const out = new Float32Array(view.byteLength / 2);
  for (let i = 0; i < out.length; i++) out[i] = view.getInt16(2 * i, true) / 32768;
  return out;
}

function assertWeSpeakerError(fn: () => unknown, code: WeSpeakerErrorCode, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof WeSpeakerError, `expected a WeSpeakerError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, message);
    return true;
  });
}

/** Deterministic noise in [-amplitude, amplitude], so tests need no fixture for simple signals. */
function noise(n: number, amplitude: number, seed = 1): Float32Array {
  const out = new Float32Array(n);
  let state = seed >>> 0;
  for (let i = 0; i < n; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = amplitude * (state / 2 ** 31 - 1);
  }
  return out;
}

describe("fbank matches the float64 Kaldi reference", () => {
  for (const c of fixture.cases) {
    test(`${c.name}: ${c.description}`, () => {
      const samples = decodeInput(c.input);
      assert.equal(samples.length, c.numSamples);
      const expected = decodeFloat32(c.expected.base64);
      const got = fbank(samples, c.options);
      assert.equal(got.frames, c.expected.frames);
      assert.equal(got.bins, c.expected.bins);
      assert.equal(got.data.length, got.frames * got.bins);

      const bins = got.bins;
      const step = c.expected.frameStep;
      assert.equal(expected.length, Math.ceil(got.frames / step) * bins);
      let maxError = 0;
      let worst = "";
      for (let row = 0; row * step < got.frames; row++) {
        const t = row * step;
        for (let m = 0; m < bins; m++) {
          const error = Math.abs(got.data[t * bins + m] - expected[row * bins + m]);
          if (error > maxError) {
            maxError = error;
            worst = `frame ${t} bin ${m}`;
          }
        }
      }
      assert.ok(maxError <= 1e-4, `max abs error ${maxError} at ${worst} exceeds 1e-4`);
    });
  }
});

describe("numFbankFrames", () => {
  test("follows snip_edges at the frame boundaries", () => {
    assert.equal(numFbankFrames(0), 0);
    assert.equal(numFbankFrames(399), 0);
    assert.equal(numFbankFrames(400), 1);
    assert.equal(numFbankFrames(559), 1);
    assert.equal(numFbankFrames(560), 2);
    assert.equal(numFbankFrames(16000), 98);
    assert.equal(numFbankFrames(8000, { sampleRate: 8000 }), 98);
  });

  test("agrees with the frames fbank returns", () => {
    for (const n of [400, 559, 560, 1234]) {
      assert.equal(fbank(noise(n, 0.1)).frames, numFbankFrames(n));
    }
  });

  test("rejects a negative or fractional sample count", () => {
    assertWeSpeakerError(() => numFbankFrames(-1), "invalid-argument", /numSamples/);
    assertWeSpeakerError(() => numFbankFrames(1.5), "invalid-argument", /numSamples/);
  });
});

describe("fbank errors", () => {
  test("empty input is too short", () => {
    assertWeSpeakerError(() => fbank(new Float32Array(0)), "audio-too-short", /\b0 samples.*at least 400/);
  });

  test("399 samples is too short, 400 is one frame", () => {
    assertWeSpeakerError(() => fbank(noise(399, 0.1)), "audio-too-short", /\b399 samples.*at least 400/);
    assert.equal(fbank(noise(400, 0.1)).frames, 1);
  });

  test("a NaN sample is named by its index", () => {
    const samples = noise(1000, 0.1);
    samples[567] = NaN;
    samples[900] = NaN;
    assertWeSpeakerError(() => fbank(samples), "invalid-argument", /sample 567 is NaN/);
  });

  test("an infinite sample is named by its index", () => {
    const samples = noise(1000, 0.1);
    samples[12] = Infinity;
    assertWeSpeakerError(() => fbank(samples), "invalid-argument", /sample 12 is Infinity/);
    samples[12] = -Infinity;
    assertWeSpeakerError(() => fbank(samples), "invalid-argument", /sample 12 is -Infinity/);
  });

  test("input other than a Float32Array is rejected", () => {
    const wrong: unknown[] = [Array.from(noise(400, 0.1)), new Float64Array(400), null, undefined, "audio"];
    for (const value of wrong) {
      assertWeSpeakerError(() => fbank(value as Float32Array), "invalid-argument", /must be a Float32Array/);
    }
  });

  test("out-of-range options are rejected", () => {
    const samples = noise(1000, 0.1);
    assertWeSpeakerError(() => fbank(samples, { sampleRate: 0 }), "invalid-argument", /sampleRate/);
    assertWeSpeakerError(() => fbank(samples, { sampleRate: NaN }), "invalid-argument", /sampleRate/);
    assertWeSpeakerError(() => fbank(samples, { numMelBins: 2 }), "invalid-argument", /numMelBins/);
    assertWeSpeakerError(() => fbank(samples, { numMelBins: 40.5 }), "invalid-argument", /numMelBins/);
    assertWeSpeakerError(() => fbank(samples, { frameLengthMs: -25 }), "invalid-argument", /frameLengthMs/);
    assertWeSpeakerError(() => fbank(samples, { frameShiftMs: 0.01 }), "invalid-argument", /frameShiftMs/);
    assertWeSpeakerError(() => fbank(samples, { scale: Infinity }), "invalid-argument", /scale/);
    assertWeSpeakerError(
      () => fbank(samples, { subtractMean: "yes" as unknown as boolean }),
      "invalid-argument",
      /subtractMean/,
    );
  });
});

describe("fbank properties", () => {
  test("mean subtraction centres every bin over the clip", () => {
    const { data, frames, bins } = fbank(noise(16000, 0.3));
    for (let m = 0; m < bins; m++) {
      let sum = 0;
      for (let t = 0; t < frames; t++) sum += data[t * bins + m];
      assert.ok(Math.abs(sum / frames) < 1e-5, `bin ${m} mean ${sum / frames}`);
    }
  });

  test("mean subtraction is the only difference from the raw features", () => {
    const samples = noise(4000, 0.2, 7);
    const centred = fbank(samples);
    const raw = fbank(samples, { subtractMean: false });
    const { frames, bins } = raw;
    for (let m = 0; m < bins; m++) {
      let mean = 0;
      for (let t = 0; t < frames; t++) mean += raw.data[t * bins + m] / frames;
      for (let t = 0; t < frames; t++) {
        assert.ok(Math.abs(raw.data[t * bins + m] - mean - centred.data[t * bins + m]) < 1e-5);
      }
    }
  });

  test("digital silence hits the FLT_EPSILON floor", () => {
    const { data } = fbank(new Float32Array(800), { subtractMean: false });
    const floor = Math.fround(Math.log(1.1920928955078125e-7));
    assert.ok(data.every((v) => v === floor));
  });

  test("honours numMelBins and sampleRate", () => {
    const features = fbank(noise(8000, 0.1), { sampleRate: 8000, numMelBins: 40 });
    assert.equal(features.bins, 40);
    assert.equal(features.frames, 98);
    assert.equal(features.data.length, 98 * 40);
  });
});

describe("RealFft", () => {
  test("matches a direct DFT for every supported small size and 512", () => {
    for (const n of [2, 4, 8, 16, 32, 512]) {
      const x = Float64Array.from(noise(n, 1, n));
      const re = new Float64Array(n / 2 + 1);
      const im = new Float64Array(n / 2 + 1);
      RealFft.forSize(n).transform(x, re, im);
      for (let k = 0; k <= n / 2; k++) {
        let wantRe = 0;
        let wantIm = 0;
        for (let j = 0; j < n; j++) {
          wantRe += x[j] * Math.cos((2 * Math.PI * j * k) / n);
          wantIm -= x[j] * Math.sin((2 * Math.PI * j * k) / n);
        }
        assert.ok(Math.abs(re[k] - wantRe) < 1e-10 && Math.abs(im[k] - wantIm) < 1e-10, `n=${n} k=${k}`);
      }
    }
  });

  test("is cached per size and rejects sizes that are not powers of two", () => {
    assert.equal(RealFft.forSize(512), RealFft.forSize(512));
    assert.throws(() => RealFft.forSize(400), RangeError);
    assert.throws(() => RealFft.forSize(1), RangeError);
  });
});
