// The segmentation-3.0 fixtures: the random `pytorch_model.bin` of scripts/generate_segmentation.ts
// (deterministic on every engine, read back by the converter's reader with PyTorch's keys, order and
// shapes and pyannote's metadata), the test waveforms of tests/helpers/segmentation_inputs.ts, and the
// golden log-probabilities of tests/fixtures/segmentation/golden.json, recomputed by the float64 numpy
// reference (scripts/reference/segmentation_ref.py) when python3 with numpy is available.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import { readTorchCheckpoint } from "../lib/hub/convert/torch.ts";
import { PyObject, type PyValue, unpickle } from "../lib/hub/convert/unpickle.ts";
import { ZipArchive } from "../lib/hub/convert/zip.ts";
import { WeSpeakerError } from "../lib/errors.ts";
import {
  DEFAULT_SEGMENTATION_SEED,
  generateSegmentationCheckpoint,
} from "../scripts/generate_segmentation.ts";
import {
  referencePython,
  runSegmentationReference,
  waveformsSha256,
} from "../scripts/reference/make_segmentation_golden.ts";
import {
  loadSegmentationGolden,
  SEGMENTATION_SAMPLES,
  segmentationWaveform,
} from "./helpers/segmentation_inputs.ts";

const golden = loadSegmentationGolden();
const checkpoint = await generateSegmentationCheckpoint();
const waveforms = golden.inputs.map((input) => segmentationWaveform(input));
const python = referencePython();

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** What torch's `PyanNet(...).state_dict()` holds for segmentation-3.0, in its order. */
function expectedKeys(): [string, number[]][] {
  const keys: [string, number[]][] = [
    ["sincnet.wav_norm1d.weight", [1]],
    ["sincnet.wav_norm1d.bias", [1]],
    // A module's parameters come before its buffers; asteroid registers window_ before n_.
    ["sincnet.conv1d.0.filterbank.low_hz_", [40, 1]],
    ["sincnet.conv1d.0.filterbank.band_hz_", [40, 1]],
    ["sincnet.conv1d.0.filterbank.window_", [125]],
    ["sincnet.conv1d.0.filterbank.n_", [1, 125]],
    ["sincnet.conv1d.1.weight", [60, 80, 5]],
    ["sincnet.conv1d.1.bias", [60]],
    ["sincnet.conv1d.2.weight", [60, 60, 5]],
    ["sincnet.conv1d.2.bias", [60]],
    ["sincnet.norm1d.0.weight", [80]],
    ["sincnet.norm1d.0.bias", [80]],
    ["sincnet.norm1d.1.weight", [60]],
    ["sincnet.norm1d.1.bias", [60]],
    ["sincnet.norm1d.2.weight", [60]],
    ["sincnet.norm1d.2.bias", [60]],
  ];
  for (let layer = 0; layer < 4; layer++) {
    for (const suffix of ["", "_reverse"]) {
      keys.push([`lstm.weight_ih_l${layer}${suffix}`, [512, layer === 0 ? 60 : 256]]);
      keys.push([`lstm.weight_hh_l${layer}${suffix}`, [512, 128]]);
      keys.push([`lstm.bias_ih_l${layer}${suffix}`, [512]]);
      keys.push([`lstm.bias_hh_l${layer}${suffix}`, [512]]);
    }
  }
  keys.push(["linear.0.weight", [128, 256]], ["linear.0.bias", [128]]);
  keys.push(["linear.1.weight", [128, 128]], ["linear.1.bias", [128]]);
  keys.push(["classifier.weight", [7, 128]], ["classifier.bias", [7]]);
  return keys;
}

/** `dict[key]` of an unpickled dict (or dict subclass), for string keys. */
function get(value: PyValue | undefined, key: string): PyValue | undefined {
  if (value instanceof Map) return value.get(key);
  if (value instanceof PyObject) {
    if (value.items.size > 0) return value.items.get(key);
    if (value.state instanceof Map) return value.state.get(key);
  }
  return undefined;
}

describe("segmentation checkpoint generator", () => {
  test("is deterministic: the fixture's sha256 under this engine, another seed gives other bytes", async () => {
    assert.equal(golden.checkpointSeed, DEFAULT_SEGMENTATION_SEED);
    assert.equal(checkpoint.length, golden.checkpoint.bytes);
    assert.equal(sha256(checkpoint), golden.checkpoint.sha256);
    assert.deepEqual(await generateSegmentationCheckpoint(DEFAULT_SEGMENTATION_SEED), checkpoint);
    assert.notEqual(
      sha256(await generateSegmentationCheckpoint(DEFAULT_SEGMENTATION_SEED + 1)),
      golden.checkpoint.sha256,
    );
  });

  test("rejects a seed outside [0, 2^32)", async () => {
    for (const seed of [-1, 2 ** 32, 0.5, NaN]) {
      await assert.rejects(
        generateSegmentationCheckpoint(seed),
        (err) => err instanceof WeSpeakerError && err.code === "invalid-argument" && /seed/.test(err.message),
      );
    }
  });

  test("readTorchCheckpoint returns PyTorch's keys in state_dict() order with their shapes", async () => {
    const sd = await readTorchCheckpoint(checkpoint, "pytorch_model.bin");
    assert.deepEqual([...sd].map(([name, t]) => [name, t.shape]), expectedKeys());
    for (const [name, t] of sd) assert.ok(t.data.every(Number.isFinite), name);
  });

  test("holds segmentation-3.0's sinc filterbank and initialisation ranges", async () => {
    const sd = await readTorchCheckpoint(checkpoint, "pytorch_model.bin");
    const data = (name: string) => sd.get(name)!.data;
    const low = data("sincnet.conv1d.0.filterbank.low_hz_");
    const band = data("sincnet.conv1d.0.filterbank.band_hz_");
    assert.ok(
      low.some((v) => v < 0) && band.some((v) => v < 0),
      "some band edges negative (abs() in the filters)",
    );
    // Upper edge 50 + |low| + 50 + |band| past Nyquist for the top filters, under it for the lowest.
    const high = (i: number) => 100 + Math.abs(low[i]) + Math.abs(band[i]);
    assert.ok(high(39) > 8000 && high(0) < 8000);
    assert.ok(low.every((v) => 50 + Math.abs(v) < 8000), "every lower edge below Nyquist");
    const window = data("sincnet.conv1d.0.filterbank.window_");
    // Hamming(251)'s first half, without its peak (the exact float32 values: the reference run below).
    assert.ok(Math.abs(window[0] - 0.08) < 1e-7);
    assert.ok(Math.abs(window[124] - (0.54 + 0.46 * Math.cos((2 * Math.PI) / 250))) < 1e-7);
    const n = data("sincnet.conv1d.0.filterbank.n_");
    assert.ok(
      Math.abs(n[0] - (-2 * Math.PI * 125) / 16000) < 1e-6 &&
        Math.abs(n[124] - (-2 * Math.PI) / 16000) < 1e-9,
    );
    for (const norm of ["sincnet.wav_norm1d", "sincnet.norm1d.0", "sincnet.norm1d.1", "sincnet.norm1d.2"]) {
      assert.ok(data(`${norm}.weight`).every((v) => v >= 0.8 && v <= 1.2), norm);
      assert.ok(data(`${norm}.bias`).every((v) => Math.abs(v) <= 0.1), norm);
    }
    assert.ok(data("sincnet.conv1d.1.weight").every((v) => Math.abs(v) <= 1 / Math.sqrt(400)));
  });

  test("carries pyannote's checkpoint metadata: architecture, specifications, hyper-parameters", async () => {
    const zip = new ZipArchive(checkpoint, "pytorch_model.bin");
    assert.ok(zip.entries.has("pytorch_model/data.pkl"));
    const { value } = unpickle(await zip.read("pytorch_model/data.pkl"), "data.pkl", {
      persistentLoad: (pid) => pid,
    });
    const pyannote = get(value, "pyannote.audio");
    assert.equal(get(get(pyannote, "architecture"), "module"), "pyannote.audio.models.segmentation.PyanNet");
    assert.equal(get(get(pyannote, "architecture"), "class"), "PyanNet");
    const specs = get(pyannote, "specifications");
    assert.ok(specs instanceof PyObject && specs.name === "Specifications");
    const problem = get(specs, "problem");
    assert.ok(problem instanceof PyObject && problem.name === "Problem" && problem.args[0] === 1);
    const resolution = get(specs, "resolution");
    assert.ok(resolution instanceof PyObject && resolution.name === "Resolution" && resolution.args[0] === 1);
    assert.equal(get(specs, "duration"), 10);
    assert.deepEqual(get(specs, "warm_up"), [0, 0]);
    assert.deepEqual(get(specs, "classes"), ["speaker#1", "speaker#2", "speaker#3"]);
    assert.equal(get(specs, "powerset_max_classes"), 2);
    assert.equal(get(specs, "permutation_invariant"), true);
    const hp = get(value, "hyper_parameters");
    assert.deepEqual(get(hp, "sincnet"), new Map<PyValue, PyValue>([["stride", 10], ["sample_rate", 16000]]));
    const lstm = get(hp, "lstm");
    assert.deepEqual(
      [
        get(lstm, "hidden_size"),
        get(lstm, "num_layers"),
        get(lstm, "bidirectional"),
        get(lstm, "monolithic"),
      ],
      [128, 4, true, true],
    );
    assert.deepEqual(get(hp, "linear"), new Map<PyValue, PyValue>([["hidden_size", 128], ["num_layers", 2]]));
  });
});

describe("segmentation test waveforms", () => {
  test("are the fixture's inputs, bit for bit under this engine", () => {
    assert.equal(waveformsSha256(waveforms), golden.inputsSha256);
  });

  test("have the advertised character", () => {
    const stats = (x: Float32Array) => {
      let sum = 0, ss = 0, peak = 0;
      for (const v of x) {
        sum += v;
        ss += v * v;
        peak = Math.max(peak, Math.abs(v));
      }
      const mean = sum / x.length;
      return { mean, rms: Math.sqrt(ss / x.length), peak, std: Math.sqrt(ss / x.length - mean * mean) };
    };
    for (const [i, { kind }] of golden.inputs.entries()) {
      const x = waveforms[i];
      assert.equal(x.length, SEGMENTATION_SAMPLES);
      const s = stats(x);
      if (kind === "silence") assert.ok(x.every((v) => v === 0));
      if (kind === "speech") assert.ok(Math.abs(s.rms - 0.1) < 1e-4 && Math.abs(s.mean) < 0.01);
      if (kind === "clipped") {
        assert.equal(s.peak, Math.fround(0.99));
        assert.ok(x.filter((v) => Math.abs(v) === Math.fround(0.99)).length > 1000);
      }
      if (kind === "dc-offset") assert.ok(Math.abs(s.mean - 0.3) < 0.01 && Math.abs(s.std - 0.05) < 0.005);
    }
    assert.deepEqual(golden.inputs.map((input) => input.kind), ["speech", "silence", "clipped", "dc-offset"]);
  });
});

describe("segmentation golden", () => {
  test("is log-softmax output whose argmax moves over the frames", () => {
    const [batch, frames, classes] = golden.shape;
    assert.deepEqual(golden.shape, [4, 589, 7]);
    for (let b = 0; b < batch; b++) {
      const argmax = new Set<number>();
      for (let t = 0; t < frames; t++) {
        const row = golden.logProbs.subarray((b * frames + t) * classes, (b * frames + t + 1) * classes);
        const total = row.reduce((s, v) => s + Math.exp(v), 0);
        assert.ok(Math.abs(total - 1) < 1e-5, `item ${b} frame ${t}: probabilities sum to ${total}`);
        argmax.add(row.indexOf(Math.max(...row)));
      }
      if (golden.inputs[b].kind !== "silence") {
        assert.ok(argmax.size >= 3, `item ${b}: argmax classes ${[...argmax]}`);
      }
    }
  });

  test("matches the float64 reference run now", { skip: python === null && "no python3 with numpy" }, () => {
    const { shape, logProbs, report } = runSegmentationReference(python!, checkpoint, waveforms);
    assert.deepEqual(shape, golden.shape);
    assert.deepEqual(report.buffers, { windowMatchesNumpyHamming: true, nMatchesFloat32Formula: true });
    let worst = 0;
    for (let i = 0; i < logProbs.length; i++) {
      worst = Math.max(worst, Math.abs(logProbs[i] - golden.logProbs[i]));
    }
    // The fixture holds float32 roundings of values of magnitude < 3 (half an ulp: 1.2e-7).
    assert.ok(worst < 1e-6, `max |reference - golden| = ${worst}`);
  });
});
