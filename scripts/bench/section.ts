/**
 * A group of bench rows kept in a file of its own: its child jobs, how the parent collects them, and its
 * part of the report. scripts/bench.ts runs every section in {@link SECTIONS} that `--only` selects.
 *
 * @module
 */
import type { Policy } from "./stats.ts";

/** What a section's parent side gets from the bench. */
export interface SectionRun {
  full: boolean;
  threads: number;
  policy: Policy;
  /** Embedding weights. */
  weights: string;
  /** Converted segmentation weights, when the section needs them ({@link BenchSection.segmentation}). */
  segmentation?: string;
  /** Scratch directory, removed after the run. */
  tmp: string;
}

/** One group of rows. */
export interface BenchSection {
  /** Its `--only` name. */
  group: string;
  /** Its heading in the report. */
  title: string;
  /** Whether it needs the segmentation weights. */
  segmentation: boolean;
  /** Child side: whether a job is this section's, and running it. */
  owns(job: { kind: string }): boolean;
  run(job: { kind: string }): Promise<unknown>;
  /** Parent side: its measurements (running jobs in children), a report section, and `--json` data. */
  collect(run: SectionRun): unknown;
  report(collected: unknown): string;
}
