// speaker-diarization-community-1 against pyannote.audio 4.0.7 itself (tests/fixtures/community1/goldens.json,
// from scripts/reference/make_community1_goldens.py on the stand-in repo scripts/generate_pipeline.ts writes):
// every stage of VBxClustering on pyannote's own segmentation and embeddings (identical labels, floats within
// 1e-6 relative), then the whole pipeline from the audio, loaded by fromPretrained from a local directory,
// through the fake Hub and by the CLI, on ../shared/data speech (skipped when absent): the regular and the
// exclusive RTTM identical, the speaker embeddings within our ResNet's float32 distance from PyTorch's.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, describe, test } from "node:test";
import { DiarizationPipeline } from "../lib/diarization/pipeline.ts";
import type { DiarizationResult } from "../lib/diarization/result.ts";
import { PLDA } from "../lib/diarization/plda.ts";
import { COMMUNITY_1_PIPELINE } from "../lib/diarization/pretrained.ts";
import { clusterVbx } from "../lib/diarization/vbx.ts";
import { vbxClustering } from "../lib/diarization/vbx_clustering.ts";
import { WeSpeakerError } from "../lib/errors.ts";
import { formatRTTM, parseRTTM, type SpeakerSegment } from "../lib/formats/rttm.ts";
import { generateCommunity1Repo, generatePldaFiles } from "../scripts/generate_pipeline.ts";
import { assertClose, f32, f64, unpackBits } from "./helpers/community1.ts";
import { withIsolatedHub } from "./helpers/fake_hub.ts";
import { runCliAsync } from "./helpers/runtime.ts";

const speech = fileURLToPath(new URL("../../shared/data/speech/", import.meta.url));
const haveSpeech = existsSync(`${speech}sample.wav`);
const goldens = JSON.parse(
  readFileSync(new URL("./fixtures/community1/goldens.json", import.meta.url), "utf8"),
);

interface Run {
  setting: { numSpeakers?: number; minSpeakers?: number; maxSpeakers?: number };
  kmeans?: number[];
  centroids: string;
  numClusters: number;
  hardClusters: number[][];
  rttmGz: string;
  exclusiveRttmGz: string;
  /** The cluster each of pyannote's labels SPEAKER_00, SPEAKER_01, … stands for. */
  labelClusters: number[];
}

interface Recording {
  numChunks: number;
  numFrames: number;
  /** pyannote's clustering inputs (sample and ami_mixture only). */
  embeddings?: string;
  segmentation?: string;
  train: [number, number][];
  features?: string;
  featureRows?: number;
  ahc?: number[];
  gamma?: string;
  pi?: number[];
  runs: Run[];
}

const recordings = Object.entries(goldens.recordings) as [string, Recording][];

let plda: Promise<PLDA> | undefined;
function standInPlda(): Promise<PLDA> {
  plda ??= generatePldaFiles().then(({ transform, plda }) => PLDA.fromBytes(transform, plda));
  return plda;
}

const describeSetting = (s: Run["setting"]) =>
  JSON.stringify(s) === "{}" ? "automatic count" : JSON.stringify(s);

describe("VBxClustering, stage by stage, on pyannote's segmentation and embeddings", () => {
  test("the goldens exercise the automatic count and the forced (KMeans) count, with several speakers", () => {
    const runs = recordings.flatMap(([, rec]) => rec.runs);
    assert.ok(
      runs.some((r) => r.kmeans === undefined && r.numClusters > 1),
      "VBx's own count, several speakers",
    );
    assert.ok(runs.some((r) => r.kmeans !== undefined), "a count forced through KMeans");
    assert.ok(
      runs.some((r) => r.kmeans === undefined && JSON.stringify(r.setting) !== "{}"),
      "a count VBx met",
    );
  });

  for (const [name, rec] of recordings) {
    if (!rec.embeddings) continue;
    const embeddings = f32(rec.embeddings);
    const binarized = unpackBits(rec.segmentation!, rec.numChunks * rec.numFrames * 3);
    for (const run of rec.runs) {
      test(`${name}, ${describeSetting(run.setting)}`, async () => {
        const p = await standInPlda();
        const got = vbxClustering(embeddings, binarized, rec.numChunks, rec.numFrames, 3, 256, {
          plda: p,
          threshold: 0.6,
          Fa: 0.07,
          Fb: 0.8,
          numClusters: run.setting.numSpeakers,
          minClusters: run.setting.numSpeakers ?? run.setting.minSpeakers ?? 1,
          maxClusters: run.setting.numSpeakers ?? run.setting.maxSpeakers ?? Infinity,
        });
        assert.deepEqual(
          Array.from(got.train, (q) => [Math.floor(q / 3), q % 3]),
          rec.train,
          "training pairs",
        );
        if (rec.ahc) {
          // PLDA features: ours may negate a dimension (eigenvector signs), which VBx ignores.
          const n = rec.featureRows!;
          const firstRows = new Float32Array(n * 256);
          got.train.slice(0, n).forEach((q, i) =>
            firstRows.set(embeddings.subarray(q * 256, (q + 1) * 256), i * 256)
          );
          const features = p.transform(firstRows, n), want = f64(rec.features!);
          for (let j = 0; j < p.dim; j++) {
            const sign = Math.sign(features[j]) * Math.sign(want[j]);
            for (let i = 0; i < n; i++) features[i * p.dim + j] *= sign;
          }
          assertClose(features, want, 1e-6, "PLDA features", 1e-9);
          assert.deepEqual(Array.from(got.ahc), rec.ahc, "AHC labels");
          assertClose(got.vbx!.gamma, f64(rec.gamma!), 1e-6, "VBx responsibilities", 1e-12);
          assertClose(got.vbx!.pi, Float64Array.from(rec.pi!), 1e-6, "VBx speaker priors", 1e-12);
        }
        assert.deepEqual(got.kmeans && Array.from(got.kmeans), run.kmeans, "KMeans labels");
        assert.equal(got.numClusters, run.numClusters);
        assertClose(got.centroids, f64(run.centroids), 1e-6, "centroids");
        const hard = Array.from(
          { length: rec.numChunks },
          (_, c) => Array.from(got.hardClusters.subarray(3 * c, 3 * c + 3)),
        );
        // pyannote's own array, after the pipeline marked its silent speakers -2 (it edits it in place).
        const silent = (c: number, s: number) => {
          for (let f = 0; f < rec.numFrames; f++) {
            if (binarized[(c * rec.numFrames + f) * 3 + s]) return false;
          }
          return true;
        };
        assert.deepEqual(
          hard.map((row, c) => row.map((k, s) => (silent(c, s) ? -2 : k))),
          run.hardClusters,
          "hard clusters",
        );
      });
    }
  }

  test("VBx does not depend on the sign of a PLDA dimension", async () => {
    const [, rec] = recordings.find(([name]) => name === "ami_mixture")!;
    const p = await standInPlda();
    const embeddings = f32(rec.embeddings!);
    const train = new Float32Array(rec.train.length * 256);
    rec.train.forEach(([c, s], i) =>
      train.set(embeddings.subarray((3 * c + s) * 256, (3 * c + s + 1) * 256), i * 256)
    );
    const features = p.transform(train, rec.train.length);
    const flipped = features.map((v, i) => (i % p.dim) % 3 === 0 ? -v : v);
    const init = Int32Array.from(rec.ahc!);
    const a = clusterVbx(init, features, rec.train.length, p.dim, p.phi, { Fa: 0.07, Fb: 0.8 });
    const b = clusterVbx(init, flipped, rec.train.length, p.dim, p.phi, { Fa: 0.07, Fb: 0.8 });
    assertClose(b.gamma, a.gamma, 1e-12, "responsibilities with flipped dimensions", 1e-15);
  });
});

async function gunzip(b64: string): Promise<string> {
  const stream = new Blob([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))]).stream()
    .pipeThrough(new DecompressionStream("gzip"));
  return await new Response(stream).text();
}

/** pyannote's RTTM, relabelled by first appearance (this library's numbering) and clipped to the audio. */
function pyannoteTurns(
  rttm: string,
  duration: number,
): { turns: SpeakerSegment[]; labelOf: Map<string, string> } {
  const raw = [...parseRTTM(rttm, "golden").values()].flat()
    .map((t) => ({ ...t, index: Number(t.speaker.slice("SPEAKER_".length)) }))
    .sort((a, b) => a.start - b.start || a.end - b.end || a.index - b.index);
  const labelOf = new Map<string, string>();
  for (const t of raw) {
    if (!labelOf.has(t.speaker)) labelOf.set(t.speaker, `SPEAKER_${String(labelOf.size).padStart(2, "0")}`);
  }
  const turns = raw
    .filter((t) => t.start < duration)
    .map((t) => ({ speaker: labelOf.get(t.speaker)!, start: t.start, end: Math.min(t.end, duration) }));
  return { turns, labelOf };
}

/** pyannote's regular and exclusive RTTM of a run in this library's numbering, clipped to the audio. */
async function goldenRttm(run: Run, uri: string, duration: number) {
  const { turns, labelOf } = pyannoteTurns(await gunzip(run.rttmGz), duration);
  const exclusive = [...parseRTTM(await gunzip(run.exclusiveRttmGz), "golden").values()].flat()
    .map((t) => ({ ...t, speaker: labelOf.get(t.speaker)! }))
    .filter((t) => t.start < duration)
    .map((t) => ({ ...t, end: Math.min(t.end, duration) }))
    .sort((a, b) => a.start - b.start || a.end - b.end || a.speaker.localeCompare(b.speaker));
  assert.ok(turns.length > 0 && exclusive.length > 0, "the golden has speech");
  return {
    regular: formatRTTM(uri, turns),
    exclusive: formatRTTM(uri, exclusive),
    labelOf,
    counts: { regular: turns.length, exclusive: exclusive.length },
  };
}

async function assertMatchesGolden(result: DiarizationResult, run: Run, uri: string): Promise<void> {
  const golden = await goldenRttm(run, uri, result.duration);
  const labelOf = golden.labelOf;
  assert.equal(result.toRTTM(uri), golden.regular, "regular diarization");
  assert.equal(result.toRTTM(uri, { exclusive: true }), golden.exclusive, "exclusive diarization");
  // pyannote's speaker embeddings are the centroids of the clusters its labels stand for (zeros for a
  // speaker the count added beyond them; here null). End to end they average our ResNet's raw embeddings,
  // which differ from PyTorch's by float32 rounding (up to 1.1e-5 of a vector's largest entry on these
  // recordings, measured against the goldens' raw embeddings), so they are compared at that scale; given
  // pyannote's own embeddings (the stage tests above) the centroids agree within 1e-6 relative.
  const centroids = f64(run.centroids);
  run.labelClusters.forEach((k, i) => {
    const label = `SPEAKER_${String(i).padStart(2, "0")}`;
    const ours = result.speakerEmbeddings[result.speakers.indexOf(labelOf.get(label)!)];
    if (k >= run.numClusters) {
      assert.equal(ours, null, `${label}: a speaker beyond the clusters has no embedding`);
    } else {
      const want = centroids.subarray(k * 256, (k + 1) * 256);
      const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      assertClose(ours!, want, 0, `embedding of ${label}`, 2e-5 * scale);
    }
  });
}

/** The stand-in community-1 repo, written once to a temporary directory. */
let repoDir: Promise<string> | undefined;
function standInDirectory(): Promise<string> {
  repoDir ??= generateCommunity1Repo().then((files) => {
    const dir = mkdtempSync(join(tmpdir(), "wespeaker-community1-"));
    for (const [path, bytes] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), bytes);
    }
    return dir;
  });
  return repoDir;
}

describe("community-1 end to end against pyannote.audio 4", {
  skip: !haveSpeech && "../shared/data/speech is absent",
}, () => {
  // The stand-in directory holds 63 MB with its converted models: not left behind.
  after(async () => {
    if (repoDir) rmSync(await repoDir, { recursive: true, force: true });
  });

  // One test per recording and setting (up to 30 s of work each on 2 cores, several times that under
  // load), the pipeline loaded anew from the directory each time: its converted models are cached.
  for (const [name, rec] of recordings) {
    for (const run of rec.runs) {
      test(`fromPretrained(local directory): ${name}, ${describeSetting(run.setting)}`, async () => {
        const dir = await standInDirectory();
        using pipeline = await DiarizationPipeline.fromPretrained(dir, {
          convertedCacheDir: join(dir, ".converted"),
        });
        assert.equal(pipeline.settings.clustering.method, "VBxClustering");
        await assertMatchesGolden(await pipeline.diarizeFile(`${speech}${name}.wav`, run.setting), run, name);
      });
    }
  }

  test("fromPretrained(Hub id) through the fake Hub: gated, downloaded, cached, the same result", async () => {
    const files = await generateCommunity1Repo();
    const commit = "c".repeat(40);
    const token = "hf_community";
    await withIsolatedHub({
      [COMMUNITY_1_PIPELINE]: {
        refs: { main: commit },
        commits: {
          [commit]: Object.fromEntries(
            Object.entries(files).map(([p, data]) => [p, { data, lfs: p !== "config.yaml" }]),
          ),
        },
        token,
      },
    }, async (hub, home) => {
      const options = {
        endpoint: hub.url,
        cacheDir: join(home, "hub"),
        convertedCacheDir: join(home, "converted"),
      };
      await assert.rejects(
        DiarizationPipeline.fromPretrained(options),
        (e) =>
          e instanceof WeSpeakerError && e.code === "unauthorized" &&
          /speaker-diarization-community-1/.test(e.message),
      );
      using pipeline = await DiarizationPipeline.fromPretrained({ ...options, token }); // the default pipeline
      const [, rec] = recordings.find(([name]) => name === "sample")!;
      for (const run of rec.runs) {
        await assertMatchesGolden(
          await pipeline.diarizeFile(`${speech}sample.wav`, run.setting),
          run,
          "sample",
        );
      }
      const requests = hub.requests.length;
      using again = await DiarizationPipeline.fromPretrained(COMMUNITY_1_PIPELINE, {
        ...options,
        token,
        offline: true,
      });
      assert.equal(hub.requests.length, requests, "the second load is served by the cache");
      assert.equal(again.settings.clustering.method, "VBxClustering");
    });
  });

  test("CLI: diarize --pipeline DIR, RTTM (regular and --exclusive) and JSON with both", async () => {
    const dir = await standInDirectory();
    // sample.wav with two speakers forced (KMeans): the shortest recording, as the three runs go at once.
    const [, rec] = recordings.find(([name]) => name === "sample")!;
    const run = rec.runs.find((r) => r.setting.numSpeakers === 2)!;
    const env = { WESPEAKER_CACHE: join(dir, ".converted") };
    const args = ["diarize", "--pipeline", dir, `${speech}sample.wav`, "--num-speakers", "2"];
    const [regular, exclusive, json] = await Promise.all([
      runCliAsync(args, env),
      runCliAsync([...args, "--exclusive"], env),
      runCliAsync([...args, "--json"], env),
    ]);
    for (const r of [regular, exclusive, json]) assert.equal(r.status, 0, r.stderr);
    const parsed = JSON.parse(json.stdout);
    const golden = await goldenRttm(run, "sample", parsed.duration);
    assert.equal(regular.stdout, golden.regular, "regular diarization");
    assert.equal(exclusive.stdout, golden.exclusive, "exclusive diarization");
    assert.equal(parsed.segments.length, golden.counts.regular);
    assert.equal(parsed.exclusiveSegments.length, golden.counts.exclusive);
    assert.equal(formatRTTM("sample", parsed.exclusiveSegments), golden.exclusive);
    const both = await runCliAsync([...args, "--json", "--exclusive"], env);
    assert.equal(both.status, 2);
    assert.match(both.stderr, /--exclusive chooses the RTTM's turns; the JSON holds both diarizations/);
  });
});
