// fromPretrained and the CLI's --model / convert, end to end against a local fake Hub: the MLX
// repo, pyannote's checkpoint repo (converted on first use, then served from the caches), and a
// repo holding only an ONNX export. Nothing here reaches the real Hub.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { WeSpeakerError, WeSpeakerModel } from "../mod.ts";
import { DEFAULT_REPO } from "../lib/hub/pretrained.ts";
import { exportOnnx } from "../scripts/export_onnx.ts";
import { syntheticFeatures } from "../scripts/generate_weights.ts";
import { startFakeHub } from "./helpers/fake_hub.ts";
import { runCli, runCliAsync } from "./helpers/runtime.ts";
import { encodeTorchZip, generateStateDict, pyannoteCheckpoint } from "./helpers/torch_writer.ts";
import { testWeights, writeScratch } from "./helpers/weights.ts";

const PYANNOTE = "pyannote/wespeaker-voxceleb-resnet34-LM";
const ONNX_ONLY = "org/onnx-only";
const commit = (c: string) => c.repeat(40);

const golden: {
  stateDictSeed: number;
  cases: { featureSeed: number; frames: number; normalized: number[] }[];
} = JSON.parse(readFileSync(new URL("./fixtures/unfused.json", import.meta.url), "utf8"));
const checkpoint = await encodeTorchZip(pyannoteCheckpoint(generateStateDict(golden.stateDictSeed)), {
  root: "pytorch_model",
});
const weights = testWeights();
const onnx = await exportOnnx(weights.bytes);

function hubRepos() {
  const text = (s: string) => ({ data: new TextEncoder().encode(s) });
  return {
    [DEFAULT_REPO]: {
      refs: { main: commit("1") },
      commits: {
        [commit("1")]: { "model.safetensors": { data: weights.bytes, lfs: true }, "config.json": text("{}") },
      },
    },
    [PYANNOTE]: {
      refs: { main: commit("2") },
      commits: {
        [commit("2")]: { "pytorch_model.bin": { data: checkpoint, lfs: true }, "config.yaml": text("") },
      },
    },
    [ONNX_ONLY]: {
      refs: { main: commit("3") },
      commits: { [commit("3")]: { "wespeaker_en_voxceleb_resnet34_LM.onnx": { data: onnx, lfs: true } } },
    },
  };
}

function caches() {
  const root = mkdtempSync(join(tmpdir(), "wespeaker-pretrained-"));
  return { cacheDir: join(root, "hub"), convertedCacheDir: join(root, "converted") };
}

const sample = golden.cases[0];
const features = {
  data: syntheticFeatures(sample.featureSeed, sample.frames),
  frames: sample.frames,
  bins: 80,
};

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] ** 2;
    nb += b[i] ** 2;
  }
  return dot / Math.sqrt(na * nb);
}

describe("fromPretrained", () => {
  test("the default repo's MLX weights are used as they are", async () => {
    await using hub = await startFakeHub(hubRepos());
    using pretrained = await WeSpeakerModel.fromPretrained({ endpoint: hub.url, ...caches() });
    using local = await WeSpeakerModel.load(weights.path);
    assert.deepEqual(pretrained.embedFeatures(features), local.embedFeatures(features));
    assert.match(pretrained.path, /snapshots\/1{40}\/model\.safetensors$/);
  });

  test("pyannote's checkpoint is converted once, then served from the caches with the Hub gone", async () => {
    const dirs = caches();
    const hub = await startFakeHub(hubRepos());
    let first: Float32Array;
    {
      using model = await WeSpeakerModel.fromPretrained({ repo: PYANNOTE, endpoint: hub.url, ...dirs });
      first = model.embedFeatures(features);
      const digest = createHash("sha256").update(checkpoint).digest("hex");
      assert.equal(model.path, join(dirs.convertedCacheDir, `${digest}.r2.safetensors`));
      assert.ok(existsSync(join(dirs.convertedCacheDir, `${digest}.r2.config.json`)));
    }
    assert.ok(cosine(first, sample.normalized) >= 0.99999);
    await hub.close();
    using again = await WeSpeakerModel.fromPretrained({ repo: PYANNOTE, endpoint: hub.url, ...dirs });
    assert.deepEqual(again.embedFeatures(features), first);
    assert.deepEqual(readdirSync(dirs.convertedCacheDir).filter((f) => f.includes("partial")), []);
  });

  test("a repo without MLX or PyTorch weights falls back to its ONNX export", async () => {
    await using hub = await startFakeHub(hubRepos());
    using model = await WeSpeakerModel.fromPretrained({ repo: ONNX_ONLY, endpoint: hub.url, ...caches() });
    using local = await WeSpeakerModel.load(weights.path);
    assert.deepEqual(model.embedFeatures(features), local.embedFeatures(features));
  });

  test("a local directory holding a checkpoint", async () => {
    const dir = join(writeScratch("pytorch_model.bin", checkpoint), "..");
    using model = await WeSpeakerModel.fromPretrained({ repo: dir, ...caches() });
    assert.ok(cosine(model.embedFeatures(features), sample.normalized) >= 0.99999);
  });

  test("Hub failures keep their specific codes", async () => {
    await using hub = await startFakeHub(hubRepos());
    const expectCode = async (promise: Promise<unknown>, code: string, message: RegExp) => {
      await assert.rejects(promise, (err: unknown) => {
        assert.ok(err instanceof WeSpeakerError);
        assert.equal(err.code, code, err.message);
        assert.match(err.message, message);
        return true;
      });
    };
    await expectCode(
      WeSpeakerModel.fromPretrained({ repo: "org/absent", endpoint: hub.url, ...caches() }),
      "not-found",
      /org\/absent/,
    );
    await expectCode(
      WeSpeakerModel.fromPretrained({ repo: PYANNOTE, offline: true, ...caches() }),
      "network",
      /offline mode/,
    );
    await expectCode(
      WeSpeakerModel.fromPretrained({ repo: "org/empty", endpoint: hub.url, ...caches() }),
      "not-found",
      /org\/empty/,
    );
  });
});

describe("cli with pretrained weights", () => {
  test("embed --model downloads, converts and shows progress on stderr", async () => {
    await using hub = await startFakeHub(hubRepos());
    const dirs = caches();
    const env = {
      HF_ENDPOINT: hub.url,
      HF_HUB_CACHE: dirs.cacheDir,
      WESPEAKER_CACHE: dirs.convertedCacheDir,
    };
    const wav = new URL("./fixtures/e2e_8k_stereo_s16.wav", import.meta.url).pathname;
    const r = await runCliAsync(["embed", "--model", PYANNOTE, "--json", wav], env);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /downloading pytorch_model\.bin/);
    assert.equal(JSON.parse(r.stdout).embedding.length, 256);
    // The second run finds everything cached: no download, same numbers.
    const again = await runCliAsync(["embed", "--model", PYANNOTE, "--json", wav], env);
    assert.equal(again.stderr, "");
    assert.equal(again.stdout, r.stdout);
  });

  test("convert writes loadable MLX weights and config.json", async () => {
    const input = writeScratch("convert-in.bin", checkpoint);
    const out = join(mkdtempSync(join(tmpdir(), "wespeaker-convert-")), "model.safetensors");
    const r = runCli(["convert", input, out]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /wrote .*model\.safetensors: 74 tensors/);
    assert.equal(JSON.parse(readFileSync(join(out, "..", "config.json"), "utf8")).batchnorm_fused, true);
    using model = await WeSpeakerModel.load(out);
    assert.ok(cosine(model.embedFeatures(features), sample.normalized) >= 0.99999);

    const bad = runCli(["convert", writeScratch("junk.bin", "junk"), out + ".2"]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /junk\.bin: not a recognised checkpoint/);
  });
});
