/**
 * Benchmark: embedding speed against the machine's matmul roofline and against ONNX Runtime on the
 * same network and weights, fbank speed, cold start and memory.
 *
 *     deno run -A scripts/bench.ts [--full] [--json FILE] [--weights PATH] [--threads N]
 *     bun scripts/bench.ts [--full] [--json FILE] [--weights PATH] [--threads N]
 *
 * - default: a few minutes, most of it the batch-16 rows; every row gets 1 warm-up call and at
 *   least 3 timed calls (and 2 s of them).
 * - `--full`: more warm-ups and runs, a 10-minute clip in one call instead of 1 minute, and the
 *   memory row for a 10-minute clip embedded in 10 s windows.
 * - `--weights PATH`: an MLX safetensors weights file (what `WeSpeakerModel.load` takes), also
 *   exported to ONNX for the peers; otherwise seeded random weights (compute cost does not depend
 *   on the values).
 * - `--threads N` (default: all cores): OpenBLAS threads for libwespeaker and the roofline,
 *   `intraOpNumThreads` for ONNX Runtime, `numThreads` for sherpa-onnx.
 * - `--json FILE`: every measurement (all run times, not only medians) as JSON.
 *
 * Every measurement runs in a fresh child process of the same runtime (this script with
 * `--child JOB`), so contenders never share a process, a thread pool or an allocator, the thread
 * settings take effect before any library loads, and peak RSS is the job's own. Tables go to
 * stdout (markdown), progress to stderr.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { embeddingFlops } from "../lib/flops.ts";

const SCRIPT = fileURLToPath(import.meta.url);
const REPO = fileURLToPath(new URL("../", import.meta.url));
const SAMPLE_RATE = 16000;
const RESULT_MARK = "BENCH-RESULT ";
const PENDING_DIARIZATION = "not available yet (diarization pipeline pending)";

// ---------------------------------------------------------------------------------------------
// Settings

/** How one thing is timed: warm-up calls, then timed calls until both minimums are met. */
interface Policy {
  warmup: number;
  minRuns: number;
  minSeconds: number;
  maxRuns: number;
}

interface Settings {
  full: boolean;
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

function settingsFor(full: boolean, threads: number): Settings {
  return {
    full,
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
// Timing and statistics: the one place where anything is timed.

interface Timed<T> {
  /** Seconds of each timed call (warm-up excluded). */
  seconds: number[];
  /** What each timed call returned. */
  results: T[];
}

async function measure<T>(fn: () => T | Promise<T>, policy: Policy): Promise<Timed<T>> {
  for (let i = 0; i < policy.warmup; i++) await fn();
  const seconds: number[] = [];
  const results: T[] = [];
  let total = 0;
  while (
    seconds.length < policy.maxRuns && (seconds.length < policy.minRuns || total < policy.minSeconds)
  ) {
    const t0 = performance.now();
    results.push(await fn());
    const dt = (performance.now() - t0) / 1000;
    seconds.push(dt);
    total += dt;
  }
  return { seconds, results };
}

interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
  q1: number;
  q3: number;
}

function quantile(sorted: number[], q: number): number {
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}

function summarize(values: number[]): Summary {
  const s = [...values].sort((a, b) => a - b);
  return {
    n: s.length,
    median: quantile(s, 0.5),
    min: s[0],
    max: s[s.length - 1],
    q1: quantile(s, 0.25),
    q3: quantile(s, 0.75),
  };
}

// ---------------------------------------------------------------------------------------------
// Inputs: deterministic speech-like audio (a voiced tone with a wandering pitch, noise, pauses).

function syntheticSpeech(seed: number, seconds: number): Float32Array {
  let state = (seed * 0x9e3779b9) >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(Math.round(seconds * SAMPLE_RATE));
  let phase = 0, pitch = 100 + 120 * random(), voiced = true;
  for (let i = 0; i < out.length; i++) {
    if (i % 160 === 0) {
      pitch = Math.min(300, Math.max(80, pitch + 6 * (random() - 0.5)));
      if (random() < 0.01) voiced = !voiced;
    }
    phase += (2 * Math.PI * pitch) / SAMPLE_RATE;
    let v = 0;
    for (let h = 1; h <= 8; h++) v += Math.sin(h * phase) / h;
    out[i] = (voiced ? 0.08 * v : 0) + 0.005 * (random() - 0.5);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Child processes

interface EmbedCase {
  seconds: number;
  batch: number;
}

type Engine = "wespeaker-features" | "wespeaker-audio" | "onnxruntime" | "sherpa-onnx";

type Job =
  | { kind: "embed"; engine: Engine; cases: EmbedCase[]; policy: Policy; threads: number; model: string }
  | { kind: "fbank"; seconds: number; policy: Policy }
  | { kind: "cold"; weights: string; seconds: number }
  | { kind: "memory"; weights: string; mode: "one-call" | "windows"; seconds: number; windowSeconds: number };

interface CaseResult extends EmbedCase {
  frames: number;
  secondsPerCall: number[];
  /** The first clip's embedding, to check that every engine computes the same function. */
  embedding: number[];
}

/** What a wespeaker child actually loaded. */
interface NativeInfo {
  /** The libwespeaker file and its sha256 when loaded: a rebuild during a run shows up here. */
  library: string;
  sha256: string;
  /** File names of the BLAS libraries mapped into the process. */
  blas: string[];
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
}

interface ColdResult {
  /** Milliseconds since the runtime started, at each phase's end. */
  scriptStart: number;
  imported: number;
  libraryLoaded: number;
  weightsLoaded: number;
  firstEmbed: number;
}

interface MemoryResult {
  rssAfterLoadKiB: number;
  peakAfterLoadKiB: number;
  peakKiB: number;
  seconds: number;
  /** Windows embedded (0 for one call on the whole clip). */
  windows: number;
}

function runtimeArgs(): string[] {
  return isDeno() ? ["run", "-A", SCRIPT] : [SCRIPT];
}

function isDeno(): boolean {
  return typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";
}

function threadEnv(threads: number): Record<string, string> {
  const n = String(threads);
  return { ...process.env as Record<string, string>, OPENBLAS_NUM_THREADS: n, OMP_NUM_THREADS: n };
}

/** Runs `job` in a fresh process of this runtime and returns its result. */
function runChild<T>(job: Job, threads: number): T {
  const child = spawnSync(process.execPath, [...runtimeArgs(), "--child", JSON.stringify(job)], {
    cwd: REPO,
    env: threadEnv(threads),
    stdio: ["ignore", "pipe", "inherit"],
    encoding: "utf8",
    maxBuffer: 256 << 20,
  });
  const line = (child.stdout ?? "").split("\n").find((l) => l.startsWith(RESULT_MARK));
  if (child.status !== 0 || !line) {
    throw new Error(
      `${job.kind} job failed (exit ${child.status ?? child.signal}${child.error ? `, ${child.error}` : ""})`,
    );
  }
  return JSON.parse(line.slice(RESULT_MARK.length)) as T;
}

function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
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

function nativeInfo(library: string): NativeInfo {
  let sha256 = "unreadable";
  try {
    sha256 = createHash("sha256").update(readFileSync(library)).digest("hex");
  } catch { /* found by the system loader, not as a file path */ }
  const mapped = readFileSync("/proc/self/maps", "utf8").split("\n").map((l) => l.split(/\s+/)[5] ?? "");
  const blas = [...new Set(mapped.filter((p) => /blas/i.test(p)).map((p) => p.split("/").pop()!))];
  return { library, sha256, blas };
}

async function contender(job: Extract<Job, { kind: "embed" }>): Promise<Contender> {
  if (job.engine === "wespeaker-features" || job.engine === "wespeaker-audio") {
    const { WeSpeakerModel, nativeVersion } = await import("../mod.ts");
    const { embedNative, loadModel, nativeLibrary } = await import("../lib/ffi/library.ts");
    const model = await WeSpeakerModel.load(job.model);
    const versions = { wespeaker: nativeVersion() };
    const native = nativeInfo(nativeLibrary().path);
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
  const { fbank } = await import("../lib/fbank.ts");
  const clips = Array.from({ length: c.batch }, (_, i) => syntheticSpeech(i + 1, c.seconds));
  const features = clips.map((clip) => fbank(clip));
  const frames = features[0].frames;
  const stacked = new Float32Array(c.batch * frames * 80);
  features.forEach((f, i) => stacked.set(f.data, i * frames * 80));
  return { ...c, clips, features: features.map((f) => f.data), frames, stacked };
}

function readStatusKiB(field: string): number {
  const match = readFileSync("/proc/self/status", "utf8").match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
  if (!match) throw new Error(`/proc/self/status has no ${field}`);
  return Number(match[1]);
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
      const { fbank } = await import("../lib/fbank.ts");
      const clip = syntheticSpeech(1, job.seconds);
      const timed = await measure(() => fbank(clip), job.policy);
      return { frames: timed.results[0].frames, secondsPerCall: timed.seconds } satisfies FbankResult;
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
      const rssAfterLoadKiB = readStatusKiB("VmRSS");
      const peakAfterLoadKiB = readStatusKiB("VmHWM");
      const t0 = performance.now();
      if (job.mode === "windows") model.embedBatch(windows, SAMPLE_RATE);
      else model.embed(clip, SAMPLE_RATE);
      const seconds = (performance.now() - t0) / 1000;
      return {
        rssAfterLoadKiB,
        peakAfterLoadKiB,
        peakKiB: readStatusKiB("VmHWM"),
        seconds,
        windows: windows.length,
      } satisfies MemoryResult;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Table formatting: the one place that lays out text.

function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => /^[-\d.,×%~ –]+$/.test(r[i])));
  const cell = (text: string, i: number) => numeric[i] ? text.padStart(widths[i]) : text.padEnd(widths[i]);
  const line = (cells: string[]) => `| ${cells.map(cell).join(" | ")} |`;
  const rule = `|${
    widths.map((w, i) => numeric[i] ? `${"-".repeat(w + 1)}:` : "-".repeat(w + 2)).join("|")
  }|`;
  return [line(headers), rule, ...rows.map(line)].join("\n");
}

/** A number with about three significant digits. */
function num(x: number): string {
  if (!Number.isFinite(x)) return "–";
  const digits = Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : Math.abs(x) >= 1 ? 2 : 3;
  return x.toFixed(digits);
}

/** Median and min–max of seconds, shown in milliseconds. */
function msSpread(s: Summary): string[] {
  return [num(s.median * 1e3), `${num(s.min * 1e3)}–${num(s.max * 1e3)}`];
}

/** An audio duration: "10 s", "1 min". */
function duration(seconds: number): string {
  return seconds >= 60 && seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`;
}

function mib(kib: number): string {
  return `${(kib / 1024).toFixed(0)} MiB`;
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
  const { libraryCandidates } = await import("../lib/ffi/library.ts");
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

interface Results {
  settings: Settings;
  weights: string;
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
  embed: Partial<Record<Engine, EmbedResult>>;
  fbank: FbankResult;
  cold: Timed<ColdResult>;
  memory: MemoryRow[];
  failures: string[];
  elapsedSeconds: number;
}

async function collect(
  settings: Settings,
  weightsPath: string,
  onnxPath: string,
  weights: string,
): Promise<Results> {
  const started = performance.now();
  const { threads } = settings;
  const loadBefore = os.loadavg()[0];
  const cpuBefore = cpuTimes();

  progress(`roofline (${settings.rooflineRuns} runs)`);
  const roofStart = await roofline(settings);

  const failures: string[] = [];
  const embed: Partial<Record<Engine, EmbedResult>> = {};
  const cases = settings.clipSeconds.flatMap((seconds) =>
    settings.batches.map((batch) => ({ seconds, batch }))
  );
  for (const { engine } of ENGINES) {
    progress(engine);
    const model = engine === "onnxruntime" || engine === "sherpa-onnx" ? onnxPath : weightsPath;
    try {
      embed[engine] = runChild<EmbedResult>(
        { kind: "embed", engine, cases, policy: settings.policy, threads, model },
        threads,
      );
    } catch (err) {
      failures.push(`${engine}: ${(err as Error).message}`);
    }
  }

  progress("fbank");
  const fbank = runChild<FbankResult>({
    kind: "fbank",
    seconds: settings.fbankSeconds,
    policy: settings.policy,
  }, threads);

  progress(`cold start (${settings.coldRuns} runs)`);
  // Each run is a fresh process; the warm-up one fills the runtime's transpile cache.
  const cold = await measure(
    () => runChild<ColdResult>({ kind: "cold", weights: weightsPath, seconds: 2 }, threads),
    { warmup: 1, minRuns: settings.coldRuns, minSeconds: 0, maxRuns: settings.coldRuns },
  );

  const memory: MemoryRow[] = [];
  const memoryJobs = [
    { label: "one call (embed)", mode: "one-call", seconds: settings.longClipSeconds, run: true },
    {
      label: `${settings.windowSeconds} s windows (embedBatch)`,
      mode: "windows",
      seconds: settings.windowedClipSeconds,
      run: settings.full,
    },
  ] as const;
  for (const { run, ...m } of memoryJobs) {
    if (run) progress(`memory: ${duration(m.seconds)} clip, ${m.label}`);
    const job: Job = { kind: "memory", weights: weightsPath, ...m, windowSeconds: settings.windowSeconds };
    memory.push({ ...m, result: run ? runChild<MemoryResult>(job, threads) : null });
  }

  progress(`roofline again (${settings.rooflineRuns} runs)`);
  const roofEnd = await roofline(settings);

  return {
    settings,
    weights,
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
          const result = results.embed[engine];
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

function cosine(a: number[], b: number[]): number {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
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
      row.ours ? cosine(row.ours.c.embedding, row.c.embedding).toFixed(6) : "–",
    ]),
  );
}

function fbankTable(results: Results): string {
  const { fbank, settings } = results;
  const s = summarize(fbank.secondsPerCall);
  return formatTable(["fbank (TypeScript)", "runs", "median ms", "min–max ms", "frames/s", "× real time"], [[
    `${duration(settings.fbankSeconds)} clip, ${fbank.frames} frames`,
    String(s.n),
    ...msSpread(s),
    num(fbank.frames / s.median),
    num(settings.fbankSeconds / s.median),
  ]]);
}

function coldTable(results: Results): string {
  const { seconds, results: phases } = results.cold;
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

function memoryTable(results: Results): string {
  return formatTable(
    ["peak RSS (VmHWM)", "audio", "peak RSS", "RSS after load", "peak − after load", "time s"],
    results.memory.map(({ label, seconds, result: r }) =>
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

function diarizationTable(): string {
  return formatTable(["diarization", "result"], [
    ["end to end (segmentation + embeddings + clustering): time, RTF", PENDING_DIARIZATION],
    ["peak RSS on a 10-minute recording", PENDING_DIARIZATION],
  ]);
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
  const libraries = new Set(Object.values(results.embed).flatMap((r) => r.native ? [r.native.sha256] : []));
  if (libraries.size > 1) {
    out.push(`libwespeaker changed during the run (${libraries.size} builds): rows mix builds`);
  }
  return out;
}

function header(results: Results): string {
  const { settings, machine } = results;
  const ours = results.embed["wespeaker-features"] ?? results.embed["wespeaker-audio"];
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
    `- library: ${ours?.versions.wespeaker ?? "not loaded"}, ${ours?.native?.library ?? "?"} ` +
    `(sha256 ${ours?.native?.sha256.slice(0, 12) ?? "?"}); source ${results.source}`,
    ...warnings(results).map((w) => `- WARNING: ${w}; timings are noisy`),
    `- BLAS: ${blas}; mapped in the wespeaker process: ${ours?.native?.blas.join(", ") ?? "?"}`,
    `- threads: ${settings.threads} (OpenBLAS for wespeaker and the roofline, intraOpNumThreads for ` +
    `ONNX Runtime, numThreads for sherpa-onnx)`,
    `- weights: ${results.weights}`,
    `- timing: ${policy.warmup} warm-up, then at least ${policy.minRuns} runs and ${policy.minSeconds} s ` +
    `per row; each engine in its own process`,
    `- roofline: ${size ?? 2048}×${size ?? 2048} float32 matmul through MLX (build/wespeaker-roofline), ` +
    `${roofText}; "of roofline" uses the higher. It is MLX's own ceiling here, not the CPU's peak: ` +
    `ONNX Runtime's kernels can exceed it`,
    `- GFLOP/s counts the network's convolutions and Linear (lib/flops.ts: ` +
    `${num(embeddingFlops(200) / 1e9)} GFLOP per 200 frames); RTF = time ÷ audio duration; ` +
    `"ours ÷ this" = our clips/s ÷ this engine's`,
    `- features → embedding: the native call on precomputed fbank (raw embeddings), vs ONNX Runtime on ` +
    `the exported graph (scripts/export_onnx.ts) with the same features`,
    `- audio → embedding: fbank + network, vs sherpa-onnx's SpeakerEmbeddingExtractor on the same ` +
    `audio and the same ONNX file; sherpa-onnx has no batching (batch 16 = 16 streams one at a time) ` +
    `and computes its own fbank (kaldi-native-fbank), hence a cosine a little below 1`,
  ].join("\n");
}

function report(results: Results, rows: EmbedRow[]): string {
  const sections: [string, string][] = [
    ["Embedding", embedTable(rows, rooflineGflops(results))],
    ["Front end", fbankTable(results)],
    ["Cold start", coldTable(results)],
    ["Memory", memoryTable(results)],
    ["Diarization", diarizationTable()],
  ];
  return [
    header(results),
    ...sections.map(([title, table]) => `\n## ${title}\n\n${table}`),
    "",
    `Total bench time: ${num(results.elapsedSeconds)} s.`,
    ...results.failures.map((f) => `FAILED: ${f}`),
  ].join("\n");
}

function toJson(results: Results, rows: EmbedRow[]): unknown {
  const { embed: _, cold, ...rest } = results;
  return {
    ...rest,
    embedding: rows.map((row) => ({
      path: row.path,
      engine: row.engine,
      label: row.label,
      versions: results.embed[row.engine]?.versions,
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
    fbankSummary: summarize(results.fbank.secondsPerCall),
    coldStart: { wallSeconds: cold.seconds, phasesMs: cold.results },
    diarization: PENDING_DIARIZATION,
  };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      full: { type: "boolean", default: false },
      json: { type: "string" },
      weights: { type: "string" },
      threads: { type: "string" },
      child: { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.child) {
    const result = await childMain(JSON.parse(values.child) as Job);
    process.stdout.write(`${RESULT_MARK}${JSON.stringify(result)}\n`);
    return 0;
  }
  if (values.help) {
    console.log("usage: scripts/bench.ts [--full] [--json FILE] [--weights PATH] [--threads N]");
    return 0;
  }
  const threads = values.threads === undefined ? os.cpus().length : Number(values.threads);
  if (!Number.isInteger(threads) || threads < 1) {
    console.error(`--threads must be a positive integer, got ${values.threads}`);
    return 2;
  }
  const tmp = mkdtempSync(join(os.tmpdir(), "wespeaker-bench-"));
  try {
    let weightsPath = values.weights, weights = `${values.weights} (given)`;
    if (!weightsPath) {
      const { DEFAULT_WEIGHTS_SEED, generateWeights } = await import("./generate_weights.ts");
      weightsPath = join(tmp, "random.safetensors");
      writeFileSync(weightsPath, generateWeights(DEFAULT_WEIGHTS_SEED));
      weights = `generated (seeded random, seed ${DEFAULT_WEIGHTS_SEED}; speed does not depend on values)`;
    }
    // The same network and weights as ONNX, for the peers.
    const { exportOnnx } = await import("./export_onnx.ts");
    const onnxPath = join(tmp, "wespeaker-resnet34-lm.onnx");
    writeFileSync(onnxPath, await exportOnnx(readFileSync(weightsPath), { source: weightsPath }));

    const results = await collect(settingsFor(values.full, threads), weightsPath, onnxPath, weights);
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
