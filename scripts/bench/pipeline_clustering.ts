/**
 * Bench group `pipeline-clustering`: how long the clustering stage takes, and how much memory it adds, on the
 * chunk-level results of long recordings, community-1's VBx (agglomerative initialisation over the
 * training embeddings, PLDA, VB-HMM iterations, constrained assignment) next to 3.1's agglomerative
 * clustering over every active (chunk, speaker). The inputs are generated, not diarized: a conversation
 * of {@link SPEAKERS} speakers with turns, overlaps and pauses, cut into 10 s chunks every second with up
 * to 3 local speakers each, and embeddings drawn around one direction per speaker (so both clusterings
 * find the speakers, as on real speech); the PLDA is scripts/generate_pipeline.ts's.
 *
 * @module
 */
import { formatTable, mib, num, progress } from "./format.ts";
import { runChild } from "./child.ts";
import type { BenchSection, SectionRun } from "./section.ts";
import { type PeakMemory, peakMemoryOf } from "./stats.ts";

/** Speakers of the generated conversation. */
const SPEAKERS = 6;
const FRAMES = 589;
const LOCAL = 3;
const DIM = 256;

type Method = "AgglomerativeClustering" | "VBxClustering";

/** A clustering job a bench child runs. */
type ClusteringJob = { kind: "pipeline-clustering"; method: Method; seconds: number };

function isClusteringJob(job: { kind: string }): job is ClusteringJob {
  return job.kind === "pipeline-clustering";
}

interface ClusterResult extends PeakMemory {
  /** (chunk, speaker) pairs active in some frame: what 3.1 clusters. */
  activePairs: number;
  /** Pairs heard alone for 20% of a chunk: what VBx trains on. */
  trainPairs?: number;
  /** Clusters found. */
  clusters: number;
}

/** Generated chunk-level results of `seconds` of conversation (deterministic). */
async function generate(seconds: number) {
  const { Rng } = await import("../generate_weights.ts");
  const rng = new Rng(7, `clustering-bench-${seconds}`);
  const numChunks = seconds - 9;
  // Turns: each speaker in turn for 2–10 s, a pause (0–1.5 s) or an overlap (0–1 s) between turns.
  const frameRate = FRAMES / 10;
  const total = Math.ceil((seconds + 1) * frameRate);
  const active = Array.from({ length: SPEAKERS }, () => new Uint8Array(total));
  for (let t = 0, speaker = 0; t < total;) {
    const length = Math.round(rng.range(2, 10) * frameRate);
    active[speaker].fill(1, t, Math.min(total, t + length));
    const gap = Math.round(rng.range(-1, 1.5) * frameRate);
    t += Math.max(1, length + gap);
    speaker = (speaker + 1 + (rng.nextU32() % (SPEAKERS - 1))) % SPEAKERS;
  }
  const direction = Array.from(
    { length: SPEAKERS },
    () => Float32Array.from({ length: DIM }, () => rng.normal()),
  );
  const binarized = new Uint8Array(numChunks * FRAMES * LOCAL);
  const embeddings = new Float32Array(numChunks * LOCAL * DIM).fill(0.01);
  for (let c = 0; c < numChunks; c++) {
    const start = Math.round(c * frameRate);
    // The (up to) 3 speakers heard most in the chunk are its local speakers.
    const heard = direction.map((_, s) => {
      let n = 0;
      for (let f = 0; f < FRAMES; f++) n += active[s][start + f];
      return [s, n];
    }).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]).slice(0, LOCAL);
    heard.forEach(([s], slot) => {
      for (let f = 0; f < FRAMES; f++) binarized[(c * FRAMES + f) * LOCAL + slot] = active[s][start + f];
      for (let d = 0; d < DIM; d++) {
        embeddings[(c * LOCAL + slot) * DIM + d] = direction[s][d] + 0.5 * rng.normal();
      }
    });
  }
  return { numSamples: seconds * 16000, numChunks, numFrames: FRAMES, binarized, embeddings };
}

/** Runs a {@link ClusteringJob} in this (child) process. */
async function runClusteringJob(job: ClusteringJob): Promise<ClusterResult> {
  const { clusterEmbeddings, DIARIZATION_31_CLUSTERING } = await import(
    "../../lib/diarization/clustering.ts"
  );
  const { vbxClustering, COMMUNITY_1_CLUSTERING } = await import("../../lib/diarization/vbx_clustering.ts");
  const { activeSpeakers } = await import("../../lib/diarization/reconstruct.ts");
  const local = await generate(job.seconds);
  const active = activeSpeakers(local.binarized, local.numChunks, FRAMES, LOCAL);
  const activePairs = active.reduce((n, a) => n + a, 0);
  if (job.method === "AgglomerativeClustering") {
    const { result, ...memory } = await peakMemoryOf(() =>
      clusterEmbeddings(local.embeddings, active, local.numChunks, LOCAL, DIM, DIARIZATION_31_CLUSTERING)
    );
    return { ...memory, activePairs, clusters: result.numClusters };
  }
  const { PLDA } = await import("../../lib/diarization/plda.ts");
  const { generatePldaFiles } = await import("../generate_pipeline.ts");
  const { transform, plda: pldaBytes } = await generatePldaFiles();
  const plda = await PLDA.fromBytes(transform, pldaBytes);
  const { result, ...memory } = await peakMemoryOf(() =>
    vbxClustering(local.embeddings, local.binarized, local.numChunks, FRAMES, LOCAL, DIM, {
      plda,
      ...COMMUNITY_1_CLUSTERING,
    })
  );
  return { ...memory, activePairs, trainPairs: result.train.length, clusters: result.numClusters };
}

/** One row per (length, method). */
interface ClusteringResults {
  rows: { seconds: number; method: Method; result: ClusterResult | null; error?: string }[];
}

/** Runs the clustering rows (1 h; 3 and 8 h with `--full`), each in its own child process. */
function collectClustering({ full, threads }: SectionRun): ClusteringResults {
  const rows: ClusteringResults["rows"] = [];
  for (const seconds of full ? [3600, 10800, 28800] : [3600]) {
    for (const method of ["VBxClustering", "AgglomerativeClustering"] as const) {
      progress(`clustering: ${method} on ${seconds / 3600} h of generated chunk results`);
      try {
        rows.push({
          seconds,
          method,
          result: runChild<ClusteringJob, ClusterResult>(
            { kind: "pipeline-clustering", method, seconds },
            threads,
          ),
        });
      } catch (err) {
        rows.push({ seconds, method, result: null, error: (err as Error).message.split("\n")[0] });
      }
    }
  }
  return { rows };
}

/** The markdown table of the clustering rows. */
function clusteringReport(results: ClusteringResults): string {
  const table = formatTable(
    [
      "clustering (generated chunk results)",
      "audio",
      "pairs clustered",
      "clusters",
      "seconds",
      "memory added",
    ],
    results.rows.map(({ seconds, method, result, error }) => [
      method === "VBxClustering"
        ? "community-1: VBx (AHC init, PLDA, VB-HMM, Hungarian)"
        : "3.1: agglomerative (centroid)",
      `${seconds / 3600} h`,
      result ? String(method === "VBxClustering" ? result.trainPairs : result.activePairs) : "–",
      result ? String(result.clusters) : "–",
      result ? num(result.seconds) : `failed: ${error}`,
      result ? mib(result.peakKiB - result.peakAfterLoadKiB) : "–",
    ]),
  );
  return `${table}\n\n- ${SPEAKERS} speakers with turns, pauses and overlaps, a 10 s chunk every second, up to 3 local ` +
    `speakers each. 3.1 clusters every active (chunk, speaker); VBx trains on those heard alone for 20% of ` +
    `a chunk, then assigns every pair. Memory added: the child's peak RSS after the call minus before it ` +
    `(the agglomerative steps link in linear memory: see the clustering group for the linkage alone).`;
}

/** The `pipeline-clustering` group: 3.1's and community-1's clustering stages side by side. */
export const pipelineClusteringSection: BenchSection = {
  group: "pipeline-clustering",
  title: "Clustering stage: 3.1 and community-1",
  segmentation: false,
  owns: isClusteringJob,
  run: (job) => runClusteringJob(job as ClusteringJob),
  collect: collectClustering,
  report: (results) => clusteringReport(results as ClusteringResults),
};
