/**
 * The bench's sections kept in files of their own (see section.ts), in report order.
 *
 * @module
 */
import { audioSection } from "./audio.ts";
import { clusteringSection } from "./clustering.ts";
import { identitySection } from "./identity.ts";
import { pipelineClusteringSection } from "./pipeline_clustering.ts";
import { kernelPathsSection } from "./kernel_paths.ts";
import type { BenchSection } from "./section.ts";

/** Their `--only` names. */
export const SECTION_GROUPS = [
  "clustering",
  "kernel-paths",
  "audio-memory",
  "identity",
  "pipeline-clustering",
] as const;

/** The sections, one per name of {@link SECTION_GROUPS}. */
export const SECTIONS: readonly BenchSection[] = [
  clusteringSection,
  kernelPathsSection,
  audioSection,
  identitySection,
  pipelineClusteringSection,
];
