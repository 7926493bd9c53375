/**
 * Where pretrained weights come from: a Hugging Face Hub repo (through the Python-compatible
 * cache) or a local file or directory, in any format {@link convertCheckpoint} reads. Anything
 * that is not MLX safetensors already is converted once and the result cached by the source's
 * sha256.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { realpath } from "node:fs/promises";
import { homedir } from "node:os";
import { basename, join } from "node:path";
import process from "node:process";
import { convertCheckpoint, detectFormat, readCheckpoint, writeConverted } from "./convert/mod.ts";
import { WeSpeakerError } from "../errors.ts";
import { hubFile, type HubOptions } from "./hub.ts";

/** The MLX weights of WeSpeaker ResNet34-LM on the Hub (the seed model). */
export const DEFAULT_REPO = "aufklarer/WeSpeaker-ResNet34-LM-MLX";

/** pyannote's segmentation-3.0 on the Hub (gated: accept its conditions and pass a token). */
export const SEGMENTATION_REPO = "pyannote/segmentation-3.0";

/** Options of `WeSpeakerModel.fromPretrained`. */
export interface PretrainedOptions extends HubOptions {
  /**
   * A Hub repo id (default {@link DEFAULT_REPO}; `pyannote/wespeaker-voxceleb-resnet34-LM` works
   * too), or a local checkpoint file or a directory holding one.
   */
  repo?: string;
  /** Where converted weights are kept (default `$WESPEAKER_CACHE`, else `~/.cache/wespeaker`). */
  convertedCacheDir?: string;
}

/** Weight files looked for in a repo or directory, in order. */
const WEIGHT_FILES = [
  "model.safetensors",
  "pytorch_model.bin",
  "avg_model.pt",
  "wespeaker_en_voxceleb_resnet34_LM.onnx",
  "model.onnx",
];

/** Repos whose weight file is known, to spare a round trip per absent candidate. */
const KNOWN_FILES: Record<string, string> = {
  [DEFAULT_REPO]: "model.safetensors",
  "pyannote/wespeaker-voxceleb-resnet34-LM": "pytorch_model.bin",
  [SEGMENTATION_REPO]: "pytorch_model.bin",
};

function env(name: string): string | undefined {
  try {
    return process.env[name] || undefined;
  } catch {
    return undefined;
  }
}

function convertedCacheDir(options: PretrainedOptions): string {
  return options.convertedCacheDir ?? env("WESPEAKER_CACHE") ??
    join(env("XDG_CACHE_HOME") ?? join(homedir(), ".cache"), "wespeaker");
}

function localWeightFile(path: string): string {
  if (!statSync(path).isDirectory()) return path;
  for (const name of WEIGHT_FILES) {
    if (existsSync(join(path, name))) return join(path, name);
  }
  throw new WeSpeakerError("io", `${path} holds none of the weight files ${WEIGHT_FILES.join(", ")}`);
}

async function hubWeightFile(repo: string, options: PretrainedOptions): Promise<string> {
  const known = KNOWN_FILES[repo];
  const candidates = known ? [known] : WEIGHT_FILES;
  const missing: string[] = [];
  for (const name of candidates) {
    try {
      return await hubFile(repo, name, options);
    } catch (err) {
      // Only "this file is not in the repo" moves on to the next candidate.
      if (!(err instanceof WeSpeakerError && err.code === "not-found" && /EntryNotFound/.test(err.message))) {
        throw err;
      }
      missing.push(name);
    }
  }
  throw new WeSpeakerError(
    "not-found",
    `Hub repo ${repo} (revision ${options.revision ?? "main"}) holds none of ${missing.join(", ")}`,
  );
}

/**
 * Revision of what the converters write, part of a converted file's name in the cache, so that a file
 * converted by an older version is not reused: 2 computes SincNet's filters in float32 as PyTorch does
 * (1 computed them in float64).
 */
const CONVERTED_REVISION = 2;

// The sha256 of a cached Hub LFS file is its blob name; anything else is hashed.
async function sourceDigest(path: string, bytes: Uint8Array): Promise<string> {
  const blob = basename(await realpath(path));
  return /^[0-9a-f]{64}$/.test(blob) ? blob : createHash("sha256").update(bytes).digest("hex");
}

/**
 * Resolves `options.repo` to an MLX `.safetensors` file on disk, downloading and converting as
 * needed.
 *
 * @returns the path to load
 */
export async function resolvePretrained(options: PretrainedOptions = {}): Promise<string> {
  const repo = options.repo ?? DEFAULT_REPO;
  const path = existsSync(repo) ? localWeightFile(repo) : await hubWeightFile(repo, options);
  const bytes = await readCheckpoint(path);
  if (detectFormat(bytes, path) === "safetensors") return path;

  const dir = convertedCacheDir(options);
  const converted = join(dir, `${await sourceDigest(path, bytes)}.r${CONVERTED_REVISION}.safetensors`);
  if (existsSync(converted)) return converted;
  await writeConverted(
    converted,
    await convertCheckpoint(bytes, path),
    converted.replace(/\.safetensors$/, ".config.json"),
  );
  return converted;
}
