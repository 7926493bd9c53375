// SegmentationModel.fromPretrained, DiarizationPipeline.fromPretrained and the CLI's diarize against a
// local fake Hub serving a gated pyannote/segmentation-3.0 (seeded checkpoint in pyannote's format) and
// an MLX embedding repo. Everything is compared with the same weights converted and loaded locally.
// Each test clears the HF_* environment and points HF_HOME at its own scratch directory, so that no
// token or cache of the machine's is used and nothing reaches huggingface.co.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { describe, test } from "node:test";
import { convertCheckpoint } from "../lib/hub/convert/mod.ts";
import { DIARIZATION_31_SETTINGS, DiarizationPipeline } from "../lib/diarization/pipeline.ts";
import { DIARIZATION_31_PIPELINE } from "../lib/diarization/pretrained.ts";
import type { DiarizationJSON } from "../lib/diarization/result.ts";
import { WeSpeakerError } from "../lib/errors.ts";
import { SEGMENTATION_REPO } from "../lib/hub/pretrained.ts";
import { SegmentationModel } from "../lib/segmentation.ts";
import { generateSegmentationCheckpoint } from "../scripts/generate_segmentation.ts";
import { type FakeHub, sha256Hex, withIsolatedHub } from "./helpers/fake_hub.ts";
import { runCliAsync } from "./helpers/runtime.ts";
import { segmentationWaveform } from "./helpers/segmentation_inputs.ts";
import { encodeWav } from "./helpers/wav_writer.ts";
import { testWeights, writeScratch } from "./helpers/weights.ts";

const TOKEN = "hf_segmentation_token";
const EMBEDDING_REPO = "org/wespeaker-mlx";
const SEG_COMMIT = "a".repeat(40);
const EMB_COMMIT = "b".repeat(40);
const PIPELINE_COMMIT = "d".repeat(40);
const config31 = readFileSync(new URL("./fixtures/pipelines/3.1.config.yaml", import.meta.url));

const checkpoint = await generateSegmentationCheckpoint();
const convertedLocally = (await convertCheckpoint(checkpoint, "pytorch_model.bin")).safetensors;
const localSegmentation = writeScratch("segmentation.safetensors", convertedLocally);
const weights = testWeights();
const chunk = segmentationWaveform({ kind: "speech", seed: 5 });
const audio = segmentationWaveform({ kind: "speech", seed: 5 }, 11 * 16000);

interface Context {
  hub: FakeHub;
  home: string;
  /** endpoint, Hub cache and converted-weights cache of this test. */
  options: { endpoint: string; cacheDir: string; convertedCacheDir: string };
}

function isolated(name: string, fn: (context: Context) => Promise<void>): void {
  test(name, async () => {
    await withIsolatedHub({
      [SEGMENTATION_REPO]: {
        refs: { main: SEG_COMMIT },
        commits: {
          [SEG_COMMIT]: {
            "pytorch_model.bin": { data: checkpoint, lfs: true },
            "config.yaml": { data: new TextEncoder().encode("") },
          },
        },
        token: TOKEN,
      },
      [EMBEDDING_REPO]: {
        refs: { main: EMB_COMMIT },
        commits: { [EMB_COMMIT]: { "model.safetensors": { data: weights.bytes, lfs: true } } },
      },
      [DIARIZATION_31_PIPELINE]: {
        refs: { main: PIPELINE_COMMIT },
        commits: { [PIPELINE_COMMIT]: { "config.yaml": { data: config31 } } },
      },
    }, async (hub, home) => {
      const options = {
        endpoint: hub.url,
        cacheDir: join(home, "hub"),
        convertedCacheDir: join(home, "converted"),
      };
      await fn({ hub, home, options });
    });
  });
}

function assertUnauthorized(err: unknown): true {
  assert.ok(err instanceof WeSpeakerError, `expected WeSpeakerError, got ${err}`);
  assert.equal(err.code, "unauthorized", err.message);
  assert.match(err.message, /pyannote\/segmentation-3\.0/);
  assert.match(err.message, /gated/);
  assert.match(err.message, /accept its conditions on the Hub and set HF_TOKEN/);
  return true;
}

/** One 10 s chunk through the model (the converted weights decide every bit of it). */
function segmentOnce(model: SegmentationModel): Float32Array {
  return model.segment(chunk, 1);
}

const localOutput = await (async () => {
  using local = await SegmentationModel.load(localSegmentation);
  return segmentOnce(local);
})();

let reference: Promise<DiarizationJSON> | undefined;
/** The 11 s clip diarized by the locally loaded models, computed once for the tests that compare with it. */
function referenceDiarization(): Promise<DiarizationJSON> {
  reference ??= (async () => {
    using pipeline = await DiarizationPipeline.load(localSegmentation, weights.path);
    return (await pipeline.diarize(audio, 16000, { step: 5 })).toJSON();
  })();
  return reference;
}

const convertedName = `${sha256Hex(checkpoint)}.r2.safetensors`;

describe("SegmentationModel.fromPretrained", () => {
  isolated("the gated repo is refused without a valid token, and nothing is cached", async ({ options }) => {
    await assert.rejects(SegmentationModel.fromPretrained(options), assertUnauthorized);
    await assert.rejects(
      SegmentationModel.fromPretrained({ ...options, token: "hf_wrong" }),
      assertUnauthorized,
    );
    assert.ok(!existsSync(join(options.cacheDir, "models--pyannote--segmentation-3.0", "snapshots")));
    assert.ok(!existsSync(options.convertedCacheDir));
  });

  isolated(
    "with a token: downloaded and converted once, then cached; same bits as a local conversion",
    async ({
      hub,
      options,
    }) => {
      using first = await SegmentationModel.fromPretrained({ ...options, token: TOKEN });
      assert.equal(first.path, join(options.convertedCacheDir, convertedName));
      assert.deepEqual(new Uint8Array(readFileSync(first.path)), convertedLocally);
      const snapshot = join(
        options.cacheDir,
        "models--pyannote--segmentation-3.0",
        "snapshots",
        SEG_COMMIT,
        "pytorch_model.bin",
      );
      assert.deepEqual(new Uint8Array(readFileSync(snapshot)), checkpoint);
      assert.deepEqual(hub.requests.map((r) => r.split("?")[0]), [
        `HEAD /${SEGMENTATION_REPO}/resolve/main/pytorch_model.bin`,
        `GET /cdn/${sha256Hex(checkpoint)}`,
      ]);
      const written = statSync(first.path);

      using second = await SegmentationModel.fromPretrained({ ...options, token: TOKEN });
      assert.equal(second.path, first.path);
      assert.equal(hub.requests.length, 2, "the second load made requests");
      const again = statSync(second.path);
      assert.equal(again.ino, written.ino, "the converted file was rewritten");
      assert.equal(again.mtimeMs, written.mtimeMs, "the converted file was rewritten");

      assert.deepEqual(segmentOnce(first), localOutput);
      assert.deepEqual(segmentOnce(second), localOutput);
    },
  );

  isolated("offline (HF_HUB_OFFLINE=1) after a first download: served from the Hub cache", async ({
    hub,
    options,
  }) => {
    (await SegmentationModel.fromPretrained({ ...options, token: TOKEN })).close();
    await hub.close();
    hub.requests.length = 0;
    // Without the converted copy, offline mode converts the Hub cache's checkpoint again.
    rmSync(options.convertedCacheDir, { recursive: true });
    process.env.HF_HUB_OFFLINE = "1";
    using model = await SegmentationModel.fromPretrained(options);
    assert.equal(model.path, join(options.convertedCacheDir, convertedName));
    assert.deepEqual(segmentOnce(model), localOutput);
    assert.deepEqual(hub.requests, []);

    await assert.rejects(
      SegmentationModel.fromPretrained({ ...options, cacheDir: join(options.cacheDir, "..", "empty") }),
      (err: unknown) => {
        assert.ok(err instanceof WeSpeakerError);
        assert.equal(err.code, "network", err.message);
        assert.match(err.message, /pyannote\/segmentation-3\.0.*offline mode/);
        return true;
      },
    );
  });

  isolated(
    "a local pytorch_model.bin, as a file or as the directory holding it",
    async ({ home, options }) => {
      // Nothing here may go to a Hub: offline mode turns an attempt into an error.
      process.env.HF_HUB_OFFLINE = "1";
      const dir = join(home, "segmentation-3.0");
      mkdirSync(dir);
      const file = join(dir, "pytorch_model.bin");
      writeFileSync(file, checkpoint);
      const { convertedCacheDir } = options;

      using fromFile = await SegmentationModel.fromPretrained({ repo: file, convertedCacheDir });
      assert.equal(fromFile.path, join(convertedCacheDir, convertedName));
      assert.deepEqual(segmentOnce(fromFile), localOutput);

      // A local copy of 3.1's config, both models given: nothing comes from the Hub.
      const pipelineDir = join(dir, "pipeline");
      mkdirSync(pipelineDir);
      writeFileSync(join(pipelineDir, "config.yaml"), config31);
      using pipeline = await DiarizationPipeline.fromPretrained(pipelineDir, {
        segmentation: dir,
        embedding: weights.path,
        convertedCacheDir,
      });
      assert.equal(pipeline.segmentation.path, join(convertedCacheDir, convertedName));
      assert.equal(pipeline.embedding.path, weights.path);
      assert.deepEqual(segmentOnce(pipeline.segmentation), localOutput);
      assert.deepEqual(
        readdirSync(convertedCacheDir).sort(),
        [convertedName, convertedName.replace(/safetensors$/, "config.json")].sort(),
      );
    },
  );
});

describe("DiarizationPipeline.fromPretrained", () => {
  isolated(
    "3.1 by its id: the config from the Hub names segmentation-3.0; both models diarize as the local ones",
    async ({ options }) => {
      const repos = { embedding: EMBEDDING_REPO };
      await assert.rejects(
        DiarizationPipeline.fromPretrained(DIARIZATION_31_PIPELINE, { ...options, ...repos }),
        assertUnauthorized,
      );

      using pipeline = await DiarizationPipeline.fromPretrained(DIARIZATION_31_PIPELINE, {
        ...options,
        ...repos,
        token: TOKEN,
      });
      assert.deepEqual(pipeline.settings, DIARIZATION_31_SETTINGS);
      assert.equal(pipeline.segmentation.path, join(options.convertedCacheDir, convertedName));
      assert.equal(
        pipeline.embedding.path,
        join(options.cacheDir, "models--org--wespeaker-mlx", "snapshots", EMB_COMMIT, "model.safetensors"),
      );
      const result = (await pipeline.diarize(audio, 16000, { step: 5 })).toJSON();
      const expected = await referenceDiarization();
      assert.ok(expected.segments.length > 0, "the reference diarization found no speech");
      assert.deepEqual(result, expected);
    },
  );
});

describe("cli diarize with pretrained models", () => {
  isolated(
    "--pipeline 3.1 (segmentation-3.0 from its config) and --model from the Hub; HF_TOKEN decides access",
    async ({ hub, home, options }) => {
      const wav = join(home, "clip.wav");
      writeFileSync(wav, encodeWav([audio], { sampleRate: 16000, format: "float", bits: 32 }));
      const env = {
        HF_ENDPOINT: hub.url,
        HF_HUB_CACHE: options.cacheDir,
        WESPEAKER_CACHE: options.convertedCacheDir,
      };
      const args = ["diarize", "--pipeline", DIARIZATION_31_PIPELINE, "--model", EMBEDDING_REPO, wav];

      const refused = await runCliAsync([...args, "--json", "--step", "5"], env);
      assert.equal(refused.status, 1, refused.stderr);
      assert.equal(refused.stdout, "");
      assert.match(
        refused.stderr,
        /\nwespeaker: cannot fetch pytorch_model\.bin from pyannote\/segmentation-3\.0 .*gated.*HF_TOKEN\n$/,
      );

      // --model is loaded before the pipeline, so the refused run already fetched (and cached) it.
      assert.match(refused.stderr, /downloading model\.safetensors/);

      const r = await runCliAsync([...args, "--json", "--step", "5"], { ...env, HF_TOKEN: TOKEN });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /downloading pytorch_model\.bin/);
      assert.doesNotMatch(r.stderr, /downloading model\.safetensors/);
      assert.deepEqual(JSON.parse(r.stdout), { file: wav, ...await referenceDiarization() });
    },
  );
});
