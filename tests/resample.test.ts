import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { resample } from "../lib/audio/resample.ts";
import { MODEL_SAMPLE_RATE, toModelRate } from "../lib/audio/load.ts";
import { WeSpeakerError } from "../lib/errors.ts";

interface Case {
  from: number;
  to: number;
  input: number[];
  output: number[];
}

function tone(freq: number, rate: number, n: number, amp = 0.5): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => amp * Math.sin((2 * Math.PI * freq * i) / rate));
}

/** Amplitude of a tone of known frequency by least squares on sin/cos, away from the edges. */
function amplitude(x: Float32Array, freq: number, rate: number, skip: number): number {
  let ss = 0, cc = 0, sc = 0, xs = 0, xc = 0;
  for (let i = skip; i < x.length - skip; i++) {
    const s = Math.sin((2 * Math.PI * freq * i) / rate);
    const c = Math.cos((2 * Math.PI * freq * i) / rate);
    ss += s * s;
    cc += c * c;
    sc += s * c;
    xs += x[i] * s;
    xc += x[i] * c;
  }
  const det = ss * cc - sc * sc;
  const a = (xs * cc - xc * sc) / det;
  const b = (xc * ss - xs * sc) / det;
  return Math.hypot(a, b);
}

function rms(x: Float32Array, skip: number): number {
  let e = 0;
  for (let i = skip; i < x.length - skip; i++) e += x[i] * x[i];
  return Math.sqrt(e / (x.length - 2 * skip));
}

function assertInvalidArgument(fn: () => unknown, fragment: string) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof WeSpeakerError, `expected WeSpeakerError, got ${e}`);
    assert.equal(e.code, "invalid-argument");
    assert.ok(e.message.includes(fragment), `"${e.message}" should contain "${fragment}"`);
    return true;
  });
}

describe("resample vs numpy float64 reference of torchaudio", () => {
  const fixture = JSON.parse(
    readFileSync(fileURLToPath(new URL("./fixtures/resample.json", import.meta.url)), "utf8"),
  ) as { cases: Case[] };
  for (const c of fixture.cases) {
    test(`${c.from} -> ${c.to} (${c.input.length} samples)`, () => {
      const out = resample(Float32Array.from(c.input), c.from, c.to);
      assert.equal(out.length, c.output.length);
      let maxErr = 0;
      for (let i = 0; i < out.length; i++) maxErr = Math.max(maxErr, Math.abs(out[i] - c.output[i]));
      assert.ok(maxErr <= 1e-6, `max abs error ${maxErr}`); // observed ~6e-8: float32 output rounding
    });
  }
});

describe("resample properties", () => {
  test("output length is ceil(n * to / from)", () => {
    for (
      const [from, to] of [[44100, 16000], [48000, 16000], [8000, 16000], [22050, 16000], [11025, 16000], [
        16000,
        8000,
      ], [7, 3]]
    ) {
      for (const n of [0, 1, 2, 3, 440, 441, 442, 1000, 4801]) {
        const out = resample(new Float32Array(n), from, to);
        assert.equal(out.length, Math.ceil((n * to) / from), `${from}->${to}, n=${n}`);
      }
    }
  });

  test("same rate returns a copy", () => {
    const x = tone(100, 16000, 50);
    const y = resample(x, 16000, 16000);
    assert.deepEqual(y, x);
    assert.notEqual(y, x);
    y[0] = 9;
    assert.notEqual(x[0], 9);
  });

  for (const rate of [44100, 48000, 8000, 22050]) {
    test(`1 kHz tone at ${rate} Hz keeps its amplitude within 1% at 16 kHz`, () => {
      const y = resample(tone(1000, rate, rate), rate, 16000);
      const a = amplitude(y, 1000, 16000, 200);
      assert.ok(Math.abs(a / 0.5 - 1) < 0.01, `amplitude ${a}`);
    });
  }

  test("tone above the new Nyquist is attenuated by more than 40 dB", () => {
    for (const [freq, rate] of [[10000, 48000], [12000, 44100], [11000, 32000]]) {
      const y = resample(tone(freq, rate, rate, 1), rate, 16000);
      const db = 20 * Math.log10(rms(y, 200) / Math.SQRT1_2);
      assert.ok(db < -40, `${freq} Hz at ${rate}: ${db.toFixed(1)} dB`);
    }
  });

  test("DC is preserved away from the edges", () => {
    for (const [from, to] of [[44100, 16000], [48000, 16000], [8000, 16000], [22050, 16000]]) {
      const y = resample(new Float32Array(from / 10).fill(0.25), from, to);
      for (let i = 100; i < y.length - 100; i++) {
        assert.ok(Math.abs(y[i] - 0.25) < 0.25 * 1e-3, `${from}->${to} sample ${i}: ${y[i]}`);
      }
    }
  });

  test("invalid rates throw invalid-argument naming the rate", () => {
    const x = new Float32Array(10);
    for (const bad of [0, -16000, 16000.5, NaN, Infinity]) {
      assertInvalidArgument(() => resample(x, bad, 16000), String(bad));
      assertInvalidArgument(() => resample(x, 16000, bad), String(bad));
    }
  });
});

describe("toModelRate", () => {
  test("16 kHz input is returned without a copy", () => {
    const x = tone(300, 16000, 100);
    assert.equal(toModelRate(x, MODEL_SAMPLE_RATE), x);
  });
  test("other rates go through resample", () => {
    const x = tone(300, 8000, 100);
    assert.deepEqual(toModelRate(x, 8000), resample(x, 8000, 16000));
  });
  test("rejects non-Float32Array samples", () => {
    assertInvalidArgument(() => toModelRate([0, 1] as unknown as Float32Array, 16000), "Float32Array");
    assertInvalidArgument(
      () => toModelRate(new Float64Array(4) as unknown as Float32Array, 16000),
      "Float32Array",
    );
  });
  test("rejects bad sample rates naming the value", () => {
    assertInvalidArgument(
      () => toModelRate(new Float32Array(4), 0),
      "sample rate must be a positive integer, got 0",
    );
    assertInvalidArgument(() => toModelRate(new Float32Array(4), 44100.5), "got 44100.5");
    assertInvalidArgument(() => toModelRate(new Float32Array(4), NaN), "got NaN");
    assertInvalidArgument(() => toModelRate(new Float32Array(4), -1), "got -1");
  });
  test("rejects NaN / Infinity naming the first bad index", () => {
    const x = new Float32Array(10);
    x[7] = Infinity;
    x[8] = NaN;
    assertInvalidArgument(() => toModelRate(x, 16000), "sample 7");
    x[3] = NaN;
    assertInvalidArgument(() => toModelRate(x, 44100), "sample 3");
  });
  test("empty audio is audio-too-short", () => {
    assert.throws(() => toModelRate(new Float32Array(0), 16000), (e: unknown) => {
      assert.ok(e instanceof WeSpeakerError);
      assert.equal(e.code, "audio-too-short");
      return true;
    });
  });
});
