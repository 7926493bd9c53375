/**
 * The bench's clustering rows: pyannote's clustering stage (`clusterEmbeddings`, whose time is the
 * centroid linkage's) on the embeddings of generated conversations of 1, 3 and 10 hours, with its time
 * and peak memory; and, at 1 hour, SciPy's own algorithm (the quadratic test oracle) on the same points,
 * for its time and memory and to check that both build the same tree.
 *
 * @module
 */
import { runChild } from "./child.ts";
import { duration, formatTable, mib, num, progress } from "./format.ts";
import { peakMemoryOf } from "./stats.ts";
import type { BenchSection, SectionRun } from "./section.ts";

/** Local speakers per chunk and embedding size, as the pipeline makes them. */
const LOCAL = 3;
const DIM = 256;

type ClusterJob =
  | { kind: "cluster"; seconds: number }
  | { kind: "cluster-oracle"; seconds: number };

interface ClusterResult {
  seconds: number;
  /** Active (chunk, speaker) pairs: the points clustered. */
  points: number;
  clusters: number;
  /** clusterEmbeddings in all, and its linkage's two phases (first neighbours, merges). */
  totalSeconds: number;
  neighbourSeconds: number;
  mergeSeconds: number;
  rssAfterLoadKiB: number;
  peakKiB: number;
}

interface OracleResult {
  points: number;
  oursSeconds: number;
  scipySeconds: number;
  /** Peak RSS growth of each (SciPy's holds n(n-1)/2 float64 distances). */
  oursPeakGrowthKiB: number;
  scipyPeakGrowthKiB: number;
  sameMerges: boolean;
  maxRelativeHeightDifference: number;
  sameLabels: boolean;
}

async function cluster(seconds: number): Promise<ClusterResult> {
  const { conversationEmbeddings } = await import("../../tests/helpers/conversation_embeddings.ts");
  const { clusterEmbeddings } = await import("../../lib/diarization/clustering.ts");
  const { centroidLinkage } = await import("../../lib/diarization/linkage.ts");
  centroidLinkage(new Float64Array(4), 2, 2); // loads the library outside the measurement
  const c = conversationEmbeddings(seconds);
  let start = 0, neighboursDone = 0, end = 0;
  const { result, ...memory } = await peakMemoryOf(() =>
    clusterEmbeddings(c.embeddings, c.active, c.numChunks, LOCAL, DIM, {
      onProgress: (done, total) => {
        const now = performance.now();
        if (done === 0) start = now;
        if (!neighboursDone && done >= (total + 1) / 2) neighboursDone = now;
        if (done === total) end = now;
      },
    })
  );
  return {
    seconds,
    points: c.active.reduce((n, a) => n + a, 0),
    clusters: result.numClusters,
    totalSeconds: memory.seconds,
    neighbourSeconds: (neighboursDone - start) / 1000,
    mergeSeconds: (end - neighboursDone) / 1000,
    rssAfterLoadKiB: memory.rssAfterLoadKiB,
    peakKiB: memory.peakKiB,
  };
}

async function oracle(seconds: number): Promise<OracleResult> {
  const { activeUnitRows, conversationEmbeddings } = await import(
    "../../tests/helpers/conversation_embeddings.ts"
  );
  const { scipyCentroidLinkage } = await import("../../tests/helpers/scipy_linkage.ts");
  const { centroidLinkage, fcluster } = await import("../../lib/diarization/linkage.ts");
  const { DIARIZATION_31_CLUSTERING } = await import("../../lib/diarization/clustering.ts");
  centroidLinkage(new Float64Array(4), 2, 2);
  const { points, n } = activeUnitRows(conversationEmbeddings(seconds));
  const ours = await peakMemoryOf(() => centroidLinkage(points, n, DIM));
  const scipy = await peakMemoryOf(() => scipyCentroidLinkage(points, n, DIM));
  let sameMerges = true, worst = 0;
  for (let r = 0; r < n - 1; r++) {
    const [a, b] = [ours.result, scipy.result];
    if (a[4 * r] !== b[4 * r] || a[4 * r + 1] !== b[4 * r + 1] || a[4 * r + 3] !== b[4 * r + 3]) {
      sameMerges = false;
    }
    worst = Math.max(worst, Math.abs(a[4 * r + 2] - b[4 * r + 2]) / b[4 * r + 2]);
  }
  const t = DIARIZATION_31_CLUSTERING.threshold;
  const labels = (z: Float64Array) => fcluster(z, n, t).join();
  return {
    points: n,
    oursSeconds: ours.seconds,
    scipySeconds: scipy.seconds,
    oursPeakGrowthKiB: ours.peakKiB - ours.peakAfterLoadKiB,
    scipyPeakGrowthKiB: scipy.peakKiB - Math.max(ours.peakKiB, scipy.peakAfterLoadKiB),
    sameMerges,
    maxRelativeHeightDifference: worst,
    sameLabels: labels(ours.result) === labels(scipy.result),
  };
}

interface Collected {
  rows: ClusterResult[];
  oracle?: OracleResult;
}

function report(collected: unknown): string {
  const { rows, oracle } = collected as Collected;
  const table = formatTable(
    [
      "clusterEmbeddings",
      "audio",
      "points",
      "clusters",
      "total s",
      "first neighbours s",
      "merges s",
      "peak RSS",
      "peak − before",
    ],
    rows.map((r) => [
      "generated conversation, 6 speakers",
      duration(r.seconds),
      String(r.points),
      String(r.clusters),
      num(r.totalSeconds),
      num(r.neighbourSeconds),
      num(r.mergeSeconds),
      mib(r.peakKiB),
      mib(r.peakKiB - r.rssAfterLoadKiB),
    ]),
  );
  const intro =
    "- input: tests/helpers/conversation_embeddings.ts (seeded; speakers as directions with a wandering " +
    "voice and isotropic noise, 10 s chunks every second, up to 3 active per chunk); the linkage is the part " +
    "that grows, in two phases: every point's first nearest neighbour above it, then the merges";
  if (!oracle) return [intro, "", table].join("\n");
  const check =
    `SciPy's algorithm (tests/helpers/scipy_linkage.ts, quadratic) on the ${oracle.points} points of ` +
    `the 1 h input: ${num(oracle.scipySeconds)} s and ${
      mib(oracle.scipyPeakGrowthKiB)
    } more peak RSS, against ` +
    `${num(oracle.oursSeconds)} s and ${mib(oracle.oursPeakGrowthKiB)} for ours; same merges: ` +
    `${oracle.sameMerges ? "yes" : "NO"}, heights within ${
      oracle.maxRelativeHeightDifference.toExponential(1)
    } ` +
    `relative, same labels at the 3.1 threshold: ${oracle.sameLabels ? "yes" : "NO"}.`;
  return [intro, "", table, "", check].join("\n");
}

/** The clustering section. */
export const clusteringSection: BenchSection = {
  group: "clustering",
  title: "Clustering",
  segmentation: false,
  owns: (job) => job.kind === "cluster" || job.kind === "cluster-oracle",
  run: async (job) => {
    const j = job as ClusterJob;
    return j.kind === "cluster" ? await cluster(j.seconds) : await oracle(j.seconds);
  },
  collect: (run: SectionRun): Collected => {
    const lengths = run.full ? [3600, 10800, 36000] : [3600];
    const rows = lengths.map((seconds) => {
      progress(`clustering: ${duration(seconds)} of generated embeddings`);
      return runChild<ClusterJob, ClusterResult>({ kind: "cluster", seconds }, run.threads);
    });
    if (!run.full) return { rows };
    progress("clustering: SciPy's algorithm on the 1 h input");
    return {
      rows,
      oracle: runChild<ClusterJob, OracleResult>({ kind: "cluster-oracle", seconds: 3600 }, run.threads),
    };
  },
  report,
};
