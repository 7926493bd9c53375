// The CLI as a Unix tool: many inputs that keep going past a bad one, stdin, channels, windows, one RTTM
// per run or one file per input, the edges of too-short audio and of mixed-up models. Run as child
// processes of the runtime running the tests (Deno and Bun both).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { after, describe, test } from "node:test";
import { DiarizationPipeline, embedWindows, parseRTTM, WeSpeakerModel } from "../mod.ts";
import { repoRoot, runCli } from "./helpers/runtime.ts";
import { encodeWav, randomInts } from "./helpers/wav_writer.ts";
import { testSegmentationWeights, testWeights, writeScratch } from "./helpers/weights.ts";

const weights = testWeights().path;
const segmentation = await testSegmentationWeights();
const audio = (name: string) => join(repoRoot, "tests/fixtures/audio", name);
const out = mkdtempSync(join(tmpdir(), "wespeaker-cli-"));
after(() => rmSync(out, { recursive: true, force: true }));

const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";

/** The CLI with `input` on its stdin. */
function runWithStdin(args: string[], input: Uint8Array) {
  const runtime = isDeno ? ["run", "-A", "lib/cli.ts"] : ["lib/cli.ts"];
  const r = spawnSync(process.execPath, [...runtime, ...args], { cwd: repoRoot, input, encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("many inputs", () => {
  test("embed goes on past a missing and a corrupt file, one stderr line each, exit 1 at the end", () => {
    const bad = writeScratch("bad-input.flac", "fLaC but nothing else");
    const r = runCli([
      "embed",
      "-w",
      weights,
      "--json",
      audio("speech.mp3"),
      "/nonexistent/x.wav",
      bad,
      audio("speech.ogg"),
    ]);
    assert.equal(r.status, 1, r.stderr);
    assert.deepEqual(r.stdout.trimEnd().split("\n").map((l) => JSON.parse(l).file), [
      audio("speech.mp3"),
      audio("speech.ogg"),
    ]);
    const lines = r.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 3, r.stderr);
    assert.match(lines[0], /^wespeaker: .*\/nonexistent\/x\.wav/);
    assert.match(lines[1], /^wespeaker: .*bad-input\.flac: FLAC/);
    assert.equal(lines[2], "wespeaker: 2 of 4 inputs failed");
  });

  test("'-' reads the audio from stdin: the same embedding as the file", () => {
    const fromFile = runCli(["embed", "-w", weights, audio("speech.opus")]);
    const fromStdin = runWithStdin(["embed", "-w", weights, "-"], readFileSync(audio("speech.opus")));
    assert.equal(fromStdin.status, 0, fromStdin.stderr);
    assert.equal(fromStdin.stdout, fromFile.stdout.replace(audio("speech.opus"), "-"));
    const twice = runWithStdin(["embed", "-w", weights, "-", "-"], new Uint8Array(0));
    assert.equal(twice.status, 2);
  });

  test("embed --window/--hop gives embedWindows' windows; --channel each one line per channel", async () => {
    const r = runCli([
      "embed",
      "-w",
      weights,
      "--json",
      "--window",
      "1",
      "--hop",
      "0.5",
      audio("speech.flac"),
    ]);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
    using model = await WeSpeakerModel.load(weights);
    const expected = [];
    for await (const w of embedWindows(model, audio("speech.flac"), { windowSeconds: 1, hopSeconds: 0.5 })) {
      expected.push({
        file: audio("speech.flac"),
        start: w.start,
        end: w.end,
        embedding: Array.from(w.embedding),
      });
    }
    assert.deepEqual(lines, expected);

    const each = runCli(["embed", "-w", weights, "--channel", "each", audio("call_stereo24.flac")]);
    assert.equal(each.status, 0, each.stderr);
    const labels = each.stdout.trimEnd().split("\n").map((l) => l.split("\t")[0]);
    assert.deepEqual(labels, [`${audio("call_stereo24.flac")}#ch0`, `${audio("call_stereo24.flac")}#ch1`]);
    const right = await model.embedFile(audio("call_stereo24.flac"), { channel: 1 });
    assert.deepEqual(
      each.stdout.trimEnd().split("\n")[1].split("\t")[1].split(" ").map(Number),
      Array.from(right),
    );
  });

  test("diarize: one RTTM with a uri per file, or --output-dir with one file each", () => {
    const files = [audio("speech.mp3"), audio("speech.webm")];
    const r = runCli(["diarize", "-w", weights, "-s", segmentation, ...files]);
    assert.equal(r.status, 0, r.stderr);
    const turns = parseRTTM(r.stdout, "stdout");
    assert.deepEqual([...turns.keys()].sort(), ["speech"]); // both are "speech": same uri, turns of both
    const dir = join(out, "rttm");
    const d = runCli([
      "diarize",
      "-w",
      weights,
      "-s",
      segmentation,
      "--output-dir",
      dir,
      audio("speech.mp3"),
      audio("call_stereo24.flac"),
    ]);
    assert.equal(d.status, 0, d.stderr);
    assert.equal(d.stdout, "");
    for (const uri of ["speech", "call_stereo24"]) {
      const text = readFileSync(join(dir, `${uri}.rttm`), "utf8");
      assert.deepEqual([...parseRTTM(text, uri).keys()], [uri]);
    }
  });

  test("diarize --channel each labels every speaker with its channel", () => {
    const r = runCli([
      "diarize",
      "-w",
      weights,
      "-s",
      segmentation,
      "--channel",
      "each",
      audio("call_stereo24.flac"),
    ]);
    assert.equal(r.status, 0, r.stderr);
    const speakers = new Set(r.stdout.trimEnd().split("\n").map((l) => l.split(" ")[7]));
    assert.ok([...speakers].every((s) => /^CH[01]_SPEAKER_\d\d$/.test(s)), [...speakers].join());
    assert.ok(
      [...speakers].some((s) => s.startsWith("CH0_")) && [...speakers].some((s) => s.startsWith("CH1_")),
    );
  });
});

describe("edges", () => {
  const clip = (name: string, samples: number) =>
    writeScratch(
      name,
      encodeWav([randomInts(samples, -8000, 8000, samples)], { sampleRate: 16000, format: "pcm", bits: 16 }),
    );

  test("0.105 s embeds; 0.1 s is refused with the file's name and the real minimum", () => {
    const enough = runCli(["embed", "-w", weights, clip("enough.wav", 1680)]);
    assert.equal(enough.status, 0, enough.stderr);
    const short = runCli(["embed", "-w", weights, clip("short.wav", 1600)]);
    assert.equal(short.status, 1);
    assert.match(
      short.stderr,
      /short\.wav: .*8 fbank frames.*at least 9 \(1680 samples at 16 kHz: 0\.105 s\)/,
    );
  });

  test("diarize on audio shorter than one segmentation frame is an error, not an empty RTTM", () => {
    const r = runCli(["diarize", "-w", weights, "-s", segmentation, clip("tiny.wav", 500)]);
    assert.equal(r.status, 1);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /tiny\.wav: 500 samples .* shorter than one segmentation frame \(991 samples/);
  });

  test("a segmentation checkpoint given as the embedding model says so", () => {
    const r = runCli(["embed", "-m", segmentation, audio("speech.wav")]);
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /holds a segmentation model .*not an embedding model: give it as the segmentation model/,
    );
  });

  test("DiarizationPipeline.load takes a pyannote pytorch_model.bin as well as safetensors", async () => {
    const bin = join(repoRoot, "build/test-segmentation.bin");
    assert.ok(existsSync(bin), "npm run test:weights writes build/test-segmentation.bin");
    using fromBin = await DiarizationPipeline.load(bin, weights);
    using fromSafetensors = await DiarizationPipeline.load(segmentation, weights);
    const a = await fromBin.diarizeFile(audio("speech.flac"));
    const b = await fromSafetensors.diarizeFile(audio("speech.flac"));
    assert.deepEqual(a.segments, b.segments);
    await assert.rejects(DiarizationPipeline.load("/nonexistent/seg.bin", weights), /nonexistent\/seg\.bin/);
  });
});
