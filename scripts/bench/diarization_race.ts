/**
 * The bench's diarization race: this library's pipeline against sherpa-onnx-node's
 * `OfflineSpeakerDiarization` on the same audio, with the same segmentation-3.0 and embedding weights
 * (exported to ONNX with sherpa-onnx's metadata by scripts/export_segmentation_onnx.ts and
 * scripts/export_onnx.ts) and the same threads. Each run of each engine is a fresh child process that
 * loads its models, warms up on a short input and times one call on the whole input; the engines take
 * turns run after run, so that a slow phase of the machine weighs on both.
 *
 * The two do different amounts of work per second of audio (see the README's Benchmark section): both
 * segment a 10 s chunk every second, but pyannote's algorithm (ours) embeds every chunk whole, pooled
 * per local speaker, where sherpa-onnx embeds each local speaker's non-overlapped speech alone.
 *
 * @module
 */
import { existsSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { countChunks } from "../../lib/diarization/local.ts";
import { type NativeInfo, nativeInfo, REPO, runChild } from "./child.ts";
import { duration, formatTable, msSpread, num, progress } from "./format.ts";
import { conversationSamples, SAMPLE_RATE } from "./inputs.ts";
import { summarize } from "./stats.ts";

/** Which engine a race child runs: ours exact (pyannote's output) or in fast mode, or sherpa-onnx. */
export type RaceEngine = "wespeaker" | "wespeaker-fast" | "sherpa-onnx";

const ENGINES: RaceEngine[] = ["wespeaker", "wespeaker-fast", "sherpa-onnx"];

/** The job a race child runs. */
export interface RaceJob {
  kind: "race";
  engine: RaceEngine;
  /** Converted segmentation safetensors (ours) or its ONNX export (sherpa-onnx). */
  segmentation: string;
  /** Embedding safetensors (ours) or its ONNX export (sherpa-onnx). */
  embedding: string;
  seconds: number;
  warmupSeconds: number;
  threads: number;
  /** Ours only: after the timed call, count the work each algorithm does on this input (untimed). */
  analyse?: boolean;
}

/** The work per 10 s chunk that each algorithm's embeddings do on the race's input. */
export interface RaceWork {
  chunks: number;
  /** Local speakers active in a chunk, on average (pyannote embeds all 3, we pool the active ones). */
  activeSpeakers: number;
  /** Seconds of audio sherpa-onnx embeds per chunk: each local speaker's non-overlapped speech, if >= 10 frames. */
  sherpaSeconds: number;
}

/** What the engines found, to read the ratio against. */
export interface RaceOutput {
  /** Seconds of audio inside at least one turn. */
  speech: number;
  speakers: number;
  segments: number;
}

interface RaceRun extends RaceOutput {
  seconds: number;
}

interface RaceChildResult extends RaceRun {
  versions: Record<string, string>;
  native?: NativeInfo;
  work?: RaceWork;
}

/** {@link RaceWork} from segmentation-3.0's decoded output, chunk by chunk as both engines cut the audio. */
async function countWork(segmentationPath: string, audio: Float32Array): Promise<RaceWork> {
  const { SegmentationModel } = await import("../../lib/segmentation.ts");
  const { powersetToMultilabel, LOCAL_SPEAKERS } = await import("../../lib/diarization/powerset.ts");
  using model = await SegmentationModel.load(segmentationPath);
  const window = 10 * SAMPLE_RATE, frames = SegmentationModel.framesFor(window);
  const chunks = countChunks(audio.length, window, SAMPLE_RATE);
  let active = 0, sherpaFrames = 0;
  for (let c = 0; c < chunks; c++) {
    const chunk = new Float32Array(window); // the last one zero-padded, as both engines pad it
    chunk.set(audio.subarray(c * SAMPLE_RATE, c * SAMPLE_RATE + window));
    const binary = powersetToMultilabel(await model.segmentAsync(chunk, 1), frames, 1);
    for (let s = 0; s < LOCAL_SPEAKERS; s++) {
      let on = 0, alone = 0;
      for (let f = 0; f < frames; f++) {
        const row = binary.subarray(f * LOCAL_SPEAKERS, (f + 1) * LOCAL_SPEAKERS);
        if (!row[s]) continue;
        on++;
        if (row[0] + row[1] + row[2] === 1) alone++;
      }
      if (on > 0) active++;
      if (alone >= 10) sherpaFrames += alone;
    }
  }
  return { chunks, activeSpeakers: active / chunks, sherpaSeconds: (sherpaFrames / chunks) * (10 / frames) };
}

/** Whether `job` is a {@link RaceJob}. */
export function isRaceJob(job: { kind: string }): job is RaceJob {
  return job.kind === "race";
}

/** Length of the union of [start, end) intervals. */
function covered(turns: { start: number; end: number }[]): number {
  const sorted = [...turns].sort((a, b) => a.start - b.start);
  let total = 0, end = -Infinity;
  for (const t of sorted) {
    if (t.end <= end) continue;
    total += t.end - Math.max(t.start, end);
    end = t.end;
  }
  return total;
}

interface SherpaSegment {
  start: number;
  end: number;
  speaker: number;
}

interface SherpaDiarizationModule {
  OfflineSpeakerDiarization: new (config: unknown) => { process(samples: Float32Array): SherpaSegment[] };
  version: string;
  onnxruntimeVersion: string;
}

/** Runs a {@link RaceJob} in this (child) process. */
export async function runRaceJob(job: RaceJob): Promise<RaceChildResult> {
  const audio = conversationSamples(job.seconds);
  const warmup = conversationSamples(job.warmupSeconds);
  if (job.engine === "sherpa-onnx") {
    // A CommonJS addon: required, as its own examples do.
    const sherpa = createRequire(import.meta.url)("sherpa-onnx-node") as SherpaDiarizationModule;
    const sd = new sherpa.OfflineSpeakerDiarization({
      segmentation: {
        pyannote: { model: job.segmentation },
        numThreads: job.threads,
        debug: 0,
        provider: "cpu",
      },
      embedding: { model: job.embedding, numThreads: job.threads, debug: 0, provider: "cpu" },
      // Its defaults: a chunk every second (windowShiftRatio 0.1), threshold 0.5 on complete linkage.
      clustering: { numClusters: -1, threshold: 0.5 },
      minDurationOn: 0,
      minDurationOff: 0,
    });
    sd.process(warmup);
    const t0 = performance.now();
    const turns = sd.process(audio);
    const seconds = (performance.now() - t0) / 1000;
    return {
      seconds,
      speech: covered(turns),
      speakers: new Set(turns.map((t) => t.speaker)).size,
      segments: turns.length,
      versions: { "sherpa-onnx-node": sherpa.version, "its onnxruntime": sherpa.onnxruntimeVersion },
    };
  }
  const { DiarizationPipeline } = await import("../../lib/diarization/pipeline.ts");
  using pipeline = await DiarizationPipeline.load(job.segmentation, job.embedding);
  const fast = job.engine === "wespeaker-fast";
  await pipeline.diarize(warmup, SAMPLE_RATE, { fast });
  const t0 = performance.now();
  const result = await pipeline.diarize(audio, SAMPLE_RATE, { fast });
  const seconds = (performance.now() - t0) / 1000;
  return {
    seconds,
    speech: covered(result.segments),
    speakers: result.speakers.length,
    segments: result.segments.length,
    versions: {},
    native: await nativeInfo(),
    work: job.analyse ? await countWork(job.segmentation, audio) : undefined,
  };
}

/** What the parent collected. */
export interface RaceResults {
  seconds: number;
  /** Fast mode against exact mode on ../shared/data; absent when that directory is. */
  fastDer?: { data: string; rows: FastDerRow[] };
  runs: Record<RaceEngine, RaceRun[]>;
  versions: Record<string, string>;
  native?: NativeInfo;
  work?: RaceWork;
}

/** Where the models are and how long the race is. */
export interface RaceSettings {
  full: boolean;
  threads: number;
  /** Converted safetensors of both models. */
  segmentation: string;
  weights: string;
  /** Scratch directory for the ONNX exports. */
  tmp: string;
}

/** Exports both models to ONNX, then runs the engines in turns, each run a fresh child. */
export async function collectRace(s: RaceSettings): Promise<RaceResults> {
  const { readFileSync } = await import("node:fs");
  const { exportOnnx } = await import("../export_onnx.ts");
  const { exportSegmentationOnnx } = await import("../export_segmentation_onnx.ts");
  const onnx = {
    segmentation: join(s.tmp, "segmentation-3.0.onnx"),
    embedding: join(s.tmp, "wespeaker-race.onnx"),
  };
  writeFileSync(
    onnx.segmentation,
    await exportSegmentationOnnx(readFileSync(s.segmentation), s.segmentation),
  );
  writeFileSync(onnx.embedding, await exportOnnx(readFileSync(s.weights), { source: s.weights }));
  const seconds = s.full ? 600 : 30;
  const rounds = 3;
  const runs: Record<RaceEngine, RaceRun[]> = { wespeaker: [], "wespeaker-fast": [], "sherpa-onnx": [] };
  let versions: Record<string, string> = {};
  let native: NativeInfo | undefined;
  let work: RaceWork | undefined;
  progress(`diarization race: ${duration(seconds)} input, ${rounds} runs per engine, taking turns`);
  for (let round = 0; round < rounds; round++) {
    // Rotate which engine goes first, so none always follows another's cool-down.
    const order = ENGINES.map((_, i) => ENGINES[(i + round) % ENGINES.length]);
    for (const engine of order) {
      const ours = engine !== "sherpa-onnx";
      const job: RaceJob = {
        kind: "race",
        engine,
        segmentation: ours ? s.segmentation : onnx.segmentation,
        embedding: ours ? s.weights : onnx.embedding,
        seconds,
        warmupSeconds: 20,
        threads: s.threads,
        analyse: engine === "wespeaker" && work === undefined,
      };
      const { versions: v, native: n, work: w, ...run } = runChild<RaceJob, RaceChildResult>(job, s.threads);
      versions = { ...versions, ...v };
      native ??= n;
      work ??= w;
      runs[engine].push(run);
      progress(`  ${engine}: ${num(run.seconds)} s`);
    }
  }
  let fastDer: RaceResults["fastDer"];
  const data = join(REPO, "..", "shared", "data", "speech");
  if (existsSync(data)) {
    progress(`fast mode vs exact on ${data}`);
    const job: FastDerJob = { kind: "fast-der", segmentation: s.segmentation, embedding: s.weights, data };
    fastDer = { data, rows: runChild<FastDerJob, FastDerRow[]>(job, s.threads) };
  }
  return { seconds, runs, versions, native, work, fastDer };
}

/** sherpa-onnx's median time ÷ ours (exact or fast): above 1, we are faster. */
export function raceRatio(r: RaceResults, ours: RaceEngine = "wespeaker"): number {
  return summarize(r.runs["sherpa-onnx"].map((x) => x.seconds)).median /
    summarize(r.runs[ours].map((x) => x.seconds)).median;
}

/** The race's table and its reading. */
export function raceReport(r: RaceResults): string {
  const rows = ENGINES.map((engine) => {
    const runs = r.runs[engine];
    const stats = summarize(runs.map((x) => x.seconds));
    const last = runs[runs.length - 1];
    const label = engine === "wespeaker"
      ? "wespeaker diarize (pyannote 3.1, exact)"
      : engine === "wespeaker-fast"
      ? "wespeaker diarize, fast mode (not exact)"
      : `sherpa-onnx-node ${r.versions["sherpa-onnx-node"]} OfflineSpeakerDiarization (ORT ${
        r.versions["its onnxruntime"]
      })`;
    return [
      label,
      duration(r.seconds),
      String(stats.n),
      ...msSpread(stats),
      num(stats.median / r.seconds),
      `${num(last.speech)} s`,
      String(last.speakers),
      String(last.segments),
    ];
  });
  const table = formatTable(
    ["diarization race (same weights, audio, threads)", "audio", "runs", "median ms", "min–max ms", "RTF"]
      .concat(["speech found", "speakers", "turns"]),
    rows,
  );
  const ratio = raceRatio(r);
  const w = r.work;
  const work = w
    ? `On this input (${w.chunks} chunks) a chunk has ${num(w.activeSpeakers)} active local speakers on ` +
      `average; pyannote's algorithm embeds 10 s of audio per chunk (ours: one trunk pass), sherpa-onnx ` +
      `${num(w.sherpaSeconds)} s (its speakers' non-overlapped speech), ${num(10 / w.sherpaSeconds)}× less. `
    : "";
  const fastDer = r.fastDer ? ["", fastDerReport(r.fastDer.rows, r.fastDer.data)] : [];
  return [
    table,
    "",
    `wespeaker ÷ sherpa-onnx speed: ${num(ratio)}× exact, ${num(raceRatio(r, "wespeaker-fast"))}× in fast ` +
    `mode (sherpa-onnx's median time ÷ ours; above 1 we are faster). The two do not do the same work per second of audio: both segment a 10 s chunk every second, ` +
    `but pyannote's algorithm embeds every chunk whole (one trunk pass per chunk here, pooled per local ` +
    `speaker) while sherpa-onnx embeds only each local speaker's non-overlapped speech, skipping speakers ` +
    `with fewer than 10 such frames; its clustering is a complete-linkage cut at 0.5, not pyannote's. ${work}On ` +
    `generated weights the speakers and turns found mean nothing; they only show that the engines ran.`,
    ...fastDer,
  ].join("\n");
}

/** The race for `--json`. */
export function raceJson(r: RaceResults): unknown {
  return { ...r, sherpaOverOurs: raceRatio(r), sherpaOverOursFast: raceRatio(r, "wespeaker-fast") };
}

// ---------------------------------------------------------------------------------------------
// Fast mode against exact mode on real speech (../shared/data)

/** The job that runs both modes of ours on every WAV file of a directory. */
export interface FastDerJob {
  kind: "fast-der";
  segmentation: string;
  embedding: string;
  /** A directory of WAV files, with RTTM files whose uris are the files' names (less an `ami_` prefix). */
  data: string;
}

/** One file: both modes' times and how far fast mode's output is from exact mode's. */
export interface FastDerRow {
  file: string;
  duration: number;
  exactSeconds: number;
  fastSeconds: number;
  /** DER of fast mode's turns, exact mode's as the reference (no collar, the whole file). */
  fastVsExact: number;
  /** Each mode's DER against the file's ground truth, when an RTTM names it (no collar, whole extent). */
  exactVsTruth?: number;
  fastVsTruth?: number;
}

/** Whether `job` is a {@link FastDerJob}. */
export function isFastDerJob(job: { kind: string }): job is FastDerJob {
  return job.kind === "fast-der";
}

/** Runs a {@link FastDerJob} in this (child) process. */
export async function runFastDerJob(job: FastDerJob): Promise<FastDerRow[]> {
  const { readdirSync, readFileSync } = await import("node:fs");
  const { DiarizationPipeline } = await import("../../lib/diarization/pipeline.ts");
  const { diarizationErrorRate } = await import("../../lib/formats/der.ts");
  const { parseRTTM } = await import("../../lib/formats/rttm.ts");
  const names = readdirSync(job.data).sort();
  const truth = new Map(
    names.filter((n) => n.endsWith(".rttm")).flatMap((n) => [
      ...parseRTTM(readFileSync(join(job.data, n), "utf8"), n),
    ]),
  );
  using pipeline = await DiarizationPipeline.load(job.segmentation, job.embedding);
  const rows: FastDerRow[] = [];
  for (const file of names.filter((n) => n.endsWith(".wav"))) {
    const path = join(job.data, file);
    const timed = async (fast: boolean) => {
      const t0 = performance.now();
      const result = await pipeline.diarizeFile(path, { fast });
      return { result, seconds: (performance.now() - t0) / 1000 };
    };
    const exact = await timed(false), fast = await timed(true);
    const reference = truth.get(file.replace(/\.wav$/, "")) ?? truth.get(file.replace(/^ami_|\.wav$/g, ""));
    rows.push({
      file,
      duration: exact.result.duration,
      exactSeconds: exact.seconds,
      fastSeconds: fast.seconds,
      fastVsExact: diarizationErrorRate(exact.result.segments, fast.result.segments).der,
      exactVsTruth: reference && diarizationErrorRate(reference, exact.result.segments).der,
      fastVsTruth: reference && diarizationErrorRate(reference, fast.result.segments).der,
    });
    progress(`  ${file}: fast vs exact DER ${num(100 * rows[rows.length - 1].fastVsExact)}%`);
  }
  return rows;
}

/** The fast-mode table. */
export function fastDerReport(rows: FastDerRow[], data: string): string {
  const pct = (x: number | undefined) => (x === undefined ? "–" : `${num(100 * x)}%`);
  const table = formatTable(
    ["fast mode vs exact (diarizeFile)", "audio", "exact s", "fast s", "speed-up", "DER fast vs exact"]
      .concat(["DER exact vs truth", "DER fast vs truth"]),
    rows.map((r) => [
      r.file,
      duration(r.duration),
      num(r.exactSeconds),
      num(r.fastSeconds),
      `${num(r.exactSeconds / r.fastSeconds)}×`,
      pct(r.fastVsExact),
      pct(r.exactVsTruth),
      pct(r.fastVsTruth),
    ]),
  );
  return [
    `- real speech from ${data}, each file through both modes in one process (exact first); DER without ` +
    `collar over the whole file, fast mode's turns scored against exact mode's; on generated weights the ` +
    `DER against the truth means nothing`,
    "",
    table,
  ].join("\n");
}
