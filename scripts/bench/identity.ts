/**
 * The bench's speaker-search rows: a registry of N enrolled speakers (one clip each, random 256-value
 * embeddings: search cost does not depend on the values) built in SQLite by one import, then opened in a
 * fresh process and searched: how long the first query takes (it loads the speaker models), how long each
 * later query takes, and how much memory the loaded registry holds.
 *
 * @module
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import { runChild } from "./child.ts";
import type { BenchSection, SectionRun } from "./section.ts";
import { formatTable, mib, msSpread, num, progress } from "./format.ts";
import { measure, type Policy, readStatusKiB, summarize } from "./stats.ts";

const DIM = 256;
const MODEL = { model: "bench", revision: "sha256:" + "0".repeat(64) };

/** The jobs a bench child runs for these rows. */
type IdentityJob =
  | { kind: "identity-build"; path: string; count: number }
  | { kind: "identity-query"; path: string; policy: Policy };

/** Whether `job` is an {@link IdentityJob}. */
function isIdentityJob(job: { kind: string }): job is IdentityJob {
  return job.kind === "identity-build" || job.kind === "identity-query";
}

interface BuildResult {
  seconds: number;
}

interface QueryResult {
  openSeconds: number;
  firstQuerySeconds: number;
  secondsPerQuery: number[];
  rssBeforeKiB: number;
  rssAfterKiB: number;
  peakKiB: number;
}

/** One row: enrolled speakers and what searching them costs. */
interface IdentityRow extends QueryResult {
  count: number;
  buildSeconds: number;
  fileBytes: number;
}

/** A seeded stream of values in [-1, 1). */
function values(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

/** Runs an {@link IdentityJob} in this (child) process. */
async function runIdentityJob(job: IdentityJob): Promise<BuildResult | QueryResult> {
  const { SpeakerRegistry } = await import("../../lib/identity/registry.ts");
  const next = values(7);
  if (job.kind === "identity-build") {
    const added = "2025-01-01T00:00:00.000Z";
    const speakers = Array.from({ length: job.count }, (_, k) => ({
      name: `speaker ${String(k).padStart(7, "0")}`,
      created: added,
      clips: [{ ...MODEL, source: null, added, embedding: Array.from({ length: DIM }, next) }],
    }));
    const t0 = performance.now();
    using registry = await SpeakerRegistry.open(job.path, { create: true });
    registry.import({ format: "wespeaker-registry", version: 1, speakers });
    return { seconds: (performance.now() - t0) / 1000 };
  }
  const queries = Array.from({ length: 16 }, () => Float32Array.from({ length: DIM }, next));
  const rssBeforeKiB = readStatusKiB("VmRSS");
  let t0 = performance.now();
  using registry = await SpeakerRegistry.open(job.path, { model: MODEL, readOnly: true });
  const openSeconds = (performance.now() - t0) / 1000;
  t0 = performance.now();
  await registry.identify(queries[0], { topK: 5 });
  const firstQuerySeconds = (performance.now() - t0) / 1000;
  let k = 0;
  const timed = await measure(
    () => registry.identify(queries[k++ % queries.length], { topK: 5 }),
    job.policy,
  );
  return {
    openSeconds,
    firstQuerySeconds,
    secondsPerQuery: timed.seconds,
    rssBeforeKiB,
    rssAfterKiB: readStatusKiB("VmRSS"),
    peakKiB: readStatusKiB("VmHWM"),
  };
}

/** Builds and searches registries of 1,000 to 100,000 speakers (300,000 too with `--full`). */
function collectIdentity(run: SectionRun): IdentityRow[] {
  const counts = run.full ? [1_000, 10_000, 100_000, 300_000] : [1_000, 10_000, 100_000];
  return counts.map((count) => {
    const path = join(run.tmp, `registry-${count}.db`);
    progress(`identity: ${count} speakers`);
    const build = runChild<IdentityJob, BuildResult>({ kind: "identity-build", path, count }, run.threads);
    const query = runChild<IdentityJob, QueryResult>(
      { kind: "identity-query", path, policy: run.policy },
      run.threads,
    );
    return { count, buildSeconds: build.seconds, fileBytes: statSync(path).size, ...query };
  });
}

/** The rows as a markdown table. */
function identityReport(rows: IdentityRow[]): string {
  return formatTable(
    [
      "enrolled",
      "import (one transaction)",
      "database",
      "open",
      "first query (loads)",
      "query median ms",
      "min–max ms",
      "RSS after load",
      "RSS added",
    ],
    rows.map((r) => [
      r.count.toLocaleString("en-US"),
      `${num(r.buildSeconds)} s`,
      mib(r.fileBytes / 1024),
      `${num(r.openSeconds * 1e3)} ms`,
      `${num(r.firstQuerySeconds * 1e3)} ms`,
      ...msSpread(summarize(r.secondsPerQuery)),
      mib(r.rssAfterKiB),
      mib(r.rssAfterKiB - r.rssBeforeKiB),
    ]),
  ) + "\n\nCosine scoring, top 5, one clip per speaker (256 values), SQLite through the runtime's own " +
    "driver; each registry built in one process and searched from a fresh one.";
}

/** The `identity` group. */
export const identitySection: BenchSection = {
  group: "identity",
  title: "Speaker search",
  segmentation: false,
  owns: isIdentityJob,
  run: (job) => runIdentityJob(job as IdentityJob),
  collect: collectIdentity,
  report: (rows) => identityReport(rows as IdentityRow[]),
};
