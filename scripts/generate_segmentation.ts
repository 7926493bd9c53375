/**
 * Seeded random weights for pyannote's `segmentation-3.0` (PyanNet: SincNet → 4-layer bidirectional
 * LSTM → 2 linear layers → 7-class powerset classifier) in the exact file pyannote distributes: the
 * Lightning checkpoint `pytorch_model.bin` (zip root `pytorch_model/`), with PyTorch's state dict keys,
 * shapes and order, and pyannote's metadata (versions, architecture, task `Specifications`,
 * hyper-parameters).
 *
 * Write one (the default seed is {@link DEFAULT_SEGMENTATION_SEED}):
 *
 *     deno run -A scripts/generate_segmentation.ts OUT.bin [--seed N]
 *     bun scripts/generate_segmentation.ts OUT.bin [--seed N]
 *
 * The SincNet buffers are what asteroid-filterbanks' `ParamSincFB(80, 251, stride=10,
 * sample_rate=16000)` computes: `window_` = numpy's `hamming(251)[:125]` as float32, `n_` =
 * `2π · arange(-125, 0) / 16000` in float32 arithmetic (a float32 division by 16000, then a float32
 * product with 2π rounded to float32, as torch does on the CPU). The learnt band edges `low_hz_` and
 * `band_hz_` start from asteroid's mel-spaced initialisation and are perturbed by seeded noise, some with
 * their sign flipped (the filters use their absolute values) and the top ones past the 8 kHz clamp. The
 * other parameters are uniform in ±1/sqrt(fan_in) as torch initialises them, times a gain chosen so that
 * the random network's output is not degenerate (its argmax changes over frames); InstanceNorm scales are
 * 1 ± 0.2 and shifts ± 0.1.
 *
 * The bytes are identical for a seed under Deno and Bun: the random numbers are integer arithmetic
 * (scripts/generate_weights.ts's {@link Rng}) shaped with IEEE-exact operations; only the fixed window
 * and mel grid use `Math.cos`, `Math.log10` and `Math.pow`, whose float32 roundings the fixture's sha256
 * (tests/segmentation_checkpoint.test.ts, run under both) pins down.
 *
 * @module
 */

import {
  LINEAR_HIDDEN,
  LSTM_HIDDEN,
  LSTM_LAYERS,
  POWERSET_CLASSES,
  SINC_FILTERS as SINC_FILTER_OUTPUTS,
  SINC_KERNEL,
} from "../lib/native/segmentation_layout.ts";
import { runGenerator } from "./generator_cli.ts";
import { WeSpeakerError } from "../lib/errors.ts";
import {
  encodeTorchZip,
  Float,
  type PickleValue,
  pyannoteEnum,
  pyannoteLightningCheckpoint,
  TensorValue,
  Tuple,
} from "../tests/helpers/torch_writer.ts";
import { Rng } from "./generate_weights.ts";

/** A float32 tensor: row-major values and their shape. */
export interface SegmentationTensor {
  /** Dimensions, outermost first. */
  shape: number[];
  /** Row-major values. */
  data: Float32Array;
}

/**
 * Seed of the checkpoint behind tests/fixtures/segmentation/golden.json, and the CLI's default: of seeds
 * 1-40, one whose output argmax visits all 7 classes on the golden inputs.
 */
export const DEFAULT_SEGMENTATION_SEED = 1;

const SAMPLE_RATE = 16000;
/** ParamSincFB(80, 251): 40 learnt band-pass filters, each giving a cosine and a sine filter. */
const SINC_FILTERS = SINC_FILTER_OUTPUTS / 2;
const HALF_KERNEL = (SINC_KERNEL - 1) / 2;
const MIN_LOW_HZ = 50;
const MIN_BAND_HZ = 50;
/** How many of the top sinc filters get an upper edge past the 8 kHz clamp. */
const CLAMPED_FILTERS = 3;

/**
 * Multipliers of torch's ±1/sqrt(fan_in) init. With gain 1 the log-probabilities stay within 0.2 of
 * log(1/7) and every frame has the same argmax; with these the argmax changes over the frames. Larger
 * gains would also amplify float32 rounding: with these, a float32 network stays within 4e-5 of the
 * float64 reference (tests/fixtures/segmentation/golden.json, `sanity.variants`).
 */
const GAIN = { conv: 1, lstm: 2.5, linear: 2, classifier: 2 } as const;

function checkSeed(seed: number): number {
  if (!Number.isSafeInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new WeSpeakerError(
      "invalid-argument",
      `segmentation checkpoint: seed must be an integer in [0, 2^32), got ${seed}`,
    );
  }
  return seed;
}

function f32(shape: number[], values: ArrayLike<number>): SegmentationTensor {
  return { shape, data: Float32Array.from(values) };
}

/** `n` values uniform in ±`bound` from the tensor's own stream. */
function uniform(seed: number, name: string, n: number, bound: number): Float64Array {
  const rng = new Rng(seed, `segmentation ${name}`);
  return Float64Array.from({ length: n }, () => bound * (2 * rng.uniform() - 1));
}

/** numpy's `hamming(251)[:125]` (`0.54 + 0.46 cos(π n / (M - 1))`, n = 1-M, 3-M, …) as float32. */
function sincWindow(): Float32Array {
  return Float32Array.from(
    { length: HALF_KERNEL },
    (_, k) => 0.54 + 0.46 * Math.cos((Math.PI * (1 - SINC_KERNEL + 2 * k)) / (SINC_KERNEL - 1)),
  );
}

/** `2 * np.pi * (torch.arange(-125, 0.0) / 16000)`: each step rounded to float32, as torch does. */
function sincTimes(): Float32Array {
  const twoPi = Math.fround(2 * Math.PI);
  return Float32Array.from(
    { length: HALF_KERNEL },
    (_, k) => Math.fround((k - HALF_KERNEL) / SAMPLE_RATE) * twoPi,
  );
}

/**
 * asteroid's initial band edges: 41 points evenly spaced in mel from 30 Hz to 8000 - 100 Hz (float32),
 * back to Hz; `low_hz_` is each filter's lower edge, `band_hz_` the gap to the next. Perturbed: low
 * edges by ±5 % (so that 50 + |low| stays under the 8 kHz clamp), bands by ±30 %, about one in six
 * of each negated, and the top {@link CLAMPED_FILTERS} bands widened past the clamp.
 */
function sincBands(seed: number): { low: Float64Array; band: Float64Array } {
  const toMel = (hz: number) => 2595 * Math.log10(1 + hz / 700);
  const toHz = (mel: number) => 700 * (Math.pow(10, mel / 2595) - 1);
  const lo = toMel(30);
  const hi = toMel(SAMPLE_RATE / 2 - (MIN_LOW_HZ + MIN_BAND_HZ));
  const hz = Array.from(
    { length: SINC_FILTERS + 1 },
    (_, i) => Math.fround(toHz(Math.fround(lo + ((hi - lo) * i) / SINC_FILTERS))),
  );
  const rngLow = new Rng(seed, "segmentation sincnet.conv1d.0.filterbank.low_hz_");
  const rngBand = new Rng(seed, "segmentation sincnet.conv1d.0.filterbank.band_hz_");
  const sign = (rng: Rng) => (rng.uniform() < 1 / 6 ? -1 : 1);
  const low = new Float64Array(SINC_FILTERS);
  const band = new Float64Array(SINC_FILTERS);
  for (let i = 0; i < SINC_FILTERS; i++) {
    low[i] = sign(rngLow) * hz[i] * (1 + 0.05 * (2 * rngLow.uniform() - 1));
    // The top filters reach past Nyquist, so that the clamp of their upper edge matters.
    const width = i < SINC_FILTERS - CLAMPED_FILTERS ? hz[i + 1] - hz[i] : 2 * (SAMPLE_RATE / 2 - hz[i]);
    band[i] = sign(rngBand) * width * (1 + 0.3 * (2 * rngBand.uniform() - 1));
  }
  return { low, band };
}

/**
 * The state dict of a random segmentation-3.0 PyanNet, as `model.state_dict()` yields it: SincNet
 * (`wav_norm1d`; the sinc filterbank's parameters `low_hz_`, `band_hz_` then its buffers `window_`,
 * `n_` in registration order; the two convolutions; the three InstanceNorms), the LSTM (per layer, the
 * forward then the `_reverse` direction, each `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`, gates
 * stacked i, f, g, o), the two linear layers and the classifier.
 *
 * @param seed integer in [0, 2^32)
 * @returns tensor name → float32 tensor, in PyTorch's order
 * @throws {WeSpeakerError} `invalid-argument` for a seed outside [0, 2^32)
 */
export function generateSegmentationStateDict(
  seed: number = DEFAULT_SEGMENTATION_SEED,
): Map<string, SegmentationTensor> {
  checkSeed(seed);
  const sd = new Map<string, SegmentationTensor>();
  const norm = (name: string, channels: number) => {
    const scale = uniform(seed, `${name}.weight`, channels, 0.2).map((v) => 1 + v);
    sd.set(`${name}.weight`, f32([channels], scale));
    sd.set(`${name}.bias`, f32([channels], uniform(seed, `${name}.bias`, channels, 0.1)));
  };
  const affine = (name: string, shape: number[], fanIn: number, gain: number) => {
    const bound = gain / Math.sqrt(fanIn);
    const n = shape.reduce((a, b) => a * b, 1);
    sd.set(`${name}.weight`, f32(shape, uniform(seed, `${name}.weight`, n, bound)));
    sd.set(`${name}.bias`, f32([shape[0]], uniform(seed, `${name}.bias`, shape[0], bound)));
  };

  norm("sincnet.wav_norm1d", 1);
  const { low, band } = sincBands(seed);
  sd.set("sincnet.conv1d.0.filterbank.low_hz_", f32([SINC_FILTERS, 1], low));
  sd.set("sincnet.conv1d.0.filterbank.band_hz_", f32([SINC_FILTERS, 1], band));
  sd.set("sincnet.conv1d.0.filterbank.window_", { shape: [HALF_KERNEL], data: sincWindow() });
  sd.set("sincnet.conv1d.0.filterbank.n_", { shape: [1, HALF_KERNEL], data: sincTimes() });
  affine("sincnet.conv1d.1", [60, 2 * SINC_FILTERS, 5], 2 * SINC_FILTERS * 5, GAIN.conv);
  affine("sincnet.conv1d.2", [60, 60, 5], 60 * 5, GAIN.conv);
  norm("sincnet.norm1d.0", 2 * SINC_FILTERS);
  norm("sincnet.norm1d.1", 60);
  norm("sincnet.norm1d.2", 60);

  // nn.LSTM draws every weight and bias uniform in ±1/sqrt(hidden_size).
  const bound = GAIN.lstm / Math.sqrt(LSTM_HIDDEN);
  const gates = 4 * LSTM_HIDDEN;
  for (let layer = 0; layer < LSTM_LAYERS; layer++) {
    const inputs = layer === 0 ? 60 : 2 * LSTM_HIDDEN;
    for (const suffix of ["", "_reverse"]) {
      const tensor = (kind: string, shape: number[]) => {
        const name = `lstm.${kind}_l${layer}${suffix}`;
        sd.set(name, f32(shape, uniform(seed, name, shape.reduce((a, b) => a * b, 1), bound)));
      };
      tensor("weight_ih", [gates, inputs]);
      tensor("weight_hh", [gates, LSTM_HIDDEN]);
      tensor("bias_ih", [gates]);
      tensor("bias_hh", [gates]);
    }
  }
  affine("linear.0", [LINEAR_HIDDEN, 2 * LSTM_HIDDEN], 2 * LSTM_HIDDEN, GAIN.linear);
  affine("linear.1", [LINEAR_HIDDEN, LINEAR_HIDDEN], LINEAR_HIDDEN, GAIN.linear);
  affine("classifier", [POWERSET_CLASSES, LINEAR_HIDDEN], LINEAR_HIDDEN, GAIN.classifier);
  return sd;
}

/**
 * Every module of PyanNet in `state_dict()`'s traversal order (parents first, then children in
 * registration order, including those without state), with its `_version` (2 for the InstanceNorms,
 * whose base class `_NormBase` says so).
 */
function moduleMetadata(): Map<string, PickleValue> {
  const modules = [
    "",
    "sincnet",
    "sincnet.wav_norm1d",
    "sincnet.conv1d",
    "sincnet.conv1d.0",
    "sincnet.conv1d.0.filterbank",
    "sincnet.conv1d.1",
    "sincnet.conv1d.2",
    "sincnet.pool1d",
    "sincnet.pool1d.0",
    "sincnet.pool1d.1",
    "sincnet.pool1d.2",
    "sincnet.norm1d",
    "sincnet.norm1d.0",
    "sincnet.norm1d.1",
    "sincnet.norm1d.2",
    "lstm",
    "linear",
    "linear.0",
    "linear.1",
    "classifier",
    "activation",
  ];
  const version = (m: string) => (m === "sincnet.wav_norm1d" || m.startsWith("sincnet.norm1d.") ? 2 : 1);
  return new Map(modules.map((m) => [m, new Map([["version", version(m)]])]));
}

/**
 * pyannote's `pytorch_model.bin` object around a PyanNet state dict: a Lightning checkpoint with the
 * state dict (and its `_metadata`), the hyper-parameters `PyanNet.__init__` saves for segmentation-3.0
 * (as a Lightning `AttributeDict`), and under `pyannote.audio` the versions, the architecture and the
 * task's `Specifications` (powerset over 3 speakers, at most 2 at once; `powerset` and
 * `num_powerset_classes` are cached properties that `build()` reads, so they are in its `__dict__`).
 */
function lightningCheckpoint(stateDict: Map<string, SegmentationTensor>): Map<string, PickleValue> {
  const dict = (entries: [string, PickleValue][]) => new Map<string, PickleValue>(entries);
  return pyannoteLightningCheckpoint({
    stateDict: new Map(
      [...stateDict].map(([name, t]) => [name, new TensorValue("float32", t.shape, t.data)]),
    ),
    metadata: moduleMetadata(),
    lightningVersion: "2.0.7",
    hyperParameters: dict([
      ["sample_rate", SAMPLE_RATE],
      ["num_channels", 1],
      ["sincnet", dict([["stride", 10], ["sample_rate", SAMPLE_RATE]])],
      [
        "lstm",
        dict([
          ["hidden_size", LSTM_HIDDEN],
          ["num_layers", LSTM_LAYERS],
          ["bidirectional", true],
          ["monolithic", true],
          ["dropout", 0.5],
          ["batch_first", true],
        ]),
      ],
      ["linear", dict([["hidden_size", LINEAR_HIDDEN], ["num_layers", 2]])],
    ]),
    versions: { torch: "2.0.1+cu117", pyannote: "3.0.0" },
    architecture: { module: "pyannote.audio.models.segmentation.PyanNet", class: "PyanNet" },
    specifications: dict([
      ["problem", pyannoteEnum("Problem", 1)], // MONO_LABEL_CLASSIFICATION
      ["resolution", pyannoteEnum("Resolution", 1)], // FRAME
      ["duration", new Float(10)],
      ["min_duration", null],
      ["warm_up", new Tuple([new Float(0), new Float(0)])],
      ["classes", ["speaker#1", "speaker#2", "speaker#3"]],
      ["powerset_max_classes", 2],
      ["permutation_invariant", true],
      ["powerset", true],
      ["num_powerset_classes", POWERSET_CLASSES],
    ]),
  });
}

/**
 * Encodes a state dict as pyannote's `pytorch_model.bin` for segmentation-3.0: the zip archive
 * `torch.save` writes (root `pytorch_model/`) of a Lightning checkpoint with pyannote's metadata. Tests
 * can alter {@link generateSegmentationStateDict}'s tensors (drop one, reshape one) before encoding.
 *
 * @param stateDict tensor name → tensor, in the order to write them
 * @returns the file's bytes, identical for identical input
 */
export async function encodeSegmentationCheckpoint(
  stateDict: Map<string, SegmentationTensor>,
): Promise<Uint8Array> {
  return await encodeTorchZip(lightningCheckpoint(stateDict), { root: "pytorch_model" });
}

/**
 * The bytes of a random segmentation-3.0 `pytorch_model.bin`, identical for a seed on every engine.
 *
 * @param seed integer in [0, 2^32)
 * @returns the zip archive `torch.save` would write, root `pytorch_model/`
 * @throws {WeSpeakerError} `invalid-argument` for a seed outside [0, 2^32)
 */
export async function generateSegmentationCheckpoint(
  seed: number = DEFAULT_SEGMENTATION_SEED,
): Promise<Uint8Array> {
  return await encodeSegmentationCheckpoint(generateSegmentationStateDict(seed));
}

if (import.meta.main) {
  await runGenerator(
    "deno run -A scripts/generate_segmentation.ts OUT.bin [--seed N]",
    DEFAULT_SEGMENTATION_SEED,
    generateSegmentationCheckpoint,
  );
}
