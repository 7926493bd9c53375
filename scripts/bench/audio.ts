/**
 * Bench group `audio-memory`: peak RSS while a long recording is read as the pipeline reads it (decoded,
 * mixed to mono and resampled to 16 kHz, chunk by chunk) for the same conversation as WAV, MP3 and M4A;
 * with `--full`, 2-hour files, and `diarizeFile` on each as well. ffmpeg (which makes the MP3 and M4A and
 * decodes AAC) runs as a child process: its own peak RSS is reported beside ours.
 *
 * @module
 */
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { runChild } from "./child.ts";
import { duration, formatTable, mib, num, progress } from "./format.ts";
import { writeConversationWav } from "./inputs.ts";
import type { BenchSection, SectionRun } from "./section.ts";
import { type PeakMemory, peakMemoryOf } from "./stats.ts";

const FORMATS = [
  { name: "WAV (16-bit)", ext: "wav", args: [] as string[] },
  { name: "MP3 (32 kbit/s)", ext: "mp3", args: ["-c:a", "libmp3lame", "-b:a", "32k"] },
  { name: "M4A (AAC 32 kbit/s)", ext: "m4a", args: ["-c:a", "aac", "-b:a", "32k"] },
];

/** A job of this group, run in a child process. */
type AudioJob =
  | { kind: "audio-read"; path: string }
  | { kind: "audio-diarize"; path: string; segmentation: string; weights: string };

/** Whether a child's job belongs to this group. */
function isAudioJob(job: { kind: string }): job is AudioJob {
  return job.kind === "audio-read" || job.kind === "audio-diarize";
}

interface AudioResult extends PeakMemory {
  /** Peak RSS of the process's own child processes (ffmpeg), KiB; 0 when there were none. */
  childrenPeakKiB: number;
  /** 16 kHz samples read (read job) or speakers found (diarize job). */
  count: number;
}

/** Peak RSS (VmHWM) of this process's children, sampled every 100 ms until `stop` is called. */
function watchChildren(): () => number {
  let peak = 0;
  const sample = () => {
    try {
      for (const task of readdirSync("/proc/self/task")) {
        const children = readFileSync(`/proc/self/task/${task}/children`, "utf8").trim();
        for (const pid of children ? children.split(/\s+/) : []) {
          const status = readFileSync(`/proc/${pid}/status`, "utf8");
          const hwm = /VmHWM:\s+(\d+)/.exec(status);
          if (hwm) peak = Math.max(peak, Number(hwm[1]));
        }
      }
    } catch { /* a child that just exited, or no /proc */ }
  };
  const timer = setInterval(sample, 100);
  return () => {
    clearInterval(timer);
    return peak;
  };
}

/** Runs an {@link AudioJob} in this (child) process. */
async function runAudioJob(job: AudioJob): Promise<AudioResult> {
  const stop = watchChildren();
  if (job.kind === "audio-read") {
    const { modelRateChunks } = await import("../../lib/audio/sample_stream.ts");
    const { result, ...memory } = await peakMemoryOf(async () => {
      let n = 0;
      for await (const chunk of modelRateChunks(job.path)) n += chunk.length;
      return n;
    });
    return { ...memory, childrenPeakKiB: stop(), count: result };
  }
  const { DiarizationPipeline } = await import("../../lib/diarization/pipeline.ts");
  using pipeline = await DiarizationPipeline.load(job.segmentation, job.weights);
  const { result, ...memory } = await peakMemoryOf(() => pipeline.diarizeFile(job.path));
  return { ...memory, childrenPeakKiB: stop(), count: result.speakers.length };
}

/** One row: a format, what was measured, and the result (a string: not run, with why). */
interface AudioRow {
  format: string;
  job: "read" | "diarizeFile";
  seconds: number;
  bytes: number;
  result: AudioResult | string;
}

/** Writes the recordings (10 minutes, 2 hours with `--full`) and runs the jobs, one child process each. */
function collectAudio(run: SectionRun): AudioRow[] {
  const seconds = run.full ? 7200 : 600;
  const hasFfmpeg = spawnSync("ffmpeg", ["-version"]).status === 0;
  const wav = join(run.tmp, `conversation-${seconds}s.wav`);
  progress(`audio memory: ${duration(seconds)} conversation as WAV, MP3 and M4A`);
  writeConversationWav(wav, seconds);
  const rows: AudioRow[] = [];
  try {
    for (const format of FORMATS) {
      const path = format.ext === "wav" ? wav : join(run.tmp, `conversation-${seconds}s.${format.ext}`);
      if (path !== wav) {
        if (!hasFfmpeg) {
          for (const job of ["read", "diarizeFile"] as const) {
            rows.push({ format: format.name, job, seconds, bytes: 0, result: "ffmpeg absent" });
          }
          continue;
        }
        execFileSync("ffmpeg", ["-v", "error", "-y", "-i", wav, ...format.args, path]);
      }
      const bytes = readFileSync(path).length;
      progress(`  read ${format.name}`);
      rows.push({
        format: format.name,
        job: "read",
        seconds,
        bytes,
        result: runChild<AudioJob, AudioResult>({ kind: "audio-read", path }, run.threads),
      });
      if (!run.full || !run.segmentation) {
        rows.push({ format: format.name, job: "diarizeFile", seconds, bytes, result: "only with --full" });
      } else {
        progress(`  diarizeFile ${format.name}`);
        const job: AudioJob = {
          kind: "audio-diarize",
          path,
          segmentation: run.segmentation,
          weights: run.weights,
        };
        rows.push({
          format: format.name,
          job: "diarizeFile",
          seconds,
          bytes,
          result: runChild(job, run.threads),
        });
      }
      if (path !== wav) rmSync(path, { force: true });
    }
  } finally {
    rmSync(wav, { force: true });
  }
  return rows;
}

/** The rows as a table. */
function audioTable(rows: AudioRow[]): string {
  return formatTable(
    ["recording", "audio", "file MB", "job", "peak RSS", "peak − after load", "ffmpeg peak RSS", "time s"],
    rows.map((r) => [
      r.format,
      duration(r.seconds),
      r.bytes ? num(r.bytes / 1e6) : "–",
      r.job,
      ...(typeof r.result === "string" ? [r.result, "–", "–", "–"] : [
        mib(r.result.peakKiB),
        mib(r.result.peakKiB - r.result.peakAfterLoadKiB),
        r.result.childrenPeakKiB ? mib(r.result.childrenPeakKiB) : "–",
        num(r.result.seconds),
      ]),
    ]),
  );
}

/** The `audio-memory` group. */
export const audioSection: BenchSection = {
  group: "audio-memory",
  title: "Long recordings by format",
  segmentation: true,
  owns: isAudioJob,
  run: (job) => runAudioJob(job as AudioJob),
  collect: collectAudio,
  report: (rows) => audioTable(rows as AudioRow[]),
};
