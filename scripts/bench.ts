/**
 * Benchmark: embedding speed against the machine's matmul roofline and against ONNX Runtime on the
 * same network and weights, fbank and resampling speed, cold start, memory, and diarization
 * (segmentation alone, the pipeline's real-time factor with and without a shared embedding trunk,
 * memory on long files).
 *
 *     deno run -A scripts/bench.ts [--full] [--only GROUPS] [--json FILE] [--weights PATH]
 *         [--segmentation PATH] [--threads N]
 *     bun scripts/bench.ts [same options]
 *
 * - default: a few minutes, most of it the batch-16 rows and the diarization rows; every row gets 1
 *   warm-up call and at least 3 timed calls (and 2 s of them); the pipeline runs on a 30 s input.
 * - `--full`: more warm-ups and runs, a 10-minute clip in one call instead of 1 minute, the pipeline on
 *   10 minutes, and the memory rows: a 10-minute clip embedded in 10 s windows, and 10- and 60-minute
 *   WAV files through `diarizeFile` (on 2 cores, over an hour).
 * - `--only GROUPS`: a comma-separated subset of embedding, fbank, cold, memory, segmentation,
 *   diarization, diarization-memory, diarization-race, diarization-profile, clustering, kernel-paths,
 *   audio-memory, identity, pipeline-clustering (the roofline is always measured). audio-memory: a
 *   10-minute conversation (2 hours with `--full`) as WAV, MP3 and M4A read as the pipeline reads it,
 *   and (`--full`) through `diarizeFile`.
 * - `--weights PATH`: an MLX safetensors weights file (what `WeSpeakerModel.load` takes), also
 *   exported to ONNX for the peers; otherwise seeded random weights (compute cost does not depend
 *   on the values).
 * - `--segmentation PATH`: a segmentation-3.0 checkpoint (pyannote's `pytorch_model.bin` or a converted
 *   safetensors file); otherwise scripts/generate_segmentation.ts's seeded random one.
 * - `--threads N` (default: all cores): libwespeaker's and OpenBLAS's threads (the roofline's too),
 *   `intraOpNumThreads` for ONNX Runtime, `numThreads` for sherpa-onnx.
 * - `--json FILE`: every measurement (all run times, not only medians) as JSON.
 *
 * Every measurement runs in a fresh child process of the same runtime (scripts/bench/child.ts).
 * Tables go to stdout (markdown), progress to stderr.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { embeddingFlops } from "../lib/flops.ts";
import { WeSpeakerModel } from "../lib/model.ts";
import { type NativeInfo, nativeInfo, printResult, REPO, runChild, threadEnv } from "./bench/child.ts";
import {
  collectDiarization,
  DIARIZATION_GROUPS,
  type DiarizationGroup,
  type DiarizationJob,
  diarizationJson,
  diarizationReport,
  type DiarizationResults,
  isDiarizationJob,
  runDiarizationJob,
} from "./bench/diarization.ts";
import {
  collectRace,
  type FastDerJob,
  isFastDerJob,
  isRaceJob,
  type RaceJob,
  raceJson,
  raceReport,
  type RaceResults,
  runFastDerJob,
  runRaceJob,
} from "./bench/diarization_race.ts";
import {
  collectProfile,
  isProfileJob,
  type ProfileJob,
  profileReport,
  type ProfileResult,
  runProfileJob,
} from "./bench/diarization_profile.ts";
import { SECTION_GROUPS, SECTIONS } from "./bench/sections.ts";
import { duration, formatTable, mib, msSpread, num, progress } from "./bench/format.ts";
import { SAMPLE_RATE, syntheticSpeech } from "./bench/inputs.ts";
import {
  measure,
  type PeakMemory,
  peakMemoryOf,
  type Policy,
  summarize,
  type Summary,
  type Timed,
} from "./bench/stats.ts";

/** The rate the resampling row converts from. */
const CD_RATE = 44100;

// ---------------------------------------------------------------------------------------------
// Settings

/** What a run can be limited to with `--only`. */
const GROUPS = [
  "embedding",
  "fbank",
  "cold",
  "memory",
  ...DIARIZATION_GROUPS,
  "diarization-race",
  "diarization-profile",
  ...SECTION_GROUPS,
] as const;
type Group = typeof GROUPS[number];

interface Settings {
  full: boolean;
  groups: Group[];
  threads: number;
  policy: Policy;
  clipSeconds: number[];
  batches: number[];
  coldRuns: number;
  rooflineRuns: number;
  fbankSeconds: number;
  longClipSeconds: number;
  /** Measured with --full only. */
  windowedClipSeconds: number;
  windowSeconds: number;
}

function settingsFor(full: boolean, groups: Group[], threads: number): Settings {
  return {
    full,
    groups,
    threads,
    policy: full
      ? { warmup: 2, minRuns: 7, minSeconds: 10, maxRuns: 200 }
      : { warmup: 1, minRuns: 3, minSeconds: 2, maxRuns: 25 },
    clipSeconds: [2, 5, 10],
    batches: [1, 16],
    coldRuns: full ? 15 : 5,
    rooflineRuns: full ? 30 : 10,
    fbankSeconds: 10,
    longClipSeconds: full ? 600 : 60,
    windowedClipSeconds: 600,
    windowSeconds: 10,
  };
}

// ---------------------------------------------------------------------------------------------
// Child jobs

interface EmbedCase {
  seconds: number;
  batch: number;
}

type Engine = "wespeaker-features" | "wespeaker-audio" | "onnxruntime" | "sherpa-onnx";

type Job =
  | { kind: "embed"; engine: Engine; cases: EmbedCase[]; policy: Policy; threads: number; model: string }
  | { kind: "fbank"; seconds: number; policy: Policy }
  | { kind: "cold"; weights: string; seconds: number }
  | { kind: "memory"; weights: string; mode: "one-call" | "windows"; seconds: number; windowSeconds: number }
  | DiarizationJob
  | RaceJob
  | FastDerJob
  | ProfileJob;

interface CaseResult extends EmbedCase {
  frames: number;
  secondsPerCall: number[];
  /** The first clip's embedding, to check that every engine computes the same function. */
  embedding: number[];
}

interface EmbedResult {
  engine: string;
  versions: Record<string, string>;
  cases: CaseResult[];
  native?: NativeInfo;
}

interface FbankResult {
  frames: number;
  secondsPerCall: number[];
  /** Resampling a clip of the same duration from 44.1 kHz to 16 kHz. */
  resampleSecondsPerCall: number[];
}

interface ColdResult {
  /** Milliseconds since the runtime started, at each phase's end. */
  scriptStart: number;
  imported: number;
  libraryLoaded: number;
  weightsLoaded: number;
  firstEmbed: number;
}

interface MemoryResult extends PeakMemory {
  /** Windows embedded (0 for one call on the whole clip). */
  windows: number;
}

// ---------------------------------------------------------------------------------------------
// Child side: the contenders.

interface Input extends EmbedCase {
  clips: Float32Array[];
  /** fbank of each clip (all the same length). */
  features: Float32Array[];
  frames: number;
  /** The features of all clips back to back: [batch, frames, 80]. */
  stacked: Float32Array;
}

/** One engine: prepares a call that embeds `input` once and returns the first clip's embedding. */
interface Contender {
  versions: Record<string, string>;
  prepare(input: Input): () => Float32Array | Promise<Float32Array>;
  native?: NativeInfo;
}

interface SherpaStream {
  acceptWaveform(wave: { samples: Float32Array; sampleRate: number }): void;
  inputFinished(): void;
}
interface SherpaModule {
  SpeakerEmbeddingExtractor: new (config: {
    model: string;
    numThreads: number;
    debug: number;
    provider: string;
  }) => {
    createStream(): SherpaStream;
    isReady(stream: SherpaStream): boolean;
    compute(stream: SherpaStream): Float32Array;
  };
  version: string;
  onnxruntimeVersion: string;
}

async function contender(job: Extract<Job, { kind: "embed" }>): Promise<Contender> {
  if (job.engine === "wespeaker-features" || job.engine === "wespeaker-audio") {
    const { WeSpeakerModel, nativeVersion } = await import("../mod.ts");
    const { embedNative, loadModel } = await import("../lib/native/library.ts");
    const model = await WeSpeakerModel.load(job.model);
    const versions = { wespeaker: nativeVersion() };
    const native = await nativeInfo();
    if (job.engine === "wespeaker-audio") {
      return {
        versions,
        native,
        prepare: (input) =>
          input.batch === 1
            ? () => model.embed(input.clips[0], SAMPLE_RATE)
            : () => model.embedBatch(input.clips, SAMPLE_RATE)[0],
      };
    }
    // Batches of precomputed features have no public entry point: the native call itself.
    const handle = loadModel(job.model);
    return {
      versions,
      native,
      prepare: (input) =>
        input.batch === 1
          ? () =>
            model.embedFeatures({ data: input.features[0], frames: input.frames, bins: 80 }, { raw: true })
          : () =>
            embedNative(handle, {
              features: input.stacked,
              batch: input.batch,
              frames: input.frames,
              raw: true,
            })
              .subarray(0, 256),
    };
  }
  if (job.engine === "onnxruntime") {
    const ort = await import("onnxruntime-node");
    const session = await ort.InferenceSession.create(job.model, {
      intraOpNumThreads: job.threads,
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: "all",
    });
    return {
      versions: { "onnxruntime-node": ort.env.versions.node ?? "?" },
      prepare: (input) => {
        const feeds = { feats: new ort.Tensor("float32", input.stacked, [input.batch, input.frames, 80]) };
        return async () => ((await session.run(feeds)).embs.data as Float32Array).subarray(0, 256);
      },
    };
  }
  const sherpa = (await import("sherpa-onnx-node")).default as SherpaModule;
  const extractor = new sherpa.SpeakerEmbeddingExtractor({
    model: job.model,
    numThreads: job.threads,
    debug: 0,
    provider: "cpu",
  });
  const embedOne = (clip: Float32Array) => {
    const stream = extractor.createStream();
    stream.acceptWaveform({ samples: clip, sampleRate: SAMPLE_RATE });
    stream.inputFinished();
    if (!extractor.isReady(stream)) throw new Error("sherpa-onnx: stream not ready after inputFinished");
    return Float32Array.from(extractor.compute(stream));
  };
  return {
    versions: { "sherpa-onnx-node": sherpa.version, "its onnxruntime": sherpa.onnxruntimeVersion },
    // No batching in sherpa-onnx's extractor: the clips go through one stream at a time.
    prepare: (input) => () => {
      const first = embedOne(input.clips[0]);
      for (let i = 1; i < input.clips.length; i++) embedOne(input.clips[i]);
      return first;
    },
  };
}

async function makeInput(c: EmbedCase): Promise<Input> {
  const { fbank } = await import("../lib/audio/fbank.ts");
  const clips = Array.from({ length: c.batch }, (_, i) => syntheticSpeech(i + 1, c.seconds));
  const features = clips.map((clip) => fbank(clip));
  const frames = features[0].frames;
  const stacked = new Float32Array(c.batch * frames * 80);
  features.forEach((f, i) => stacked.set(f.data, i * frames * 80));
  return { ...c, clips, features: features.map((f) => f.data), frames, stacked };
}

async function childMain(job: Job): Promise<unknown> {
  switch (job.kind) {
    case "embed": {
      const engine = await contender(job);
      const cases: CaseResult[] = [];
      for (const c of job.cases) {
        const input = await makeInput(c);
        const timed = await measure(engine.prepare(input), job.policy);
        const median = summarize(timed.seconds).median;
        progress(`  ${job.engine} ${c.seconds} s x ${c.batch}: ${(median * 1e3).toFixed(1)} ms`);
        cases.push({
          ...c,
          frames: input.frames,
          secondsPerCall: timed.seconds,
          embedding: Array.from(timed.results[timed.results.length - 1]),
        });
      }
      return {
        engine: job.engine,
        versions: engine.versions,
        cases,
        native: engine.native,
      } satisfies EmbedResult;
    }
    case "fbank": {
      const { fbank } = await import("../lib/audio/fbank.ts");
      const { resample } = await import("../lib/audio/resample.ts");
      const clip = syntheticSpeech(1, job.seconds);
      const timed = await measure(() => fbank(clip), job.policy);
      // Only the length matters to the cost: the same signal, read as 44.1 kHz audio.
      const cdQuality = syntheticSpeech(2, job.seconds * CD_RATE / SAMPLE_RATE);
      const resampled = await measure(() => resample(cdQuality, CD_RATE, SAMPLE_RATE), job.policy);
      return {
        frames: timed.results[0].frames,
        secondsPerCall: timed.seconds,
        resampleSecondsPerCall: resampled.seconds,
      } satisfies FbankResult;
    }
    case "cold": {
      const scriptStart = performance.now();
      const clip = syntheticSpeech(1, job.seconds);
      const mod = await import("../mod.ts");
      const imported = performance.now();
      mod.nativeVersion();
      const libraryLoaded = performance.now();
      const model = await mod.WeSpeakerModel.load(job.weights);
      const weightsLoaded = performance.now();
      model.embed(clip, SAMPLE_RATE);
      const firstEmbed = performance.now();
      return { scriptStart, imported, libraryLoaded, weightsLoaded, firstEmbed } satisfies ColdResult;
    }
    case "memory": {
      const { WeSpeakerModel } = await import("../mod.ts");
      const clip = syntheticSpeech(1, job.seconds);
      const windows: Float32Array[] = [];
      const step = job.windowSeconds * SAMPLE_RATE;
      if (job.mode === "windows") {
        for (let at = 0; at + step <= clip.length; at += step) windows.push(clip.subarray(at, at + step));
      }
      const model = await WeSpeakerModel.load(job.weights);
      const { result: _, ...memory } = await peakMemoryOf(() =>
        job.mode === "windows" ? model.embedBatch(windows, SAMPLE_RATE) : model.embed(clip, SAMPLE_RATE)
      );
      return { ...memory, windows: windows.length } satisfies MemoryResult;
    }
    default:
      if (isDiarizationJob(job)) return await runDiarizationJob(job);
      if (isRaceJob(job)) return await runRaceJob(job);
      if (isFastDerJob(job)) return await runFastDerJob(job);
      if (isProfileJob(job)) return await runProfileJob(job);
      for (const section of SECTIONS) if (section.owns(job)) return await section.run(job);
      throw new Error(`unknown job ${JSON.stringify(job)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Main side

interface Roofline {
  gflops: number;
  min_s: number;
  max_s: number;
  runs: number;
  size: number;
  blas: string;
  blas_config: string;
}

/** The roofline tool sits next to the library the bench loads. */
async function rooflineTool(): Promise<string> {
  const { libraryCandidates } = await import("../lib/native/library.ts");
  const first = libraryCandidates()[0];
  return join(first.includes("/") ? dirname(first) : join(REPO, "build"), "wespeaker-roofline");
}

async function roofline(settings: Settings): Promise<Roofline | string> {
  const tool = await rooflineTool();
  const run = spawnSync(tool, ["--json", "--runs", String(settings.rooflineRuns)], {
    env: threadEnv(settings.threads),
    encoding: "utf8",
  });
  if (run.error || run.status !== 0) {
    return `unavailable: ${tool} ${
      run.error
        ? "could not run (build it: cmake --build build --target wespeaker-roofline)"
        : run.stderr.trim()
    }`;
  }
  return JSON.parse(run.stdout) as Roofline;
}

/** Busy CPU time of the whole machine and of this process with its waited-for children, in ticks. */
interface CpuTimes {
  machineBusy: number;
  ours: number;
  at: number;
}

function cpuTimes(): CpuTimes | null {
  try {
    // cpu user nice system idle iowait irq softirq steal ...: everything but idle and iowait is busy.
    const all = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    const machineBusy = all.reduce((a, b) => a + b, 0) - all[3] - all[4];
    // After the command name: state is field 3; utime, stime, cutime, cstime are fields 14-17.
    const self = readFileSync("/proc/self/stat", "utf8");
    const fields = self.slice(self.lastIndexOf(")") + 2).split(" ").map(Number);
    const ours = fields[11] + fields[12] + fields[13] + fields[14];
    return { machineBusy, ours, at: performance.now() };
  } catch {
    return null;
  }
}

function othersCpuShare(a: CpuTimes | null, b: CpuTimes | null, cores: number): number | null {
  if (!a || !b) return null;
  const ticksPerSecond = 100; // USER_HZ on Linux
  const available = ((b.at - a.at) / 1000) * ticksPerSecond * cores;
  return Math.max(0, (b.machineBusy - a.machineBusy - (b.ours - a.ours)) / available);
}

function cpuModel(): string {
  try {
    const m = readFileSync("/proc/cpuinfo", "utf8").match(/^model name\s*:\s*(.+)$/m);
    if (m) return m[1].trim();
  } catch { /* not Linux */ }
  return os.cpus()[0]?.model ?? "unknown";
}

function runtimeVersion(): string {
  const g = globalThis as { Deno?: { version: { deno: string; v8: string } }; Bun?: { version: string } };
  if (g.Deno) return `Deno ${g.Deno.version.deno} (V8 ${g.Deno.version.v8})`;
  if (g.Bun) return `Bun ${g.Bun.version} (JavaScriptCore)`;
  return `Node ${process.version}`;
}

function gitRevision(): string {
  const rev = spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: REPO, encoding: "utf8" });
  if (rev.status !== 0) return "unknown";
  const dirty = spawnSync("git", ["status", "--porcelain", "--untracked-files=no"], {
    cwd: REPO,
    encoding: "utf8",
  });
  return `${rev.stdout.trim()}${dirty.stdout.trim() ? " + uncommitted changes" : ""}`;
}

// ---------------------------------------------------------------------------------------------
// Main side: collecting every measurement.

/** The engines, in table order; a peer's row is compared with the row of the engine it races. */
const ENGINES: { engine: Engine; path: string; label: string; peerOf?: Engine }[] = [
  { engine: "wespeaker-features", path: "features → embedding", label: "wespeaker (MLX)" },
  {
    engine: "onnxruntime",
    path: "features → embedding",
    label: "onnxruntime-node",
    peerOf: "wespeaker-features",
  },
  { engine: "wespeaker-audio", path: "audio → embedding", label: "wespeaker (MLX)" },
  { engine: "sherpa-onnx", path: "audio → embedding", label: "sherpa-onnx-node", peerOf: "wespeaker-audio" },
];

interface MemoryRow {
  label: string;
  mode: "one-call" | "windows";
  seconds: number;
  /** null: not measured in this mode. */
  result: MemoryResult | null;
}

/** The model files a run uses, and how they were made (for the report). */
interface Models {
  weights: string;
  weightsLabel: string;
  /** The embedding model as ONNX, for the peers; absent when the embedding rows are not run. */
  onnx?: string;
  /** Converted segmentation-3.0 weights; absent when no diarization rows are run. */
  segmentation?: string;
  segmentationLabel?: string;
  /** Scratch directory, removed after the run. */
  tmp: string;
}

interface Results {
  settings: Settings;
  weights: string;
  segmentationWeights?: string;
  machine: {
    cpu: string;
    cores: number;
    memoryBytes: number;
    os: string;
    loadBefore: number;
    loadAfter: number;
    /**
     * Share of the machine's CPU time that other processes used during the run (0 to 1), from
     * /proc: all busy time minus this process's and its children's; null where /proc is missing.
     */
    othersCpuShare: number | null;
  };
  runtime: string;
  source: string;
  /** Measured at the start and at the end of the run (or why not). */
  roofline: (Roofline | string)[];
  /** The groups not selected with `--only` are absent. */
  embed?: Partial<Record<Engine, EmbedResult>>;
  fbank?: FbankResult;
  cold?: Timed<ColdResult>;
  memory?: MemoryRow[];
  diarization: DiarizationResults;
  /** sherpa-onnx-node's OfflineSpeakerDiarization against ours; absent unless selected. */
  race?: RaceResults;
  /** Where a diarize call's time goes; absent unless selected. */
  profile?: ProfileResult;
  /** By group, what each selected section of {@link SECTIONS} collected. */
  sections: Record<string, unknown>;
  failures: string[];
  elapsedSeconds: number;
}

function collectEmbedding(settings: Settings, models: Models, failures: string[]): Results["embed"] {
  const { threads } = settings;
  const embed: Partial<Record<Engine, EmbedResult>> = {};
  const cases = settings.clipSeconds.flatMap((seconds) =>
    settings.batches.map((batch) => ({ seconds, batch }))
  );
  for (const { engine } of ENGINES) {
    progress(engine);
    const model = engine === "onnxruntime" || engine === "sherpa-onnx" ? models.onnx! : models.weights;
    try {
      embed[engine] = runChild<Job, EmbedResult>(
        { kind: "embed", engine, cases, policy: settings.policy, threads, model },
        threads,
      );
    } catch (err) {
      failures.push(`${engine}: ${(err as Error).message}`);
    }
  }
  return embed;
}

async function collectCold(settings: Settings, weights: string): Promise<Timed<ColdResult>> {
  progress(`cold start (${settings.coldRuns} runs)`);
  // Each run is a fresh process; the warm-up one fills the runtime's transpile cache.
  return await measure(
    () => runChild<Job, ColdResult>({ kind: "cold", weights, seconds: 2 }, settings.threads),
    { warmup: 1, minRuns: settings.coldRuns, minSeconds: 0, maxRuns: settings.coldRuns },
  );
}

function collectMemory(settings: Settings, weights: string): MemoryRow[] {
  const memoryJobs = [
    { label: "one call (embed)", mode: "one-call", seconds: settings.longClipSeconds, run: true },
    {
      label: `${settings.windowSeconds} s windows (embedBatch)`,
      mode: "windows",
      seconds: settings.windowedClipSeconds,
      run: settings.full,
    },
  ] as const;
  return memoryJobs.map(({ run, ...m }) => {
    if (run) progress(`memory: ${duration(m.seconds)} clip, ${m.label}`);
    const job: Job = { kind: "memory", weights, ...m, windowSeconds: settings.windowSeconds };
    return { ...m, result: run ? runChild<Job, MemoryResult>(job, settings.threads) : null };
  });
}

async function collect(settings: Settings, models: Models): Promise<Results> {
  const started = performance.now();
  const { threads, groups } = settings;
  const loadBefore = os.loadavg()[0];
  const cpuBefore = cpuTimes();

  progress(`roofline (${settings.rooflineRuns} runs)`);
  const roofStart = await roofline(settings);

  const failures: string[] = [];
  const embed = groups.includes("embedding") ? collectEmbedding(settings, models, failures) : undefined;
  if (groups.includes("fbank")) progress("fbank");
  const fbank = groups.includes("fbank")
    ? runChild<Job, FbankResult>(
      { kind: "fbank", seconds: settings.fbankSeconds, policy: settings.policy },
      threads,
    )
    : undefined;
  const cold = groups.includes("cold") ? await collectCold(settings, models.weights) : undefined;
  const memory = groups.includes("memory") ? collectMemory(settings, models.weights) : undefined;
  const diarization = collectDiarization({
    groups: groups.filter((g): g is DiarizationGroup =>
      (DIARIZATION_GROUPS as readonly string[]).includes(g)
    ),
    full: settings.full,
    threads,
    policy: settings.policy,
    segmentation: models.segmentation ?? "",
    weights: models.weights,
    tmp: models.tmp,
  });

  const race = groups.includes("diarization-race")
    ? await collectRace({
      ...settings,
      segmentation: models.segmentation!,
      weights: models.weights,
      tmp: models.tmp,
    })
    : undefined;
  const profile = groups.includes("diarization-profile")
    ? collectProfile({ ...settings, segmentation: models.segmentation!, weights: models.weights })
    : undefined;

  const sections = Object.fromEntries(
    SECTIONS.filter((s) => groups.includes(s.group as Group))
      .map((s) => [s.group, s.collect({ ...settings, ...models })]),
  );

  progress(`roofline again (${settings.rooflineRuns} runs)`);
  const roofEnd = await roofline(settings);

  return {
    settings,
    weights: models.weightsLabel,
    segmentationWeights: models.segmentationLabel,
    machine: {
      cpu: cpuModel(),
      cores: os.cpus().length,
      memoryBytes: os.totalmem(),
      os: `${os.type()} ${os.release()}`,
      loadBefore,
      loadAfter: os.loadavg()[0],
      othersCpuShare: othersCpuShare(cpuBefore, cpuTimes(), os.cpus().length),
    },
    runtime: runtimeVersion(),
    source: gitRevision(),
    roofline: [roofStart, roofEnd],
    embed,
    fbank,
    cold,
    memory,
    diarization,
    race,
    profile,
    sections,
    failures,
    elapsedSeconds: (performance.now() - started) / 1000,
  };
}

// ---------------------------------------------------------------------------------------------
// Main side: the report.

/** One row of the embedding table. */
interface EmbedRow {
  path: string;
  engine: Engine;
  label: string;
  c: CaseResult;
  stats: Summary;
  flops: number;
  clipsPerSecond: number;
  gflops: number;
  /** The row of the engine this one races, for a peer. */
  ours?: EmbedRow;
}

function engineLabel(engine: Engine, result: EmbedResult): string {
  const v = result.versions;
  const label = ENGINES.find((e) => e.engine === engine)!.label;
  if (engine === "onnxruntime") return `${label} ${v["onnxruntime-node"]}`;
  if (engine === "sherpa-onnx") return `${label} ${v["sherpa-onnx-node"]} (ORT ${v["its onnxruntime"]})`;
  return label;
}

function embedRows(results: Results): EmbedRow[] {
  const rows: EmbedRow[] = [];
  const paths = [...new Set(ENGINES.map((e) => e.path))];
  for (const path of paths) {
    for (const seconds of results.settings.clipSeconds) {
      for (const batch of results.settings.batches) {
        for (const { engine, peerOf } of ENGINES.filter((e) => e.path === path)) {
          const result = results.embed?.[engine];
          const c = result?.cases.find((x) => x.seconds === seconds && x.batch === batch);
          if (!result || !c) continue;
          const stats = summarize(c.secondsPerCall);
          const flops = embeddingFlops(c.frames, c.batch);
          rows.push({
            path,
            engine,
            label: engineLabel(engine, result) +
              (engine === "sherpa-onnx" && batch > 1 ? " (one stream at a time)" : ""),
            c,
            stats,
            flops,
            clipsPerSecond: batch / stats.median,
            gflops: flops / stats.median / 1e9,
            ours: peerOf
              ? rows.find((r) => r.engine === peerOf && r.c.seconds === seconds && r.c.batch === batch)
              : undefined,
          });
        }
      }
    }
  }
  return rows;
}

function embedTable(rows: EmbedRow[], roofGflops: number): string {
  return formatTable(
    [
      "path",
      "clip",
      "batch",
      "engine",
      "runs",
      "median ms",
      "min–max ms",
      "clips/s",
      "RTF",
      "GFLOP/s",
      "of roofline",
      "ours ÷ this",
      "cos vs ours",
    ],
    rows.map((row) => [
      row.path,
      duration(row.c.seconds),
      String(row.c.batch),
      row.label,
      String(row.stats.n),
      ...msSpread(row.stats),
      num(row.clipsPerSecond),
      num(row.stats.median / (row.c.batch * row.c.seconds)),
      num(row.gflops),
      Number.isFinite(roofGflops) ? `${num((100 * row.gflops) / roofGflops)}%` : "–",
      row.ours ? `${num(row.ours.clipsPerSecond / row.clipsPerSecond)}×` : "–",
      row.ours
        ? WeSpeakerModel.cosineSimilarity(
          Float32Array.from(row.ours.c.embedding),
          Float32Array.from(row.c.embedding),
        ).toFixed(6)
        : "–",
    ]),
  );
}

function fbankTable(fbank: FbankResult, settings: Settings): string {
  const clip = duration(settings.fbankSeconds);
  const row = (label: string, secondsPerCall: number[], frames?: number) => {
    const s = summarize(secondsPerCall);
    return [
      label,
      String(s.n),
      ...msSpread(s),
      frames ? num(frames / s.median) : "–",
      num(settings.fbankSeconds / s.median),
    ];
  };
  return formatTable(
    ["front end (TypeScript)", "runs", "median ms", "min–max ms", "frames/s", "× real time"],
    [
      row(`fbank, ${clip} clip, ${fbank.frames} frames`, fbank.secondsPerCall, fbank.frames),
      row(`resample 44.1 → 16 kHz, ${clip} clip`, fbank.resampleSecondsPerCall),
    ],
  );
}

function coldTable(cold: Timed<ColdResult>): string {
  const { seconds, results: phases } = cold;
  const row = (name: string, values: number[]) => {
    const s = summarize(values);
    return [name, String(s.n), ...msSpread(s)];
  };
  const phase = (name: string, f: (r: ColdResult) => number) =>
    row(`  ${name}`, phases.map((r) => f(r) / 1000));
  return formatTable(["cold start, 2 s clip (fresh process)", "runs", "median ms", "min–max ms"], [
    row("whole process: spawn → exit", seconds),
    phase("runtime start → script running", (r) => r.scriptStart),
    phase("import mod.ts", (r) => r.imported - r.scriptStart),
    phase("library load (libwespeaker, MLX, BLAS)", (r) => r.libraryLoaded - r.imported),
    phase("weights load (WeSpeakerModel.load)", (r) => r.weightsLoaded - r.libraryLoaded),
    phase("first embed (fbank + network)", (r) => r.firstEmbed - r.weightsLoaded),
  ]);
}

function memoryTable(memory: MemoryRow[]): string {
  return formatTable(
    ["peak RSS (VmHWM)", "audio", "peak RSS", "RSS after load", "peak − after load", "time s"],
    memory.map(({ label, seconds, result: r }) =>
      r === null ? [label, duration(seconds), "only with --full", "–", "–", "–"] : [
        r.windows ? `${label}, ${r.windows} windows` : label,
        duration(seconds),
        mib(r.peakKiB),
        mib(r.rssAfterLoadKiB),
        mib(r.peakKiB - r.peakAfterLoadKiB),
        num(r.seconds),
      ]
    ),
  );
}

function measuredRooflines(results: Results): Roofline[] {
  return results.roofline.filter((r): r is Roofline => typeof r !== "string");
}

/** The roofline the rows are compared with: the better of the two measurements. */
function rooflineGflops(results: Results): number {
  const gflops = measuredRooflines(results).map((r) => r.gflops);
  return gflops.length ? Math.max(...gflops) : NaN;
}

/** Signs that the numbers cannot be trusted as they stand. */
function warnings(results: Results): string[] {
  const { machine } = results;
  const out: string[] = [];
  if (machine.loadBefore > 0.5 * machine.cores) {
    out.push(`the machine was busy when the run started (load ${num(machine.loadBefore)})`);
  }
  if (machine.othersCpuShare !== null && machine.othersCpuShare > 0.1) {
    out.push(`other processes used ${num(100 * machine.othersCpuShare)}% of the CPU during the run`);
  }
  const roofs = measuredRooflines(results);
  const gflops = roofs.map((r) => r.gflops);
  if (
    roofs.some((r) => r.max_s > 1.5 * r.min_s) ||
    (gflops.length === 2 && Math.max(...gflops) > 1.2 * Math.min(...gflops))
  ) {
    out.push("the roofline varied within or between its two measurements: something else was using the CPU");
  }
  const libraries = new Set(
    Object.values(results.embed ?? {}).flatMap((r) => r.native ? [r.native.sha256] : []),
  );
  if (libraries.size > 1) {
    out.push(`libwespeaker changed during the run (${libraries.size} builds): rows mix builds`);
  }
  return out;
}

function header(results: Results): string {
  const { settings, machine } = results;
  const ours = results.embed?.["wespeaker-features"] ?? results.embed?.["wespeaker-audio"];
  const native = ours?.native ?? results.diarization.diarize?.native;
  const roofText = results.roofline.map((roof, i) => {
    const when = i === 0 ? "at the start" : "at the end";
    return typeof roof === "string"
      ? `${when}: ${roof}`
      : `${num(roof.gflops)} GFLOP/s ${when} (median of ${roof.runs}, ${num(roof.min_s * 1e3)}–` +
        `${num(roof.max_s * 1e3)} ms)`;
  }).join(", ");
  const size = measuredRooflines(results)[0]?.size;
  const blasTool = measuredRooflines(results)[0];
  const blas = blasTool ? `${blasTool.blas} (${blasTool.blas_config})` : "unknown";
  const { policy } = settings;
  return [
    `# wespeaker benchmark${settings.full ? " (--full)" : ""}`,
    "",
    `- machine: ${machine.cpu}, ${machine.cores} cores, ${
      num(machine.memoryBytes / 2 ** 30)
    } GiB, ${machine.os}`,
    `- load average (1 min) before the run: ${num(machine.loadBefore)}, after: ${num(machine.loadAfter)}; ` +
    `CPU used by other processes during the run: ${
      machine.othersCpuShare === null ? "unknown" : `${num(100 * machine.othersCpuShare)}%`
    }`,
    `- runtime: ${results.runtime}`,
    `- library: ${native?.version ?? "not loaded"}, ${native?.library ?? "?"} ` +
    `(sha256 ${native?.sha256.slice(0, 12) ?? "?"}); source ${results.source}`,
    ...warnings(results).map((w) => `- WARNING: ${w}; timings are noisy`),
    `- BLAS: ${blas}; mapped in the wespeaker process: ${native?.blas.join(", ") ?? "?"}`,
    `- threads: ${settings.threads} (libwespeaker's CPU kernels and OpenBLAS, the roofline's too; intraOpNumThreads for ` +
    `ONNX Runtime, numThreads for sherpa-onnx)`,
    `- weights: ${results.weights}`,
    `- timing: ${policy.warmup} warm-up, then at least ${policy.minRuns} runs and ${policy.minSeconds} s ` +
    `per row; each engine in its own process`,
    `- roofline: ${size ?? 2048}×${size ?? 2048} float32 matmul through MLX (build/wespeaker-roofline), ` +
    `${roofText}; "of roofline" uses the higher. It is MLX's own ceiling here, not the CPU's peak: ` +
    `ONNX Runtime's kernels can exceed it`,
    `- GFLOP/s counts the network's convolutions and Linear as direct convolutions (lib/flops.ts: ` +
    `${num(embeddingFlops(200) / 1e9)} GFLOP per 200 frames), the same count for every engine: on the ` +
    `CPU ours computes the stride-1 3×3 convolutions by Winograd's F(4×4, 3×3) (F(2×4, 3×3) at the ` +
    `last level's 10 bins) with about 4× fewer multiplications, so its rate can exceed the roofline; ` +
    `RTF = time ÷ audio duration; ` +
    `"ours ÷ this" = our clips/s ÷ this engine's`,
    `- features → embedding: the native call on precomputed fbank (raw embeddings), vs ONNX Runtime on ` +
    `the exported graph (scripts/export_onnx.ts) with the same features`,
    `- audio → embedding: fbank + network, vs sherpa-onnx's SpeakerEmbeddingExtractor on the same ` +
    `audio and the same ONNX file; sherpa-onnx has no batching (batch 16 = 16 streams one at a time) ` +
    `and computes its own fbank (kaldi-native-fbank), hence a cosine a little below 1`,
  ].join("\n");
}

function report(results: Results, rows: EmbedRow[]): string {
  const { fbank, cold, memory, diarization, settings } = results;
  const sections: [string, string | undefined][] = [
    ["Embedding", results.embed && embedTable(rows, rooflineGflops(results))],
    ["Front end", fbank && fbankTable(fbank, settings)],
    ["Cold start", cold && coldTable(cold)],
    ["Memory", memory && memoryTable(memory)],
    [
      "Diarization",
      results.segmentationWeights && diarizationReport(diarization, results.segmentationWeights),
    ],
    ["Diarization race", results.race && raceReport(results.race)],
    ["Diarization profile", results.profile && profileReport(results.profile)],
  ];
  for (const section of SECTIONS) {
    if (section.group in results.sections) {
      sections.push([section.title, section.report(results.sections[section.group])]);
    }
  }
  return [
    header(results),
    ...sections.flatMap(([title, table]) => table === undefined ? [] : [`\n## ${title}\n\n${table}`]),
    "",
    `Total bench time: ${num(results.elapsedSeconds)} s.`,
    ...results.failures.map((f) => `FAILED: ${f}`),
  ].join("\n");
}

function toJson(results: Results, rows: EmbedRow[]): unknown {
  const { embed: _, cold, fbank, diarization, race, ...rest } = results;
  return {
    ...rest,
    embedding: rows.map((row) => ({
      path: row.path,
      engine: row.engine,
      label: row.label,
      versions: results.embed?.[row.engine]?.versions,
      seconds: row.c.seconds,
      batch: row.c.batch,
      frames: row.c.frames,
      flops: row.flops,
      secondsPerCall: row.c.secondsPerCall,
      summary: row.stats,
      clipsPerSecond: row.clipsPerSecond,
      gflops: row.gflops,
      oursOverThis: row.ours ? row.ours.clipsPerSecond / row.clipsPerSecond : null,
    })),
    fbank,
    fbankSummary: fbank && summarize(fbank.secondsPerCall),
    resampleSummary: fbank && summarize(fbank.resampleSecondsPerCall),
    coldStart: cold && { wallSeconds: cold.seconds, phasesMs: cold.results },
    diarization: diarizationJson(diarization),
    race: race && raceJson(race),
  };
}

// ---------------------------------------------------------------------------------------------

const USAGE = "usage: scripts/bench.ts [--full] [--only GROUPS] [--json FILE] [--weights PATH] " +
  `[--segmentation PATH] [--threads N]; GROUPS: comma-separated ${GROUPS.join(", ")}`;

function parseGroups(only: string | undefined): Group[] | string {
  if (only === undefined) return [...GROUPS];
  const groups = only.split(",").map((g) => g.trim());
  const unknown = groups.filter((g) => !(GROUPS as readonly string[]).includes(g));
  return unknown.length ? `--only: unknown group ${unknown.join(", ")}; ${USAGE}` : groups as Group[];
}

/** The embedding weights: the given file, or seeded random ones written to `tmp`. */
async function embeddingWeights(given: string | undefined, tmp: string): Promise<[string, string]> {
  if (given) return [given, `${given} (given)`];
  const { DEFAULT_WEIGHTS_SEED, generateWeights } = await import("./generate_weights.ts");
  const path = join(tmp, "random.safetensors");
  writeFileSync(path, generateWeights(DEFAULT_WEIGHTS_SEED));
  return [path, `generated (seeded random, seed ${DEFAULT_WEIGHTS_SEED}; speed does not depend on values)`];
}

/** Converted segmentation-3.0 weights in `tmp`: from the given checkpoint, or a seeded random one. */
async function segmentationWeights(given: string | undefined, tmp: string): Promise<[string, string]> {
  const { convertCheckpoint } = await import("../lib/hub/convert/mod.ts");
  const { DEFAULT_SEGMENTATION_SEED, generateSegmentationCheckpoint } = await import(
    "./generate_segmentation.ts"
  );
  const checkpoint = given ? readFileSync(given) : await generateSegmentationCheckpoint();
  const path = join(tmp, "segmentation.safetensors");
  writeFileSync(path, (await convertCheckpoint(checkpoint, given ?? "pytorch_model.bin")).safetensors);
  return [
    path,
    given
      ? `${given} (given)`
      : `generated (scripts/generate_segmentation.ts, seed ${DEFAULT_SEGMENTATION_SEED}, through convertCheckpoint)`,
  ];
}

async function prepareModels(
  groups: Group[],
  values: { weights?: string; segmentation?: string },
  tmp: string,
): Promise<Models> {
  const [weights, weightsLabel] = await embeddingWeights(values.weights, tmp);
  const models: Models = { weights, weightsLabel, tmp };
  if (groups.includes("embedding")) {
    // The same network and weights as ONNX, for the peers.
    const { exportOnnx } = await import("./export_onnx.ts");
    models.onnx = join(tmp, "wespeaker-resnet34-lm.onnx");
    writeFileSync(models.onnx, await exportOnnx(readFileSync(weights), { source: weights }));
  }
  const sectionsNeed = SECTIONS.some((s) => s.segmentation && groups.includes(s.group as Group));
  if (sectionsNeed || groups.some((g) => g === "segmentation" || g.startsWith("diarization"))) {
    [models.segmentation, models.segmentationLabel] = await segmentationWeights(values.segmentation, tmp);
  }
  return models;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      full: { type: "boolean", default: false },
      only: { type: "string" },
      json: { type: "string" },
      weights: { type: "string" },
      segmentation: { type: "string" },
      threads: { type: "string" },
      child: { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.child) {
    printResult(await childMain(JSON.parse(values.child) as Job));
    return 0;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const threads = values.threads === undefined ? os.cpus().length : Number(values.threads);
  if (!Number.isInteger(threads) || threads < 1) {
    console.error(`--threads must be a positive integer, got ${values.threads}`);
    return 2;
  }
  const groups = parseGroups(values.only);
  if (typeof groups === "string") {
    console.error(groups);
    return 2;
  }
  const tmp = mkdtempSync(join(os.tmpdir(), "wespeaker-bench-"));
  try {
    const models = await prepareModels(groups, values, tmp);
    const results = await collect(settingsFor(values.full, groups, threads), models);
    const rows = embedRows(results);
    console.log(report(results, rows));
    if (values.json) {
      writeFileSync(values.json, JSON.stringify(toJson(results, rows), null, 2) + "\n");
      progress(`wrote ${values.json}`);
    }
    return results.failures.length ? 1 : 0;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

process.exitCode = await main();
