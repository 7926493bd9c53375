/**
 * The bench's diarization profile: where the pipeline's time goes, stage by stage, on the race's input
 * (60 s by default, the issue's 10 minutes with `--full`), and how busy the cores are meanwhile.
 *
 * One `diarize` call runs with the models' native calls timed (the two models' async methods wrapped; when
 * they overlap, that time is a stage of its own) and the stages' progress events time-stamped; at every
 * boundary the CPU time of every thread of the process is read from /proc (schedstat, nanoseconds), so each
 * stage gets its wall time, the CPU time spent in it and the cores left idle (threads × wall − CPU). Then a few isolated calls split what one call mixes:
 * fbank alone, and a chunk's trunk with 3 pooling masks against one plain pooling.
 *
 * @module
 */
import { readdirSync, readFileSync } from "node:fs";
import process from "node:process";
import { runChild } from "./child.ts";
import { duration, formatTable, num, progress } from "./format.ts";
import { conversationSamples, SAMPLE_RATE } from "./inputs.ts";
import { summarize } from "./stats.ts";

/** The job a profile child runs. */
export interface ProfileJob {
  kind: "profile";
  segmentation: string;
  weights: string;
  seconds: number;
  threads: number;
}

/** Whether `job` is a {@link ProfileJob}. */
export function isProfileJob(job: { kind: string }): job is ProfileJob {
  return job.kind === "profile";
}

/** One stage: wall seconds, CPU seconds of all threads, and of the JavaScript thread alone. */
export interface StageTime {
  stage: string;
  wall: number;
  cpu: number;
  jsCpu: number;
  calls: number;
}

/** What a profile child reports. */
export interface ProfileResult {
  seconds: number;
  threads: number;
  chunks: number;
  total: StageTime;
  stages: StageTime[];
  /** Isolated per-chunk costs, seconds (medians). */
  isolated: { fbank: number; trunkPlain: number; trunkThreeMasks: number };
}

/** CPU nanoseconds of every thread of this process, and of the main (JavaScript) thread. */
function cpuNow(): { all: number; js: number } {
  let all = 0, js = 0;
  for (const task of readdirSync("/proc/self/task")) {
    try {
      const ns = Number(readFileSync(`/proc/self/task/${task}/schedstat`, "utf8").split(" ")[0]);
      all += ns;
      if (task === String(process.pid)) js = ns;
    } catch { /* the thread ended */ }
  }
  return { all: all / 1e9, js: js / 1e9 };
}

class Clock {
  readonly stages = new Map<string, StageTime>();
  #stage = "";
  #wall = 0;
  #cpu = { all: 0, js: 0 };

  /** Ends the running stage (its time is added to its total) and starts `stage`. */
  enter(stage: string): void {
    if (stage === this.#stage) return;
    const wall = performance.now() / 1000, cpu = cpuNow();
    if (this.#stage) {
      const s = this.stages.get(this.#stage) ??
        { stage: this.#stage, wall: 0, cpu: 0, jsCpu: 0, calls: 0 };
      s.wall += wall - this.#wall;
      s.cpu += cpu.all - this.#cpu.all;
      s.jsCpu += cpu.js - this.#cpu.js;
      s.calls++;
      this.stages.set(this.#stage, s);
    }
    [this.#stage, this.#wall, this.#cpu] = [stage, wall, cpu];
  }
}

/** Runs a {@link ProfileJob} in this (child) process. */
export async function runProfileJob(job: ProfileJob): Promise<ProfileResult> {
  const { DiarizationPipeline } = await import("../../lib/diarization/pipeline.ts");
  const { fbank } = await import("../../lib/audio/fbank.ts");
  const { countChunks } = await import("../../lib/diarization/local.ts");
  using pipeline = await DiarizationPipeline.load(job.segmentation, job.weights);
  const audio = conversationSamples(job.seconds);
  await pipeline.diarize(conversationSamples(20), SAMPLE_RATE); // warm-up

  const clock = new Clock();
  const seg = pipeline.segmentation, emb = pipeline.embedding;
  const segment = seg.segmentAsync.bind(seg), embedMasked = emb.embedMaskedAsync.bind(emb);
  // A batch's embeddings run while the next batch is segmented, so each moment of the chunk-level half
  // belongs to what runs then: either model, both, or neither (JavaScript: fbank, powerset decoding,
  // masks, copying chunks out of the audio, and the calls' own overhead).
  let segmenting = 0, embedding = 0;
  const now = () =>
    segmenting && embedding
      ? "segmentation and embeddings at once (native)"
      : segmenting
      ? "segmentation (native)"
      : embedding
      ? "embeddings: trunk + pooling (native)"
      : "fbank, masks, chunking (JavaScript)";
  seg.segmentAsync = async (...args) => {
    segmenting++;
    clock.enter(now());
    try {
      return await segment(...args);
    } finally {
      segmenting--;
      clock.enter(now());
    }
  };
  emb.embedMaskedAsync = async (...args) => {
    embedding++;
    clock.enter(now());
    try {
      return await embedMasked(...args);
    } finally {
      embedding--;
      clock.enter(now());
    }
  };
  const t0 = performance.now(), cpu0 = cpuNow();
  clock.enter("fbank, masks, chunking (JavaScript)");
  await pipeline.diarize(audio, SAMPLE_RATE, {
    onProgress: ({ stage, done }) => {
      if (stage === "clustering" && done === 0) clock.enter("clustering");
      if (stage === "reconstruction" && done === 0) clock.enter("count, reconstruction, turns");
    },
  });
  clock.enter("");
  const cpu1 = cpuNow();
  const total: StageTime = {
    stage: "whole diarize call",
    wall: (performance.now() - t0) / 1000,
    cpu: cpu1.all - cpu0.all,
    jsCpu: cpu1.js - cpu0.js,
    calls: 1,
  };

  // Isolated costs of one 10 s chunk.
  const chunk = audio.subarray(0, 10 * SAMPLE_RATE);
  const median = async (fn: () => unknown, runs = 7) => {
    const times: number[] = [];
    for (let i = 0; i < runs + 1; i++) {
      const t = performance.now();
      await fn();
      if (i > 0) times.push((performance.now() - t) / 1000);
    }
    return summarize(times).median;
  };
  const features = fbank(chunk);
  const masks = new Float32Array(3 * 589).map((_, i) => (i % 3 === 0 ? 0 : 1));
  const isolated = {
    fbank: await median(() => fbank(chunk), 15),
    trunkPlain: await median(() => emb.embedFeatures(features, { raw: true })),
    trunkThreeMasks: await median(() => embedMasked([features], masks, 3, { raw: true })),
  };
  return {
    seconds: job.seconds,
    threads: job.threads,
    chunks: countChunks(audio.length, 10 * SAMPLE_RATE, SAMPLE_RATE),
    total,
    stages: [...clock.stages.values()],
    isolated,
  };
}

/** The profile's table and its reading. */
export function profileReport(p: ProfileResult): string {
  const row = (s: StageTime) => [
    s.stage,
    String(s.calls),
    num(s.wall),
    `${num((100 * s.wall) / p.total.wall)}%`,
    num((1000 * s.wall) / p.chunks),
    num(s.cpu),
    num(s.cpu / s.wall),
    num(Math.max(0, p.threads * s.wall - s.cpu)),
    num(s.jsCpu),
  ];
  const table = formatTable(
    ["diarize, stage", "calls", "wall s", "of total", "ms/chunk", "CPU s", "busy cores", "idle core-s"]
      .concat(["JS thread CPU s"]),
    [...p.stages.map(row), row(p.total)],
  );
  const i = p.isolated;
  return [
    `- input: the race's generated conversation, ${duration(p.seconds)}, ${p.chunks} chunks; ${p.threads} ` +
    `threads; CPU time per thread from /proc/self/task/*/schedstat; idle core-s = ${p.threads} × wall − CPU ` +
    `(on a loaded machine, time other processes took from ours counts as idle too)`,
    "",
    table,
    "",
    `One 10 s chunk in isolation (medians): fbank ${num(i.fbank * 1e3)} ms; trunk with one plain ` +
    `pooling ${num(i.trunkPlain * 1e3)} ms, with 3 weighted poolings (the pipeline's call) ` +
    `${num(i.trunkThreeMasks * 1e3)} ms, so pooling a speaker costs about ` +
    `${num(Math.max(0, i.trunkThreeMasks - i.trunkPlain) * 1e3 / 2)} ms.`,
  ].join("\n");
}

/** Runs the profile in a child. */
export function collectProfile(
  s: { full: boolean; threads: number; segmentation: string; weights: string },
): ProfileResult {
  const seconds = s.full ? 600 : 60;
  progress(`diarization profile: ${duration(seconds)} input`);
  return runChild<ProfileJob, ProfileResult>(
    { kind: "profile", segmentation: s.segmentation, weights: s.weights, seconds, threads: s.threads },
    s.threads,
  );
}
