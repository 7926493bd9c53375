// The CLI, run as a child process of the runtime running the tests (so under Deno and Bun both).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { decodeWav, WeSpeakerModel } from "../mod.ts";
import { runCli } from "./helpers/runtime.ts";
import { encodeWav, randomInts } from "./helpers/wav_writer.ts";
import { testWeights, writeScratch } from "./helpers/weights.ts";

const weights = testWeights().path;
const wavA = writeScratch(
  "a.wav",
  encodeWav([randomInts(24000, -9000, 9000, 1)], { sampleRate: 16000, format: "pcm", bits: 16 }),
);
const wavB = writeScratch(
  "b.wav",
  encodeWav([randomInts(30000, -5000, 5000, 2), randomInts(30000, -5000, 5000, 3)], {
    sampleRate: 22050,
    format: "pcm",
    bits: 24,
  }),
);

function oneErrorLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${stderr}`);
  assert.match(lines[0], pattern);
}

describe("cli", () => {
  test("embed agrees with the independent float64 pipeline (WAV -> resample -> fbank -> network)", () => {
    const golden = JSON.parse(readFileSync(new URL("./fixtures/e2e.json", import.meta.url), "utf8"));
    assert.equal(createHash("sha256").update(testWeights().bytes).digest("hex"), golden.weightsSha256);
    const wav = fileURLToPath(new URL(`./fixtures/${golden.wav}`, import.meta.url));
    const r = runCli(["embed", "--weights", weights, "--json", wav]);
    assert.equal(r.status, 0, r.stderr);
    const { embedding } = JSON.parse(r.stdout);
    let dot = 0, worst = 0;
    for (let i = 0; i < 256; i++) {
      dot += embedding[i] * golden.normalized[i];
      worst = Math.max(worst, Math.abs(embedding[i] - golden.normalized[i]));
    }
    assert.ok(dot >= 0.99999, `cosine ${dot}`);
    assert.ok(worst <= 1e-4, `max abs diff ${worst}`);
  });

  test("embed --json prints one object per file with the path as given", async () => {
    const r = runCli(["embed", "--weights", weights, "--json", wavA, wavB]);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.file), [wavA, wavB]);
    using model = await WeSpeakerModel.load(weights);
    for (const line of lines) {
      assert.equal(line.embedding.length, 256);
      assert.deepEqual(Float32Array.from(line.embedding), await model.embedFile(line.file));
    }
  });

  test("embed without --json prints the path, a tab and 256 numbers", () => {
    const r = runCli(["embed", "--weights", weights, wavA]);
    assert.equal(r.status, 0, r.stderr);
    const [file, numbers] = r.stdout.trimEnd().split("\t");
    assert.equal(file, wavA);
    assert.equal(numbers.split(" ").map(Number).filter(Number.isFinite).length, 256);
  });

  test("similarity prints the cosine of the two files' embeddings", async () => {
    const r = runCli(["similarity", "--weights", weights, wavA, wavB]);
    assert.equal(r.status, 0, r.stderr);
    using model = await WeSpeakerModel.load(weights);
    const b = decodeWav(await import("node:fs").then((fs) => fs.readFileSync(wavB)));
    const expected = WeSpeakerModel.cosineSimilarity(
      await model.embedFile(wavA),
      model.embed(b.samples, 22050),
    );
    assert.equal(Number(r.stdout.trim()), expected);
  });

  test("usage errors exit 2 with one line", () => {
    const usageErrors = [
      ["embed"],
      ["embed", "--weights", weights, "--model", "org/repo", wavA],
      ["similarity", "--weights", weights, wavA],
      ["convert", wavA],
      ["frobnicate"],
      ["embed", "--bogus"],
      ["embed", "--weights"],
      ["diarize", "--num-speakers", "0", wavA],
      ["diarize", "--rttm", "--json", wavA],
      ["help", "frobnicate"],
    ];
    for (const args of usageErrors) {
      const r = runCli(args);
      assert.equal(r.status, 2, args.join(" "));
      oneErrorLine(r.stderr, /^wespeaker: .*run 'wespeaker( [a-z]+)? --help' for usage/);
    }
  });

  test("short flags are options, never silently ignored: -w is --weights", () => {
    const long = runCli(["embed", "--weights", weights, "--json", wavA]);
    const short = runCli(["embed", "-w", weights, "--json", wavA]);
    assert.equal(short.status, 0, short.stderr);
    assert.equal(short.stdout, long.stdout);
  });

  test("--help lists every command, each command has its own --help, --version prints the version", () => {
    const top = runCli(["--help"]);
    assert.equal(top.status, 0, top.stderr);
    const names = [...top.stdout.matchAll(/^ {2}([a-z-]+) {2,}/gm)].map((m) => m[1]);
    assert.ok(names.length >= 6, top.stdout);
    for (const name of names) {
      for (const args of [[name, "--help"], [name, "-h"], ["help", name]]) {
        const r = runCli(args);
        assert.equal(r.status, 0, `${args.join(" ")}: ${r.stderr}`);
        assert.match(r.stdout, new RegExp(`^usage: wespeaker ${name}`), args.join(" "));
      }
    }
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
    const deno = JSON.parse(readFileSync(new URL("../deno.json", import.meta.url), "utf8"));
    assert.equal(deno.version, pkg.version, "deno.json and package.json versions differ");
    const v = runCli(["--version"]);
    assert.equal(v.status, 0, v.stderr);
    assert.equal(v.stdout, `wespeaker ${pkg.version}\n`);
  });

  test("-o writes the result to a file (atomically) and nothing to stdout", () => {
    const out = writeScratch("embed-out.jsonl", "old contents");
    const r = runCli(["embed", "-w", weights, "--json", "-o", out, wavA]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "");
    const direct = runCli(["embed", "-w", weights, "--json", wavA]);
    assert.equal(readFileSync(out, "utf8"), direct.stdout);
    const bad = runCli(["embed", "-w", weights, "-o", "/nonexistent/dir/out.txt", wavA]);
    assert.equal(bad.status, 1);
    oneErrorLine(bad.stderr, /cannot write \/nonexistent\/dir\/out\.txt/);
  });

  test("--model takes a local checkpoint file or directory", () => {
    const viaWeights = runCli(["embed", "--weights", weights, "--json", wavA]);
    const directory = dirname(writeScratch("model.safetensors", testWeights().bytes));
    for (const model of [weights, directory]) {
      const r = runCli(["embed", "--model", model, "--json", wavA]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, viaWeights.stdout);
    }
  });

  test("a missing weights file, a bad WAV and a missing library each exit 1 with one line naming it", () => {
    let r = runCli(["embed", "--weights", "/nonexistent/w.safetensors", wavA]);
    assert.equal(r.status, 1);
    oneErrorLine(r.stderr, /\/nonexistent\/w\.safetensors/);

    const bad = writeScratch("bad.wav", "RIFF....WAVEjunk");
    r = runCli(["embed", "--weights", weights, bad]);
    assert.equal(r.status, 1);
    oneErrorLine(r.stderr, /bad\.wav/);

    r = runCli(["version"], { WESPEAKER_LIB: "/nonexistent/libwespeaker.so" });
    assert.equal(r.status, 1);
    oneErrorLine(r.stderr, /\/nonexistent\/libwespeaker\.so.*setup\.mjs/);
  });

  test("version names the library and MLX versions, also through `deno task cli` / `bun run cli`", () => {
    for (const via of ["file", "task"] as const) {
      const r = runCli(["version"], {}, via);
      assert.equal(r.status, 0, `${via}: ${r.stderr}`);
      assert.match(r.stdout, /^\d+\.\d+\.\d+ \(mlx \d+\.\d+\.\d+\)$/m, via);
    }
  });
});
