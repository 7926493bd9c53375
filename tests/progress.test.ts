// Progress reports: the clustering of a long file reports its linkage steps, and the CLI's diarization
// progress names each stage as it starts, with the time elapsed.
import assert from "node:assert/strict";
import process from "node:process";
import { describe, test } from "node:test";
import { clusterEmbeddings } from "../mod.ts";
import { diarizationProgressBar } from "../lib/progress.ts";

describe("progress", () => {
  test("clustering reports its linkage steps, in order, up to the total", () => {
    // Enough steps (2n - 1 = 29,999) for several of the linkage's reports, one every 4096 steps.
    const chunks = 5000, speakers = 3, dim = 8;
    let seed = 7;
    const next = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5;
    const embeddings = Float32Array.from({ length: chunks * speakers * dim }, next);
    const active = new Uint8Array(chunks * speakers).fill(1);
    const seen: [number, number][] = [];
    clusterEmbeddings(embeddings, active, chunks, speakers, dim, {
      onProgress: (done, total) => seen.push([done, total]),
    });
    const n = chunks * speakers;
    assert.ok(seen.length > 5, `${seen.length} reports`);
    assert.ok(seen.every(([, total]) => total === 2 * n - 1));
    assert.ok(seen.every(([done], i) => i === 0 || done >= seen[i - 1][0]));
    assert.deepEqual(seen.at(-1), [2 * n - 1, 2 * n - 1]);
  });

  test("off a terminal, each stage is one line as it starts, with the time elapsed", () => {
    const lines: string[] = [];
    const write = process.stderr.write;
    const tty = process.stderr.isTTY;
    Object.defineProperty(process.stderr, "isTTY", { value: false, configurable: true });
    process.stderr.write = ((text: string) => lines.push(text) > 0) as typeof process.stderr.write;
    try {
      const bar = diarizationProgressBar("a.wav");
      for (let i = 0; i < 3; i++) {
        bar({ stage: "segmentation", done: i, total: 3 });
        bar({ stage: "embeddings", done: i, total: 3 });
      }
      bar({ stage: "clustering", done: 0, total: 10 });
      bar({ stage: "clustering", done: 10, total: 10 });
      bar({ stage: "reconstruction", done: 1, total: 1 });
    } finally {
      process.stderr.write = write;
      Object.defineProperty(process.stderr, "isTTY", { value: tty, configurable: true });
    }
    assert.deepEqual(lines.map((l) => l.replace(/\d+:\d\d/, "T")), [
      "a.wav: segmentation (elapsed T)\n",
      "a.wav: embeddings (elapsed T)\n",
      "a.wav: clustering (elapsed T)\n",
      "a.wav: reconstruction (elapsed T)\n",
    ]);
  });
});
