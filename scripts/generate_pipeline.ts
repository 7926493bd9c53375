/**
 * A seeded stand-in for the Hub repo `pyannote/speaker-diarization-community-1`, file for file in its
 * layout and formats:
 *
 *     config.yaml                      the real pipeline config (tests/fixtures/pipelines/community-1.config.yaml)
 *     segmentation/pytorch_model.bin   segmentation-3.0 (scripts/generate_segmentation.ts)
 *     embedding/pytorch_model.bin      WeSpeaker ResNet34 in pyannote's Lightning checkpoint
 *     plda/xvec_transform.npz          mean1 (256), mean2 (128), lda (256 x 128), as np.savez writes
 *     plda/plda.npz                    mu (128), tr (128 x 128), psi (128)
 *
 * Write one (the default seed is {@link DEFAULT_PIPELINE_SEED}):
 *
 *     deno run -A scripts/generate_pipeline.ts OUT_DIR [--seed N]
 *
 * The networks are the seeded random ones the other tests use, with two changes that make the output of
 * random weights diarization-like rather than degenerate (see scripts/reference/make_community1_goldens.py
 * for how they were chosen): the segmentation's "nobody speaks" class is made less likely (the seeded
 * network calls most speech silence, and VBx trains only on speakers heard alone for a fifth of a chunk),
 * and the embedding network's last bias removes 90% of its mean output on the shared recordings (its raw
 * embeddings all point within 15 degrees of one another, so any clustering finds one speaker); that bias
 * is frozen in tests/fixtures/community1/embedding_bias.json. The PLDA is well-formed the way VBx needs
 * it: `tr` is 3 (I + E) with E small, invertible and well conditioned, and `psi` is positive and
 * distinct (0.5 to 40, geometric, shuffled: real models have a few large between-speaker variances and
 * many small ones), so that pyannote's generalised eigenproblem has a unique, well-separated solution.
 * With these, pyannote.audio 4 finds one speaker on sample.wav and ami_tst00.wav and four on
 * ami_mixture.wav, so both the automatic count and the forced (KMeans) count are exercised.
 *
 * Every value comes from {@link Rng} streams and IEEE-exact arithmetic, so the bytes are identical under
 * Deno and Bun.
 *
 * @module
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { DEFAULT_WEIGHTS_SEED, Rng } from "./generate_weights.ts";
import {
  DEFAULT_SEGMENTATION_SEED,
  encodeSegmentationCheckpoint,
  generateSegmentationStateDict,
} from "./generate_segmentation.ts";
import {
  encodeTorchZip,
  generateStateDict,
  pyannoteCheckpoint,
  TensorValue,
} from "../tests/helpers/torch_writer.ts";
import { encodeNpz } from "../tests/helpers/npy_writer.ts";

/** Seed of the PLDA files written by default. */
export const DEFAULT_PIPELINE_SEED = 1504;

/** Embedding and PLDA dimensions of community-1. */
const XVECTOR_DIM = 256;
const PLDA_DIM = 128;

const CONFIG_PATH = new URL("../tests/fixtures/pipelines/community-1.config.yaml", import.meta.url);

const BIAS_PATH = new URL("../tests/fixtures/community1/embedding_bias.json", import.meta.url);

/**
 * The embedding network's last bias: minus most of the seeded network's mean output on the shared
 * recordings (written by make_community1_goldens.py --calibrate), so that embeddings of different
 * speech differ in direction as a trained network's do (the seeded network's are all within 15 degrees
 * of one another, and any clustering would find one speaker). Undefined before calibration.
 */
export function embeddingBias(): Float32Array | undefined {
  try {
    return Float32Array.from(JSON.parse(readFileSync(BIAS_PATH, "utf8")).bias as number[]);
  } catch {
    return undefined;
  }
}

/** community-1's `config.yaml`, as published (see tests/fixtures/pipelines/README.md). */
export function community1Config(): string {
  return readFileSync(CONFIG_PATH, "utf8");
}

/**
 * The two PLDA files of community-1's `plda/` folder: `xvec_transform.npz` and `plda.npz` (float64, as
 * np.savez writes them).
 */
export async function generatePldaFiles(
  seed: number = DEFAULT_PIPELINE_SEED,
): Promise<{ transform: Uint8Array; plda: Uint8Array }> {
  const normal = (stream: string, n: number, scale: number) => {
    const rng = new Rng(seed, stream);
    return Float64Array.from({ length: n }, () => scale * rng.normal());
  };
  const mean1 = normal("mean1", XVECTOR_DIM, 0.02);
  const mean2 = normal("mean2", PLDA_DIM, 0.05);
  const lda = normal("lda", XVECTOR_DIM * PLDA_DIM, 1 / Math.sqrt(XVECTOR_DIM));
  const mu = normal("mu", PLDA_DIM, 0.05);
  // 3 (I + E), E small: invertible and well conditioned; the factor 3 spreads the features so that VBx
  // keeps several of the speakers the initialisation proposes.
  const tr = normal("tr", PLDA_DIM * PLDA_DIM, 0.6 / Math.sqrt(PLDA_DIM));
  for (let i = 0; i < PLDA_DIM; i++) tr[i * PLDA_DIM + i] += 3;
  // Distinct and positive, in no particular order (pyannote sorts them): 0.5 to 40, geometric.
  const order = new Rng(seed, "psi");
  const psi = Float64Array.from({ length: PLDA_DIM }, (_, i) => 0.5 * Math.pow(80, i / (PLDA_DIM - 1)));
  for (let i = PLDA_DIM - 1; i > 0; i--) {
    const j = order.nextU32() % (i + 1);
    [psi[i], psi[j]] = [psi[j], psi[i]];
  }
  return {
    transform: await encodeNpz({
      mean1: { data: mean1, shape: [XVECTOR_DIM] },
      mean2: { data: mean2, shape: [PLDA_DIM] },
      lda: { data: lda, shape: [XVECTOR_DIM, PLDA_DIM] },
    }),
    plda: await encodeNpz({
      mu: { data: mu, shape: [PLDA_DIM] },
      tr: { data: tr, shape: [PLDA_DIM, PLDA_DIM] },
      psi: { data: psi, shape: [PLDA_DIM] },
    }),
  };
}

/**
 * How much less likely than the seeded network makes it the segmentation's "nobody speaks" class is
 * (a shift of its classifier bias): the seeded network calls three quarters of real speech silence,
 * which would leave VBx almost no embeddings (it trains on speakers heard alone for 20% of a chunk).
 */
const SILENCE_BIAS_SHIFT = 0.16;

/** The segmentation model's `pytorch_model.bin`: segmentation-3.0's seeded network, less silent. */
export async function generateCommunitySegmentation(): Promise<Uint8Array> {
  const sd = generateSegmentationStateDict(DEFAULT_SEGMENTATION_SEED);
  const bias = sd.get("classifier.bias")!;
  const data = bias.data.slice();
  data[0] = Math.fround(data[0] - SILENCE_BIAS_SHIFT);
  sd.set("classifier.bias", { shape: bias.shape, data });
  return await encodeSegmentationCheckpoint(sd);
}

/**
 * The embedding model's `pytorch_model.bin`: the seeded ResNet34 in pyannote's checkpoint format, its
 * last bias optionally replaced (see {@link EMBEDDING_BIAS}).
 */
export async function generateEmbeddingCheckpoint(bias?: Float32Array): Promise<Uint8Array> {
  const sd = generateStateDict(DEFAULT_WEIGHTS_SEED + 1);
  if (bias) sd.set("seg_1.bias", new TensorValue("float32", [bias.length], bias));
  return await encodeTorchZip(pyannoteCheckpoint(sd), { root: "pytorch_model" });
}

/**
 * Every file of the stand-in community-1 repo, by path in the repo.
 *
 * @param seed seed of the PLDA files (the networks keep their default seeds)
 */
export async function generateCommunity1Repo(
  seed: number = DEFAULT_PIPELINE_SEED,
): Promise<Record<string, Uint8Array>> {
  const { transform, plda } = await generatePldaFiles(seed);
  return {
    "config.yaml": new TextEncoder().encode(community1Config()),
    "segmentation/pytorch_model.bin": await generateCommunitySegmentation(),
    "embedding/pytorch_model.bin": await generateEmbeddingCheckpoint(embeddingBias()),
    "plda/xvec_transform.npz": transform,
    "plda/plda.npz": plda,
  };
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const seedAt = args.indexOf("--seed");
  const seed = seedAt >= 0 ? Number(args.splice(seedAt, 2)[1]) : DEFAULT_PIPELINE_SEED;
  if (args.length !== 1 || !Number.isSafeInteger(seed) || seed < 0 || seed > 0xffffffff) {
    console.error("usage: deno run -A scripts/generate_pipeline.ts OUT_DIR [--seed N]");
    process.exit(2);
  }
  for (const [path, bytes] of Object.entries(await generateCommunity1Repo(seed))) {
    const out = join(args[0], path);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, bytes);
    console.log(`wrote ${out}: ${bytes.length} bytes`);
  }
}
