// The identity commands through the CLI, in a child process of the runtime running the tests (so under
// Deno and Bun both): enroll, identify, verify, speakers, eval-trials, and diarize --registry /
// --transcript / --format / --svg, with every bad input the issue names.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { parseRTTM } from "../lib/formats/rttm.ts";
import { parseTranscript } from "../lib/formats/transcript_files.ts";
import { modelIdentity } from "../lib/identity/model_id.ts";
import { SpeakerRegistry } from "../lib/identity/registry.ts";
import { evaluateScores } from "../lib/identity/trials.ts";
import { WeSpeakerModel } from "../lib/model.ts";
import { generatePldaFiles } from "../scripts/generate_pipeline.ts";
import { generateWeights } from "../scripts/generate_weights.ts";
import { runCli } from "./helpers/runtime.ts";
import { segmentationWaveform } from "./helpers/segmentation_inputs.ts";
import { NO_SQLITE } from "./helpers/sqlite.ts";
import { encodeWav, randomInts } from "./helpers/wav_writer.ts";
import { testSegmentationWeights, testWeights, writeScratch } from "./helpers/weights.ts";

const weights = testWeights().path;
const wav = (name: string, seed: number, seconds = 1.5) =>
  writeScratch(
    name,
    encodeWav([randomInts(Math.round(seconds * 16000), -9000, 9000, seed)], {
      sampleRate: 16000,
      format: "pcm",
      bits: 16,
    }),
  );
const clips = [1, 2, 3, 4, 5].map((seed) => wav(`clip${seed}.wav`, seed));
const scratch = dirname(clips[0]);
let dbs = 0;
const newDb = () => join(scratch, `cli-${dbs++}.db`);

function ok(args: string[]): string {
  const r = runCli(args);
  assert.equal(r.status, 0, `${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

function fails(args: string[], status: number, pattern: RegExp): void {
  const r = runCli(args);
  assert.equal(r.status, status, `${args.join(" ")}: exit ${r.status}, ${r.stderr}`);
  const lines = r.stderr.trimEnd().split("\n");
  assert.match(lines[lines.length - 1], pattern);
}

describe("identity CLI", () => {
  test("enroll, identify, verify, speakers list/rename/remove/export/import", { skip: NO_SQLITE }, () => {
    const db = newDb();
    assert.equal(ok(["enroll", "-r", db, "-w", weights, "Alice", clips[0], clips[1]]), "Alice\t2 clips\n");
    assert.deepEqual(JSON.parse(ok(["enroll", "-r", db, "-w", weights, "--json", "Bob Smith", clips[2]])), {
      ...JSON.parse(ok(["speakers", "-r", db, "--json"])).speakers[1],
    });
    // The clip enrolled for Bob is Bob's, at a cosine of 1.
    const [line] = ok(["identify", "-r", db, "-w", weights, clips[2]]).trimEnd().split("\n");
    const [file, name, score] = line.split("\t");
    assert.deepEqual([file, name], [clips[2], "Bob Smith"]);
    assert.ok(Number(score) > 0.999999);
    const json = ok([
      "identify",
      "-r",
      db,
      "-w",
      weights,
      "--json",
      "-k",
      "2",
      "-t",
      "1.1",
      clips[2],
      clips[3],
    ])
      .trimEnd().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(json.map((j) => [j.file, j.name, j.candidates.length, j.threshold]), [
      [clips[2], null, 2, 1.1],
      [clips[3], null, 2, 1.1],
    ]);
    const verified = JSON.parse(
      ok(["verify", "-r", db, "-w", weights, "--speaker", "Bob Smith", "--json", clips[2]]),
    );
    assert.equal(verified.same, true);
    // A clip against itself: 1 up to the float32 rounding of the normalised vectors the scorer keeps.
    const [self, decision] = ok(["verify", "-w", weights, clips[0], clips[0]]).trimEnd().split("\t");
    assert.ok(Math.abs(Number(self) - 1) < 1e-7 && decision === "same", `${self} ${decision}`);
    assert.match(ok(["verify", "-w", weights, "-t", "1.5", clips[0], clips[1]]), /^[-\d.e]+\tdifferent\n$/);
    assert.equal(
      ok(["speakers", "-r", db]).split("\n").filter(Boolean).map((l) => l.split("\t").slice(0, 2).join(" "))
        .join(", "),
      "Alice 2, Bob Smith 1",
    );
    ok(["speakers", "-r", db, "rename", "Bob Smith", "Bob"]);
    const exported = join(scratch, "export.json");
    ok(["speakers", "-r", db, "export", "-o", exported]);
    const copy = newDb();
    ok(["speakers", "-r", copy, "import", exported]);
    assert.equal(ok(["speakers", "-r", copy, "export"]), readFileSync(exported, "utf8"));
    fails(["speakers", "-r", copy, "import", exported], 1, /already has a speaker named Alice/);
    ok(["speakers", "-r", copy, "import", "--append", exported]);
    assert.equal(JSON.parse(ok(["speakers", "-r", copy, "--json"])).speakers[0].clips, 4);
    ok(["speakers", "-r", db, "remove", "Alice", "Bob"]);
    assert.equal(ok(["speakers", "-r", db]), "");
    // Empty now.
    fails(["identify", "-r", db, "-w", weights, clips[0]], 1, /has no speakers: enroll some first/);
  });

  test("bad inputs: unknown name, empty or missing registry, model mismatch, damaged database, usage", {
    skip: NO_SQLITE,
  }, () => {
    const db = newDb();
    ok(["enroll", "-r", db, "-w", weights, "Alice", clips[0]]);
    fails(
      ["verify", "-r", db, "-w", weights, "--speaker", "Nobody", clips[0]],
      1,
      /no speaker named "Nobody"/,
    );
    fails(["speakers", "-r", db, "remove", "Nobody"], 1, /remove: no speaker named "Nobody"/);
    fails(["speakers", "-r", db, "rename", "Nobody", "X"], 1, /rename: no speaker named "Nobody"/);
    fails(["enroll", "-r", db, "-w", weights, "SPEAKER_01", clips[0]], 1, /reserved for unknown speakers/);
    fails(
      ["identify", "-r", join(scratch, "missing.db"), "-w", weights, clips[0]],
      1,
      /missing\.db does not exist/,
    );
    const other = writeScratch("other.safetensors", generateWeights(99));
    fails(
      ["identify", "-r", db, "-w", other, clips[0]],
      1,
      /holds embeddings of test-weights\.safetensors .* not of other\.safetensors/,
    );
    fails(["enroll", "-r", db, "-w", other, "Bob", clips[1]], 1, /model/);
    const damaged = writeScratch("damaged.db", "this is not a database, just text\n".repeat(200));
    fails(["speakers", "-r", damaged], 1, /damaged\.db: not a readable SQLite database/);
    fails(["identify", "-r", damaged, "-w", weights, clips[0]], 1, /damaged\.db/);
    const badImport = writeScratch(
      "bad.json",
      '{"format": "wespeaker-registry", "version": 1, "speakers": [{"name": "A", "clips": []}]}',
    );
    fails(
      ["speakers", "-r", db, "import", badImport],
      1,
      /bad\.json: speakers\[0\]\.clips: a speaker needs at least one clip/,
    );
    fails(["identify", "-w", weights, clips[0]], 2, /identify needs --registry FILE/);
    fails(["speakers", "-r", db, "frobnicate"], 2, /unknown action 'frobnicate'/);
    fails(["speakers", "-r", db, "rename", "A"], 2, /rename OLD NEW/);
    fails(["verify", "-w", weights, clips[0]], 2, /verify takes two files/);
    fails(["identify", "-r", db, "-w", weights, "-t", "x", clips[0]], 2, /--threshold must be a number/);
    fails(["enroll", "-r", db, "Alice"], 2, /enroll takes at least 2/);
  });

  test("verify --plda DIR: community-1's PLDA scores by log-likelihood ratio; a bad DIR is named", async () => {
    const { transform, plda } = await generatePldaFiles();
    const dir = join(scratch, "plda");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "xvec_transform.npz"), transform);
    writeFileSync(join(dir, "plda.npz"), plda);
    const self = JSON.parse(ok(["verify", "-w", weights, "--plda", dir, "--json", clips[0], clips[0]]));
    const other = JSON.parse(ok(["verify", "-w", weights, "--plda", dir, "--json", clips[0], clips[3]]));
    assert.equal(self.scorer, "plda");
    assert.equal(self.threshold, 0);
    assert.ok(self.score > other.score, `${self.score} vs ${other.score}`);
    fails(
      ["verify", "-w", weights, "--plda", join(scratch, "nowhere"), clips[0], clips[1]],
      1,
      /nowhere\/xvec_transform\.npz/,
    );
  });

  test("eval-trials: EER and minDCF of the scores, the rates at the threshold, per-trial scores", async () => {
    const root = scratch;
    const names = clips.map((c) => c.slice(root.length + 1));
    const trials = [
      [1, 0, 0],
      [1, 1, 1],
      [0, 0, 1],
      [0, 2, 3],
      [1, 2, 2],
      [0, 3, 4],
      [0, 1, 4],
      [1, 4, 3],
    ];
    const list = writeScratch(
      "trials.txt",
      "# made up\n" + trials.map(([l, a, b]) => `${l} ${names[a]} ${names[b]}`).join("\n") + "\n",
    );
    const scoresFile = join(scratch, "scores.txt");
    const report = JSON.parse(
      ok(["eval-trials", "-w", weights, "--json", "--scores", scoresFile, "-t", "0.9", list]),
    );
    using model = await WeSpeakerModel.load(weights);
    const embeddings = await Promise.all(clips.map((c) => model.embedFile(c, { raw: true })));
    const scores = trials.map(([, a, b]) =>
      Math.min(1, WeSpeakerModel.cosineSimilarity(embeddings[a], embeddings[b]))
    );
    const written = readFileSync(scoresFile, "utf8").trimEnd().split("\n").map((l) => l.split(" "));
    written.forEach((fields, i) => {
      assert.equal(Number(fields[0]), trials[i][0]);
      assert.ok(Math.abs(Number(fields[1]) - scores[i]) < 1e-6, `${fields[1]} vs ${scores[i]}`);
    });
    const expected = evaluateScores(written.map((f) => Number(f[1])), trials.map(([l]) => l === 1), {
      threshold: 0.9,
    });
    assert.equal(report.trials, 8);
    assert.equal(report.scorer, "cosine");
    assert.equal(report.eer, expected.eer);
    assert.deepEqual(
      report.minDCF.map((d: { value: number }) => d.value),
      expected.minDCF.map((d) => d.value),
    );
    assert.deepEqual(report.at, expected.at);
    assert.match(
      ok(["eval-trials", "-w", weights, list]),
      /^trials {7}8 \(4 target, 4 non-target\), cosine scores\nEER /,
    );
    const bad = writeScratch("bad-trials.txt", `1 ${names[0]} ${names[1]}\n1 ${names[0]}\n`);
    fails(
      ["eval-trials", "-w", weights, bad],
      1,
      /bad-trials\.txt line 2: a trial is "label path1 path2" \(3 fields\), this line has 2/,
    );
    const label = writeScratch("label-trials.txt", `yes ${names[0]} ${names[1]}\n`);
    fails(
      ["eval-trials", "-w", weights, label],
      1,
      /label-trials\.txt line 1: label "yes" is not 1, 0, target or nontarget/,
    );
    const missing = writeScratch("missing-trials.txt", `1 ${names[0]} nope.wav\n0 ${names[0]} ${names[1]}\n`);
    fails(["eval-trials", "-w", weights, missing], 1, /nope\.wav/);
    const one = writeScratch("one-kind.txt", `1 ${names[0]} ${names[1]}\n`);
    fails(["eval-trials", "-w", weights, one], 1, /1 target and 0 non-target trials; both kinds are needed/);
  });

  test("diarize --registry names the speakers; --transcript --format vtt labels a transcript; --svg draws", {
    skip: NO_SQLITE,
  }, async () => {
    const seg = await testSegmentationWeights();
    const audio = writeScratch(
      "talk.wav",
      encodeWav([segmentationWaveform({ kind: "speech", seed: 7 }, 12 * 16000)], {
        sampleRate: 16000,
        format: "float",
        bits: 32,
      }),
    );
    const base = ["diarize", "--segmentation", seg, "--weights", weights, "--step", "5", audio];
    const plain = JSON.parse(ok([...base, "--json", "--num-speakers", "2"]));
    assert.equal(plain.speakers.length, 2);
    // A registry whose speakers are exactly the speakers found (their centroids as clips): named 1:1.
    const db = newDb();
    const identity = await modelIdentity(await WeSpeakerModel.load(weights));
    {
      using registry = await SpeakerRegistry.open(db, { create: true });
      registry.import({
        format: "wespeaker-registry",
        version: 1,
        speakers: ["Zed", "Amy"].map((name, k) => ({
          name,
          created: "2025-01-01T00:00:00.000Z",
          clips: [{
            ...identity,
            source: null,
            added: "2025-01-01T00:00:00.000Z",
            embedding: plain.speakerEmbeddings[k],
          }],
        })),
      });
    }
    const named = JSON.parse(ok([...base, "--json", "--num-speakers", "2", "--registry", db]));
    assert.deepEqual(named.speakers, ["Zed", "Amy"]);
    assert.deepEqual(named.identities.map((i: { label: string; name: string }) => [i.label, i.name]), [[
      "SPEAKER_00",
      "Zed",
    ], ["SPEAKER_01", "Amy"]]);
    assert.deepEqual(
      named.segments.map((s: { start: number }) => s.start),
      plain.segments.map((s: { start: number }) => s.start),
    );
    const rttm = parseRTTM(ok([...base, "--num-speakers", "2", "--registry", db]), "stdout").get("talk")!;
    assert.deepEqual([...new Set(rttm.map((t) => t.speaker))].sort(), ["Amy", "Zed"]);
    // A threshold above every score: no names.
    assert.deepEqual(
      JSON.parse(ok([...base, "--json", "--num-speakers", "2", "--registry", db, "--name-threshold", "1.01"]))
        .speakers,
      ["SPEAKER_00", "SPEAKER_01"],
    );
    // A transcript of the talk, labelled as WebVTT, and the picture.
    const turns = named.segments as { speaker: string; start: number; end: number }[];
    const transcript = writeScratch(
      "talk.json",
      JSON.stringify({ segments: turns.map((t, i) => ({ start: t.start, end: t.end, text: ` line ${i}` })) }),
    );
    const svgPath = join(scratch, "talk.svg");
    const vtt = ok([
      ...base,
      "--num-speakers",
      "2",
      "--registry",
      db,
      "--transcript",
      transcript,
      "--format",
      "vtt",
      "--svg",
      svgPath,
    ]);
    const cues = parseTranscript(vtt, "stdout").segments;
    assert.equal(cues.length, turns.length);
    const voices = [...vtt.matchAll(/^<v ([^>]+)>/gm)].map((m) => m[1]);
    // Each line spans exactly one turn, so it carries that turn's speaker (overlaps aside: the first).
    voices.forEach((v, i) =>
      assert.ok(
        ["Zed", "Amy"].includes(v) && (v === turns[i].speaker || turns.some((t) =>
          t.speaker === v && t.start < turns[i].end && t.end > turns[i].start
        )),
        `${i}: ${v}`,
      )
    );
    const svg = readFileSync(svgPath, "utf8");
    assert.match(svg, /^<\?xml/);
    assert.match(svg, />Zed</);
    // The transcript's own format by default: JSON.
    assert.deepEqual(JSON.parse(ok([...base, "--num-speakers", "2", "--transcript", transcript])).speakers, [
      "SPEAKER_00",
      "SPEAKER_01",
    ]);
    fails([...base, "--format", "srt"], 2, /--format srt needs --transcript FILE/);
    fails([...base, "--format", "rttm", "--transcript", transcript], 2, /not rttm/);
    fails([...base, "--format", "txt"], 2, /--format is one of rttm, json, srt, vtt/);
    fails(
      [...base, "--json", "--format", "vtt", "--transcript", transcript],
      2,
      /--json and --format vtt disagree/,
    );
    fails([...base, "--name-threshold", "0.5"], 2, /--name-threshold goes with --registry/);
    const broken = writeScratch("broken.srt", "1\n00:00:01,000 --> 00:00:00,500\nhello\n");
    fails([...base, "--transcript", broken], 1, /broken\.srt line 2: end 00:00:00,500 is before start/);
    const other = writeScratch("other2.safetensors", generateWeights(5));
    fails(
      ["diarize", "--segmentation", seg, "--weights", other, audio, "--registry", db],
      1,
      /holds embeddings of test-weights/,
    );
    assert.ok(existsSync(svgPath));
  });
});
