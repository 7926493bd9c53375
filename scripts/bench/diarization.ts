/**
 * The bench's diarization rows: segmentation-3.0 alone, the whole pipeline's real-time factor with the
 * embedding trunk shared per chunk and without (pyannote's way), and peak memory while a long WAV file
 * streams through `diarizeFile`.
 *
 * @module
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { countChunks } from "../../lib/diarization/local.ts";
import { type NativeInfo, nativeInfo, runChild } from "./child.ts";
import { duration, formatTable, mib, msSpread, num, progress } from "./format.ts";
import { CONVERSATION_SPEAKERS, conversationSamples, SAMPLE_RATE, writeConversationWav } from "./inputs.ts";
import { measure, type PeakMemory, peakMemoryOf, type Policy, summarize, type Summary } from "./stats.ts";

const CHUNK_SECONDS = 10;
const CHUNK_SAMPLES = CHUNK_SECONDS * SAMPLE_RATE;
/** The pipeline's defaults: a chunk every second, 8 chunks per native call. */
const STEP_SAMPLES = SAMPLE_RATE;
const PIPELINE_BATCH = 8;

/** What the diarization rows measure. */
export interface DiarizationSettings {
  /** Chunks per segmentation call, one row each. */
  segmentationBatches: number[];
  /** Length of the generated conversation behind the real-time-factor rows. */
  seconds: number;
  /** Length of the conversation each pipeline mode is warmed up on. */
  warmupSeconds: number;
  /** Timed runs of each pipeline mode. */
  runs: number;
  /** Lengths of the WAV files of the memory rows (`--full` only); the first is the baseline. */
  memorySeconds: number[];
}

/** The settings of a default or a `--full` run. */
export function diarizationSettings(full: boolean): DiarizationSettings {
  return {
    segmentationBatches: [1, PIPELINE_BATCH, 16],
    // 30 s: five runs of both modes take under 2 minutes on 2 cores; --full takes the 10 minutes.
    seconds: full ? 600 : 30,
    warmupSeconds: 20,
    runs: full ? 3 : 5,
    // 1, 3 and 8 hours: the 8-hour file takes about 1.5 hours of two cores on random weights.
    memorySeconds: [3600, 10800, 28800],
  };
}

/** The diarization jobs a bench child runs. */
export type DiarizationJob =
  | { kind: "segment"; segmentation: string; batches: number[]; policy: Policy }
  | { kind: "diarize"; segmentation: string; weights: string; settings: DiarizationSettings }
  | { kind: "diarize-file"; segmentation: string; weights: string; path: string };

const JOB_KINDS: readonly string[] = ["segment", "diarize", "diarize-file"];

/** Whether `job` is one of {@link DiarizationJob}. */
export function isDiarizationJob(job: { kind: string }): job is DiarizationJob {
  return JOB_KINDS.includes(job.kind);
}

interface SegmentCase {
  batch: number;
  secondsPerCall: number[];
}

interface DiarizeResult {
  native: NativeInfo;
  modes: { shareTrunk: boolean; secondsPerCall: number[] }[];
  identicalSegments: boolean;
  speakers: number;
  segments: number;
  /** Largest difference between the two modes' speaker embeddings. */
  embeddingMaxAbsDiff: number;
}

/** The pipeline's stages, as its progress reports name them. */
const STAGES = ["segmentation", "embeddings", "clustering", "reconstruction"] as const;

interface FileResult extends PeakMemory {
  speakers: number;
  segments: number;
  /** Seconds per stage: the time up to each progress report goes to the stage it reports. */
  stageSeconds: Record<typeof STAGES[number], number>;
  /** Active (chunk, speaker) pairs: the points clustered. */
  pairs: number;
}

// ---------------------------------------------------------------------------------------------
// Child side

/** Runs a {@link DiarizationJob} in this (child) process and returns what the parent gets. */
export async function runDiarizationJob(job: DiarizationJob): Promise<unknown> {
  switch (job.kind) {
    case "segment":
      return await timeSegmentation(job.segmentation, job.batches, job.policy);
    case "diarize":
      return await timePipeline(job.segmentation, job.weights, job.settings);
    case "diarize-file": {
      const { DiarizationPipeline } = await import("../../lib/diarization/pipeline.ts");
      using pipeline = await DiarizationPipeline.load(job.segmentation, job.weights);
      const stageSeconds = { segmentation: 0, embeddings: 0, clustering: 0, reconstruction: 0 };
      let last = performance.now(), pairs = 0;
      const { result, ...memory } = await peakMemoryOf(() =>
        pipeline.diarizeFile(job.path, {
          onProgress: ({ stage, total }) => {
            const now = performance.now();
            stageSeconds[stage] += (now - last) / 1000;
            last = now;
            if (stage === "clustering" && total !== undefined && total > 1) pairs = total / 2;
          },
        })
      );
      return {
        ...memory,
        speakers: result.speakers.length,
        segments: result.segments.length,
        stageSeconds,
        pairs,
      } satisfies FileResult;
    }
  }
}

async function timeSegmentation(path: string, batches: number[], policy: Policy): Promise<SegmentCase[]> {
  const { SegmentationModel } = await import("../../lib/segmentation.ts");
  using model = await SegmentationModel.load(path);
  // Distinct chunks, cut back to back from the conversation.
  const audio = conversationSamples(CHUNK_SECONDS * Math.max(...batches));
  const cases: SegmentCase[] = [];
  for (const batch of batches) {
    const chunks = audio.subarray(0, batch * CHUNK_SAMPLES);
    // segmentAsync: the call the pipeline makes.
    const timed = await measure(() => model.segmentAsync(chunks, batch), policy);
    progress(`  segmentation batch ${batch}: ${num(summarize(timed.seconds).median * 1e3)} ms`);
    cases.push({ batch, secondsPerCall: timed.seconds });
  }
  return cases;
}

/** Largest |a − b| over the speakers' embeddings; Infinity where the speakers do not correspond. */
function maxAbsDiff(a: (Float32Array | null)[], b: (Float32Array | null)[]): number {
  if (a.length !== b.length) return Infinity;
  let max = 0;
  for (let k = 0; k < a.length; k++) {
    const x = a[k], y = b[k];
    if (!x || !y) {
      if (x !== y) return Infinity;
      continue;
    }
    for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i] - y[i]));
  }
  return max;
}

async function timePipeline(
  segmentation: string,
  weights: string,
  settings: DiarizationSettings,
): Promise<DiarizeResult> {
  const { DiarizationPipeline } = await import("../../lib/diarization/pipeline.ts");
  using pipeline = await DiarizationPipeline.load(segmentation, weights);
  const audio = conversationSamples(settings.seconds);
  const warmup = conversationSamples(settings.warmupSeconds);
  // The modes take turns, run after run, so that a slower phase of the machine weighs on both alike and
  // the ratio compares like with like.
  const modes = [{ shareTrunk: true }, { shareTrunk: false }];
  const secondsPerCall = modes.map((): number[] => []);
  const last = [];
  for (const mode of modes) last.push(await pipeline.diarize(warmup, SAMPLE_RATE, mode));
  for (let run = 0; run < settings.runs; run++) {
    for (const [m, mode] of modes.entries()) {
      const t0 = performance.now();
      last[m] = await pipeline.diarize(audio, SAMPLE_RATE, mode);
      secondsPerCall[m].push((performance.now() - t0) / 1000);
    }
  }
  for (const [m, mode] of modes.entries()) {
    progress(`  diarize, shareTrunk ${mode.shareTrunk}: ${num(summarize(secondsPerCall[m]).median)} s`);
  }
  const [shared, unshared] = last;
  return {
    native: await nativeInfo(),
    modes: modes.map(({ shareTrunk }, m) => ({ shareTrunk, secondsPerCall: secondsPerCall[m] })),
    identicalSegments: isDeepStrictEqual(shared.segments, unshared.segments),
    speakers: shared.speakers.length,
    segments: shared.segments.length,
    embeddingMaxAbsDiff: maxAbsDiff(shared.speakerEmbeddings, unshared.speakerEmbeddings),
  };
}

// ---------------------------------------------------------------------------------------------
// Parent side

/** The diarization groups a run can select (`--only`). */
export const DIARIZATION_GROUPS = ["segmentation", "diarization", "diarization-memory"] as const;
/** One of {@link DIARIZATION_GROUPS}. */
export type DiarizationGroup = typeof DIARIZATION_GROUPS[number];

/** What the parent collected; a group not selected is absent. */
export interface DiarizationResults {
  settings: DiarizationSettings;
  segmentation?: SegmentCase[];
  diarize?: DiarizeResult;
  /** One per memory input; `result` null where not measured (without `--full`). */
  memory?: { seconds: number; result: FileResult | null }[];
}

/** Where the models are and how the run goes. */
export interface DiarizationRun {
  groups: DiarizationGroup[];
  full: boolean;
  threads: number;
  policy: Policy;
  segmentation: string;
  weights: string;
  /** A directory for the WAV files of the memory rows. */
  tmp: string;
}

/** Runs the selected diarization groups, each job in its own child process. */
export function collectDiarization(run: DiarizationRun): DiarizationResults {
  const settings = diarizationSettings(run.full);
  const { segmentation, weights, threads } = run;
  const out: DiarizationResults = { settings };
  if (run.groups.includes("segmentation")) {
    progress("segmentation");
    const job: DiarizationJob = {
      kind: "segment",
      segmentation,
      batches: settings.segmentationBatches,
      policy: run.policy,
    };
    out.segmentation = runChild<DiarizationJob, SegmentCase[]>(job, threads);
  }
  if (run.groups.includes("diarization")) {
    progress(`diarization: ${duration(settings.seconds)} input, ${settings.runs} runs per mode`);
    out.diarize = runChild<DiarizationJob, DiarizeResult>({
      kind: "diarize",
      segmentation,
      weights,
      settings,
    }, threads);
  }
  if (run.groups.includes("diarization-memory")) {
    out.memory = settings.memorySeconds.map((seconds) => {
      if (!run.full) return { seconds, result: null };
      progress(`diarization memory: ${duration(seconds)} WAV through diarizeFile`);
      const path = join(run.tmp, `conversation-${seconds}s.wav`);
      writeConversationWav(path, seconds);
      try {
        return {
          seconds,
          result: runChild<DiarizationJob, FileResult>(
            { kind: "diarize-file", segmentation, weights, path },
            threads,
          ),
        };
      } finally {
        rmSync(path, { force: true });
      }
    });
  }
  return out;
}

function chunksOf(seconds: number): number {
  return countChunks(Math.round(seconds * SAMPLE_RATE), CHUNK_SAMPLES, STEP_SAMPLES);
}

interface SegmentRow extends SegmentCase {
  summary: Summary;
  chunksPerSecond: number;
  /** Time ÷ audio duration of the chunks. */
  rtf: number;
}

function segmentRows(cases: SegmentCase[]): SegmentRow[] {
  return cases.map((c) => {
    const summary = summarize(c.secondsPerCall);
    return {
      ...c,
      summary,
      chunksPerSecond: c.batch / summary.median,
      rtf: summary.median / (c.batch * CHUNK_SECONDS),
    };
  });
}

interface ModeRow {
  shareTrunk: boolean;
  secondsPerCall: number[];
  summary: Summary;
  rtf: number;
  secondsPerChunk: number;
}

function modeRows(d: DiarizationResults): ModeRow[] {
  const chunks = chunksOf(d.settings.seconds);
  return (d.diarize?.modes ?? []).map((m) => {
    const summary = summarize(m.secondsPerCall);
    return {
      ...m,
      summary,
      rtf: summary.median / d.settings.seconds,
      secondsPerChunk: summary.median / chunks,
    };
  });
}

/** How many times longer `shareTrunk: false` takes than the shared trunk (medians). */
function unsharedOverShared(rows: ModeRow[]): number {
  const [shared, unshared] = rows;
  return unshared.summary.median / shared.summary.median;
}

function segmentationTable(cases: SegmentCase[]): string {
  return formatTable(
    ["segmentation-3.0, 10 s chunks (segmentAsync)", "runs", "median ms", "min–max ms", "chunks/s", "RTF"],
    segmentRows(cases).map((row) => [
      `batch ${row.batch}${row.batch === PIPELINE_BATCH ? " (the pipeline's)" : ""}`,
      String(row.summary.n),
      ...msSpread(row.summary),
      num(row.chunksPerSecond),
      num(row.rtf),
    ]),
  );
}

function pipelineTable(d: DiarizationResults, result: DiarizeResult): string {
  const rows = modeRows(d);
  const table = formatTable(
    [
      "diarize (in memory), embedding trunk",
      "audio",
      "chunks",
      "runs",
      "median ms",
      "min–max ms",
      "ms/chunk",
      "RTF",
    ],
    rows.map((row) => [
      row.shareTrunk ? "shared per chunk (default)" : "one pass per (chunk, speaker): shareTrunk false",
      duration(d.settings.seconds),
      String(chunksOf(d.settings.seconds)),
      String(row.summary.n),
      ...msSpread(row.summary),
      num(row.secondsPerChunk * 1e3),
      num(row.rtf),
    ]),
  );
  const same = result.identicalSegments ? "identical" : "DIFFERENT";
  const diff = result.embeddingMaxAbsDiff;
  return [
    table,
    "",
    `shareTrunk false ÷ shared: ${num(unsharedOverShared(rows))}× the time. Same output: segments ${same} ` +
    `(segments: ${result.segments}, speakers: ${result.speakers}); speaker embeddings ` +
    (diff === 0 ? "bit-identical." : `differ by at most ${diff.toExponential(1)}.`),
  ].join("\n");
}

function memoryTable(memory: NonNullable<DiarizationResults["memory"]>): string {
  const base = memory[0];
  const growth = `growth vs ${duration(base.seconds)}`;
  return formatTable(
    [
      "peak RSS (VmHWM)",
      "audio",
      "chunks",
      "peak RSS",
      "RSS after load",
      "peak − after load",
      growth,
      "time s",
      "RTF",
      ...STAGES.map((stage) => `${stage} s`),
      "pairs clustered",
    ],
    memory.map(({ seconds, result: r }) => [
      "diarizeFile, 16-bit WAV read as it goes",
      duration(seconds),
      String(chunksOf(seconds)),
      ...(r === null ? ["only with --full", ...Array(10).fill("–")] : [
        mib(r.peakKiB),
        mib(r.rssAfterLoadKiB),
        mib(r.peakKiB - r.peakAfterLoadKiB),
        base.result && seconds !== base.seconds ? mib(r.peakKiB - base.result.peakKiB) : "–",
        num(r.seconds),
        num(r.seconds / seconds),
        ...STAGES.map((stage) => num(r.stageSeconds[stage])),
        String(r.pairs),
      ]),
    ]),
  );
}

/** The diarization section of the report: how the rows were made, then a table per group measured. */
export function diarizationReport(d: DiarizationResults, segmentationWeights: string): string {
  const s = d.settings;
  const intro = [
    `- segmentation weights: ${segmentationWeights}`,
    `- input: a generated conversation (scripts/bench/inputs.ts): turns of 2–8 s by ${CONVERSATION_SPEAKERS} ` +
    `speech-like speakers, pauses of 0.2–1.5 s; 10 s chunks every 1 s, ${PIPELINE_BATCH} chunks per native call`,
    ...(d.diarize
      ? [
        `- diarize rows: one warm-up per mode on a ${duration(s.warmupSeconds)} input, then ${s.runs} runs ` +
        `each on the same input, the two modes taking turns, in one process; RTF = time ÷ audio duration`,
      ]
      : []),
  ].join("\n");
  const tables = [
    d.segmentation && segmentationTable(d.segmentation),
    d.diarize && pipelineTable(d, d.diarize),
    d.memory && memoryTable(d.memory),
  ].filter((t): t is string => typeof t === "string");
  return [intro, ...tables].join("\n\n");
}

/** The diarization measurements for `--json`: every run time, with the numbers the tables show. */
export function diarizationJson(d: DiarizationResults): unknown {
  const rows = modeRows(d);
  return {
    settings: d.settings,
    segmentation: d.segmentation &&
      segmentRows(d.segmentation).map((row) => ({ chunkSeconds: CHUNK_SECONDS, ...row })),
    pipeline: d.diarize && {
      audioSeconds: d.settings.seconds,
      chunks: chunksOf(d.settings.seconds),
      modes: rows,
      unsharedOverShared: unsharedOverShared(rows),
      identicalSegments: d.diarize.identicalSegments,
      speakers: d.diarize.speakers,
      segments: d.diarize.segments,
      embeddingMaxAbsDiff: d.diarize.embeddingMaxAbsDiff,
    },
    memory: d.memory?.map(({ seconds, result }) => ({
      audioSeconds: seconds,
      chunks: chunksOf(seconds),
      ...result,
    })),
  };
}
