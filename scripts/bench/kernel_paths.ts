/**
 * The bench's rows for the two code paths of libwespeaker on the CPU: our own kernels (the default), and
 * the plain MLX operations that GPU streams run (Metal, CUDA), selected with `WESPEAKER_CPU_KERNEL=mlx`.
 * The second is not meant to be fast on a CPU; its rows are there so that a regression in the GPU path's
 * graph (a per-step rebuild, an op that falls back to a copy) shows up on a machine without a GPU. Each
 * path runs in its own child process; the outputs of the two are compared.
 *
 * @module
 */
import { runChild } from "./child.ts";
import { formatTable, num, progress } from "./format.ts";
import { conversationSamples, SAMPLE_RATE, syntheticSpeech } from "./inputs.ts";
import type { BenchSection, SectionRun } from "./section.ts";
import { measure, type Policy, summarize } from "./stats.ts";

const PATHS: { name: string; env: Record<string, string> }[] = [
  { name: "CPU kernels (default)", env: {} },
  { name: "MLX operations (WESPEAKER_CPU_KERNEL=mlx, the GPU path)", env: { WESPEAKER_CPU_KERNEL: "mlx" } },
];

interface PathJob {
  kind: "kernel-path";
  weights: string;
  segmentation: string;
  policy: Policy;
  diarizeSeconds: number;
}

interface Workload {
  label: string;
  secondsPerCall: number[];
  /** What the last call returned, flattened, to compare the paths. */
  output: number[];
}

async function runPath(job: PathJob): Promise<Workload[]> {
  const { WeSpeakerModel } = await import("../../lib/model.ts");
  const { SegmentationModel } = await import("../../lib/segmentation.ts");
  const { DiarizationPipeline } = await import("../../lib/diarization/pipeline.ts");
  const { fbank } = await import("../../lib/audio/fbank.ts");
  const out: Workload[] = [];
  const timed = async <T>(
    label: string,
    fn: () => T | Promise<T>,
    flat: (r: T) => ArrayLike<number>,
    policy = job.policy,
  ) => {
    const t = await measure(fn, policy);
    progress(`  ${label}: ${num(summarize(t.seconds).median * 1e3)} ms`);
    out.push({ label, secondsPerCall: t.seconds, output: Array.from(flat(t.results[t.results.length - 1])) });
  };
  {
    using model = await WeSpeakerModel.load(job.weights);
    for (const seconds of [2, 10]) {
      const features = fbank(syntheticSpeech(1, seconds));
      await timed(
        `embedding, ${seconds} s of features, batch 1`,
        () => model.embedFeatures(features),
        (e) => e,
      );
    }
  }
  {
    using seg = await SegmentationModel.load(job.segmentation);
    const chunks = conversationSamples(80).subarray(0, 8 * 10 * SAMPLE_RATE);
    await timed("segmentation-3.0, 8 chunks of 10 s", () => seg.segmentAsync(chunks, 8), (r) => r);
  }
  {
    using pipeline = await DiarizationPipeline.load(job.segmentation, job.weights);
    const audio = conversationSamples(job.diarizeSeconds);
    const once = { warmup: 0, minRuns: 1, minSeconds: 0, maxRuns: 1 };
    await timed(
      `diarization, ${job.diarizeSeconds} s conversation`,
      () => pipeline.diarize(audio, SAMPLE_RATE),
      (r) => r.segments.flatMap((s) => [Number(s.speaker.slice(8)), s.start, s.end]),
      once,
    );
  }
  return out;
}

function report(collected: unknown): string {
  const [cpu, mlx] = collected as Workload[][];
  const rows = cpu.map((c, i) => {
    const m = mlx[i];
    const a = summarize(c.secondsPerCall).median, b = summarize(m.secondsPerCall).median;
    let diff = c.output.length === m.output.length ? 0 : Infinity;
    for (let k = 0; k < c.output.length && diff < Infinity; k++) {
      diff = Math.max(diff, Math.abs(c.output[k] - m.output[k]));
    }
    return [
      c.label,
      num(a * 1e3),
      num(b * 1e3),
      `${num(b / a)}×`,
      diff === 0 ? "identical" : diff.toExponential(1),
    ];
  });
  return [
    `- ${
      PATHS[1].name
    }: per-tap matrix products for the convolutions, the LSTM as MLX operations per step, ` +
    "whole batches per pass; each path in a fresh child process, medians",
    "",
    formatTable(["workload", "CPU kernels ms", "MLX ops ms", "MLX ops ÷ kernels", "max |difference|"], rows),
  ].join("\n");
}

/** The kernel-paths section. */
export const kernelPathsSection: BenchSection = {
  group: "kernel-paths",
  title: "Code paths: CPU kernels and the GPU's MLX operations",
  segmentation: true,
  owns: (job) => job.kind === "kernel-path",
  run: async (job) => await runPath(job as PathJob),
  collect: (run: SectionRun) =>
    PATHS.map(({ name, env }) => {
      progress(`code path: ${name}`);
      const job: PathJob = {
        kind: "kernel-path",
        weights: run.weights,
        segmentation: run.segmentation!,
        policy: run.policy,
        diarizeSeconds: run.full ? 60 : 20,
      };
      return runChild<PathJob, Workload[]>(job, run.threads, env);
    }),
  report,
};
