/**
 * The options shared by the commands that use a speaker registry: `--registry FILE` and a decision
 * threshold.
 *
 * @module
 */
import { join } from "node:path";
import { PLDA } from "../diarization/plda.ts";
import { pldaScorer } from "../identity/plda_scorer.ts";
import { SpeakerRegistry } from "../identity/registry.ts";
import type { SpeakerScorer } from "../identity/scoring.ts";
import type { WeSpeakerModel } from "../model.ts";
import { type Args, type OptionTable, stringOption, UsageError } from "./command.ts";

/** `-r, --registry FILE`. */
export const REGISTRY_OPTIONS: OptionTable = { registry: { type: "string", short: "r" } };

/** Help text for {@link REGISTRY_OPTIONS}. */
export const REGISTRY_HELP = "  -r, --registry FILE         the speaker registry (an SQLite database file)";

/** `--plda DIR`: score by community-1's PLDA instead of the cosine. */
export const PLDA_OPTIONS: OptionTable = { plda: { type: "string" } };

/** Help text for {@link PLDA_OPTIONS}. */
export const PLDA_HELP =
  `      --plda DIR              score by PLDA log-likelihood ratio (threshold 0): DIR holds
                              xvec_transform.npz and plda.npz (community-1's plda/ folder)`;

/** The scorer `--plda` asks for, or `undefined` (the cosine) without it. */
export async function scorerOption(args: Args): Promise<SpeakerScorer | undefined> {
  const dir = stringOption(args, "plda");
  if (dir === undefined) return undefined;
  return pldaScorer(await PLDA.load(join(dir, "xvec_transform.npz"), join(dir, "plda.npz")));
}

/** The registry path, required. */
export function registryPath(args: Args, command: string): string {
  const path = stringOption(args, "registry");
  if (path === undefined || path === "") throw new UsageError(`${command} needs --registry FILE`);
  return path;
}

/** A decision threshold option (`--threshold 0.6`): any finite number, or `undefined` when absent. */
export function thresholdOption(args: Args, name = "threshold"): number | undefined {
  const value = stringOption(args, name);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/\S/.test(value) || !Number.isFinite(n)) {
    throw new UsageError(`--${name} must be a number, got '${value}'`);
  }
  return n;
}

/** Opens the registry named by `--registry`, runs `body` with it and closes it. */
export async function withRegistry<T>(
  args: Args,
  command: string,
  options: {
    model?: WeSpeakerModel;
    create?: boolean;
    readOnly?: boolean;
    threshold?: number;
    scorer?: SpeakerScorer;
  },
  body: (registry: SpeakerRegistry) => Promise<T> | T,
): Promise<T> {
  using registry = await SpeakerRegistry.open(registryPath(args, command), options);
  return await body(registry);
}
