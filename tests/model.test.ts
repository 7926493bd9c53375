import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { decodeWav, fbank, WeSpeakerError, WeSpeakerModel } from "../mod.ts";
import { embedNative, loadModel } from "../lib/native/library.ts";
import { encodeSafetensors } from "../lib/hub/safetensors.ts";
import { syntheticFeatures, syntheticMasks } from "../scripts/generate_weights.ts";
import { encodeWav, randomInts } from "./helpers/wav_writer.ts";
import { tensorsOf, testWeights, writeScratch } from "./helpers/weights.ts";

interface GoldenCase {
  name: string;
  featureSeeds: number[];
  frames: number;
  lengths?: number[];
  masks?: { seeds: number[]; numMasks: number; frames: number };
  normalized: number[][][];
  raw: number[][][];
}

const fixture = JSON.parse(readFileSync(new URL("./fixtures/embeddings.json", import.meta.url), "utf8")) as {
  cases: GoldenCase[];
};
const weights = testWeights();
const model = await WeSpeakerModel.load(weights.path);
// The batched golden cases (lengths, several items with masks) go through the native call itself,
// on a second handle for the same weights.
const handle = loadModel(weights.path);
const speech = fileURLToPath(new URL("../../shared/data/speech/", import.meta.url));

function compare(
  actual: Float32Array,
  expected: number[],
  what: string,
  maxAbs: number,
  minCosine: number,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let dot = 0, na = 0, nb = 0, worst = 0;
  for (let i = 0; i < actual.length; i++) {
    dot += actual[i] * expected[i];
    na += actual[i] ** 2;
    nb += expected[i] ** 2;
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  }
  const cosine = dot / Math.sqrt(na * nb);
  assert.ok(cosine >= minCosine, `${what}: cosine ${cosine} < ${minCosine}`);
  assert.ok(worst <= maxAbs, `${what}: max abs diff ${worst} > ${maxAbs}`);
}

function checkAgainstGolden(c: GoldenCase, normalized: Float32Array, raw: Float32Array): void {
  c.normalized.forEach((item, b) =>
    item.forEach((expected, s) => {
      const at = (b * item.length + s) * 256;
      const what = `${c.name} item ${b} mask ${s}`;
      compare(normalized.subarray(at, at + 256), expected, what, 1e-4, 0.99999);
      const scale = Math.max(...c.raw[b][s].map(Math.abs));
      compare(raw.subarray(at, at + 256), c.raw[b][s], `${what} (raw)`, 1e-4 * scale, 0.99999);
    })
  );
}

function caseInputs(c: GoldenCase) {
  const features = new Float32Array(c.featureSeeds.length * c.frames * 80);
  c.featureSeeds.forEach((seed, b) => features.set(syntheticFeatures(seed, c.frames), b * c.frames * 80));
  const masks = c.masks;
  let maskData: Float32Array | undefined;
  if (masks) {
    maskData = new Float32Array(masks.seeds.length * masks.numMasks * masks.frames);
    masks.seeds.forEach((seed, b) =>
      maskData!.set(syntheticMasks(seed, masks.numMasks, masks.frames), b * masks.numMasks * masks.frames)
    );
  }
  return { features, maskData };
}

// A deterministic, speech-like test signal: noise bursts shaped by a slow envelope, plus a tone.
function testSignal(samples: number, seed: number, rate = 16000): Float32Array {
  const noise = randomInts(samples, -8000, 8000, seed);
  return Float32Array.from(noise, (n, i) => {
    const t = i / rate;
    return (n / 32768) * (0.6 + 0.4 * Math.sin(2 * Math.PI * 3 * t)) + 0.2 * Math.sin(2 * Math.PI * 220 * t);
  });
}

async function rejects(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof WeSpeakerError, `expected WeSpeakerError, got ${err}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return true;
  });
}

function throws(fn: () => unknown, code: string, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof WeSpeakerError, `expected WeSpeakerError, got ${err}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return true;
  });
}

describe("network parity with the float64 reference", () => {
  for (const c of fixture.cases) {
    test(`${c.name}: batched native call`, () => {
      const { features, maskData } = caseInputs(c);
      const call = {
        features,
        batch: c.featureSeeds.length,
        frames: c.frames,
        lengths: c.lengths ? BigInt64Array.from(c.lengths, BigInt) : undefined,
        weights: maskData,
        numMasks: c.masks?.numMasks,
        weightFrames: c.masks?.frames,
      };
      checkAgainstGolden(c, embedNative(handle, call), embedNative(handle, { ...call, raw: true }));
    });

    if (c.featureSeeds.length === 1) {
      test(`${c.name}: WeSpeakerModel.embedFeatures`, () => {
        const { features, maskData } = caseInputs(c);
        const input = { data: features, frames: c.frames, bins: 80 };
        const options = { weights: maskData, numMasks: c.masks?.numMasks };
        checkAgainstGolden(
          c,
          model.embedFeatures(input, options),
          model.embedFeatures(input, { ...options, raw: true }),
        );
      });
    }
  }

  test("the goldens can tell different inputs apart", () => {
    const [a, b] = fixture.cases.filter((c) => c.featureSeeds.length === 1);
    let dot = 0;
    for (let i = 0; i < 256; i++) dot += a.normalized[0][0][i] * b.normalized[0][0][i];
    assert.ok(dot < 0.99, `cosine between different clips is ${dot}`);
  });
});

describe("WeSpeakerModel", () => {
  test("embed gives an L2-normalised 256-d vector; raw is its un-normalised form", () => {
    const clip = testSignal(24000, 1);
    const e = model.embed(clip, 16000);
    const raw = model.embed(clip, 16000, { raw: true });
    const norm = Math.hypot(...raw);
    assert.equal(e.length, 256);
    assert.ok(Math.abs(Math.hypot(...e) - 1) < 1e-5);
    compare(e, Array.from(raw, (v) => v / norm), "normalised raw", 1e-6, 0.999999);
  });

  test("embedBatch gives what embed gives for each clip alone, bit for bit, in order", () => {
    const lengths = [8000, 19200, 20000, 48000, 46000, 3000, 19000];
    const clips = lengths.map((n, i) => testSignal(n, 10 + i));
    const batched = model.embedBatch(clips, 16000, { maxBatchSize: 3 });
    assert.equal(batched.length, clips.length);
    clips.forEach((clip, i) => assert.deepEqual(batched[i], model.embed(clip, 16000), `clip ${i}`));
  });

  // The trunk's last grids are then only a few points wide: its kernels read past them, where the
  // native code must pad; inside a longer batch, the same clip runs on wide grids, to the same bits.
  test("the shortest clips embed alone as they do inside a padded batch, bit for bit", () => {
    for (const frames of [9, 12, 16, 17, 25]) {
      const clip = syntheticFeatures(frames, frames);
      const alone = embedNative(handle, { features: clip, batch: 1, frames });
      const features = syntheticFeatures(99, 2 * 200);
      features.set(clip);
      const batched = embedNative(handle, {
        features,
        batch: 2,
        frames: 200,
        lengths: BigInt64Array.of(BigInt(frames), 200n),
      });
      assert.deepEqual(alone, batched.slice(0, 256), `${frames} frames`);
    }
  });

  test("embedBatch names the clip at fault", () => {
    throws(
      () => model.embedBatch([testSignal(16000, 1), new Float32Array(100)], 16000),
      "audio-too-short",
      /clip 1/,
    );
  });

  test("embedFile equals embed on the decoded samples at the file's rate", async () => {
    const left = randomInts(44100, -20000, 20000, 7), right = randomInts(44100, -20000, 20000, 8);
    const bytes = encodeWav([left, right], { sampleRate: 44100, format: "pcm", bits: 16 });
    const path = writeScratch("stereo44k.wav", bytes);
    const decoded = decodeWav(bytes);
    assert.deepEqual(await model.embedFile(path), model.embed(decoded.samples, 44100));
  });

  test("resampled input embeds close to the same signal at 16 kHz", () => {
    const at48k = testSignal(48000 * 2, 3, 48000);
    const at16k = Float32Array.from({ length: 32000 }, (_, i) => at48k[3 * i]);
    // Decimation without a filter is not the same signal, so only require clear similarity.
    const cos = WeSpeakerModel.cosineSimilarity(model.embed(at48k, 48000), model.embed(at16k, 16000));
    assert.ok(cos > 0.9, `cosine ${cos}`);
  });

  test(
    "embeds the shared speech recordings",
    { skip: !existsSync(speech) && "no ../shared/data" },
    async () => {
      for (const file of ["sample.wav", "ami_dev00.wav"]) {
        const e = await model.embedFile(speech + file);
        assert.ok(Math.abs(Math.hypot(...e) - 1) < 1e-5, file);
      }
    },
  );

  test("cosineSimilarity", () => {
    const a = new Float32Array([1, 0, 0]), b = new Float32Array([0, 2, 0]);
    assert.equal(WeSpeakerModel.cosineSimilarity(a, a), 1);
    assert.equal(WeSpeakerModel.cosineSimilarity(a, b), 0);
    throws(() => WeSpeakerModel.cosineSimilarity(a, new Float32Array(2)), "invalid-argument", /length/);
    throws(() => WeSpeakerModel.cosineSimilarity(a, new Float32Array(3)), "invalid-argument", /non-zero/);
  });
});

describe("bad input gets a specific error", () => {
  const good = tensorsOf(weights.bytes);
  const variant = (name: string, edit: (t: typeof good) => void) => {
    const tensors = { ...good };
    edit(tensors);
    return writeScratch(name, encodeSafetensors(tensors));
  };

  test("missing weights file", () =>
    rejects(WeSpeakerModel.load("/nonexistent/w.safetensors"), "io", /nonexistent/));

  test("truncated weights file", () => {
    const path = writeScratch(
      "truncated.safetensors",
      weights.bytes.subarray(0, weights.bytes.length - 1000),
    );
    return rejects(
      WeSpeakerModel.load(path),
      "invalid-weights",
      /truncated\.safetensors.*(incomplete|exceed)/,
    );
  });

  test("not a safetensors file", () => {
    const path = writeScratch("garbage.safetensors", "definitely not safetensors");
    return rejects(WeSpeakerModel.load(path), "invalid-weights", /garbage\.safetensors/);
  });

  test("missing tensor", () => {
    const path = variant("missing.safetensors", (t) => delete t["layer3.2.conv2.bias"]);
    return rejects(WeSpeakerModel.load(path), "invalid-weights", /missing tensor 'layer3\.2\.conv2\.bias'/);
  });

  test("wrong shape", () => {
    const path = variant("shape.safetensors", (t) => {
      t["layer2.0.shortcut.weight"] = {
        dtype: "F32",
        shape: [64, 1, 32, 1],
        data: t["layer2.0.shortcut.weight"].data,
      };
    });
    return rejects(
      WeSpeakerModel.load(path),
      "invalid-weights",
      /'layer2\.0\.shortcut\.weight' has shape \[64, 1, 32, 1\], expected \[64, 1, 1, 32\]/,
    );
  });

  test("unexpected tensor", () => {
    const path = variant("extra.safetensors", (t) => {
      t["layer5.0.conv1.weight"] = { dtype: "F32", shape: [1], data: new Float32Array(1) };
    });
    return rejects(
      WeSpeakerModel.load(path),
      "invalid-weights",
      /unexpected tensor 'layer5\.0\.conv1\.weight'/,
    );
  });

  test("NaN in a weight", () => {
    const path = variant("nan.safetensors", (t) => {
      const data = t["embedding.bias"].data.slice();
      data[3] = NaN;
      t["embedding.bias"] = { dtype: "F32", shape: [256], data };
    });
    return rejects(WeSpeakerModel.load(path), "invalid-weights", /NaN or infinite/);
  });

  test("empty audio", () =>
    throws(() => model.embed(new Float32Array(0), 16000), "audio-too-short", /empty/));

  test("audio shorter than one frame", () => {
    throws(() => model.embed(new Float32Array(399), 16000), "audio-too-short", /399/);
  });

  test("audio shorter than the network's minimum (9 frames)", () => {
    throws(() => model.embed(testSignal(1600, 2), 16000), "audio-too-short", /8 fbank frames.*at least 9/);
  });

  test("NaN and infinite samples", () => {
    const clip = testSignal(16000, 4);
    clip[1234] = NaN;
    throws(() => model.embed(clip, 16000), "invalid-argument", /sample 1234 is NaN/);
    clip[1234] = 0;
    clip[77] = -Infinity;
    throws(() => model.embed(clip, 44100), "invalid-argument", /sample 77 is -Infinity/);
  });

  test("non-positive or fractional sample rate", () => {
    for (const rate of [0, -16000, NaN, 16000.5]) {
      throws(() => model.embed(testSignal(16000, 5), rate), "invalid-argument", /sample rate/);
    }
  });

  test("corrupt WAV header", async () => {
    const bytes = encodeWav([randomInts(16000, -100, 100)], { sampleRate: 16000, format: "pcm", bits: 16 });
    bytes.set([0x57, 0x41, 0x56, 0x58], 8); // "WAVX" instead of "WAVE"
    await rejects(model.embedFile(writeScratch("corrupt.wav", bytes)), "invalid-wav", /corrupt\.wav/);
  });

  test("missing audio file", () =>
    rejects(model.embedFile("/nonexistent/a.wav"), "io", /nonexistent\/a\.wav/));

  test("features of the wrong shape, and bad weights for pooling", () => {
    const data = syntheticFeatures(1, 100);
    throws(() => model.embedFeatures({ data, frames: 99, bins: 80 }), "invalid-argument", /frames \(99\)/);
    throws(() => model.embedFeatures({ data, frames: 100, bins: 40 }), "invalid-argument", /80 bins/);
    const input = { data, frames: 100, bins: 80 };
    throws(
      () => model.embedFeatures(input, { weights: new Float32Array(7), numMasks: 2 }),
      "invalid-argument",
      /numMasks = 2/,
    );
    throws(
      () => model.embedFeatures(input, { weights: new Float32Array(100) }),
      "invalid-argument",
      /all zero/,
    );
    const negative = new Float32Array(100).fill(1);
    negative[5] = -1;
    throws(() => model.embedFeatures(input, { weights: negative }), "invalid-argument", /weights\[0, 0, 5\]/);
  });

  test("features holding NaN name the frame and bin", () => {
    const data = syntheticFeatures(1, 100);
    data[37 * 80 + 5] = NaN;
    throws(
      () => model.embedFeatures({ data, frames: 100, bins: 80 }),
      "invalid-argument",
      /features\[0, 37, 5\] is NaN/,
    );
  });
});

describe("lifetime", () => {
  test("close is idempotent and any later use is a 'closed' error", async () => {
    const m = await WeSpeakerModel.load(weights.path);
    const clip = testSignal(16000, 6);
    m.embed(clip, 16000);
    m.close();
    m.close();
    assert.equal(m.closed, true);
    throws(() => m.embed(clip, 16000), "closed", /closed/);
    throws(() => m.embedBatch([clip], 16000), "closed", /closed/);
    throws(() => m.embedFeatures(fbank(clip)), "closed", /closed/);
    await rejects(m.embedFile("/nonexistent.wav"), "closed", /closed/);
  });

  test("using disposes the model at the end of the block", async () => {
    let kept: WeSpeakerModel;
    {
      using m = await WeSpeakerModel.load(weights.path);
      kept = m;
      assert.equal(m.closed, false);
    }
    assert.equal(kept.closed, true);
  });

  test("many models loaded and freed in turn", async () => {
    for (let i = 0; i < 5; i++) (await WeSpeakerModel.load(weights.path)).close();
  });
});

describe("limits", () => {
  test("one call longer than about 22 minutes of audio is refused with a pointer to windows", () => {
    const long = new Float32Array(25 * 60 * 16000).fill(0.01);
    throws(
      () => model.embed(long, 16000),
      "invalid-argument",
      /per-call limit of 131072 frames.*embedWindows/,
    );
  });
});
