// Weights files for tests: the seeded random weights (shared with the C test via build/), and
// deliberately broken variants of them written to a temporary directory.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type F32Tensor, readF32Tensor, readSafetensorsHeader } from "../../lib/hub/safetensors.ts";
import { DEFAULT_WEIGHTS_SEED, generateWeights } from "../../scripts/generate_weights.ts";
import { repoRoot } from "./runtime.ts";

let cached: { path: string; bytes: Uint8Array } | null = null;

// Shared with other test processes (and the C tests): rewritten atomically, only when it differs.
function writeIfChanged(path: string, bytes: Uint8Array): void {
  const want = createHash("sha256").update(bytes).digest("hex");
  const have = existsSync(path) ? createHash("sha256").update(readFileSync(path)).digest("hex") : "";
  if (have === want) return;
  mkdirSync(join(repoRoot, "build"), { recursive: true });
  const partial = `${path}.${process.pid}.partial`;
  writeFileSync(partial, bytes);
  renameSync(partial, path);
}

/** build/test-weights.safetensors, (re)generated unless it already holds the seeded weights. */
export function testWeights(): { path: string; bytes: Uint8Array } {
  if (cached) return cached;
  const path = join(repoRoot, "build", "test-weights.safetensors");
  const bytes = generateWeights(DEFAULT_WEIGHTS_SEED);
  writeIfChanged(path, bytes);
  cached = { path, bytes };
  return cached;
}

/** The tensors of a safetensors file, by name. */
export function tensorsOf(bytes: Uint8Array): Record<string, F32Tensor> {
  const header = readSafetensorsHeader(bytes);
  const tensors: Record<string, F32Tensor> = {};
  for (const entry of header.tensors) {
    tensors[entry.name] = { dtype: "F32", shape: [...entry.shape], data: readF32Tensor(bytes, entry) };
  }
  return tensors;
}

let scratch: string | null = null;

/** Writes bytes to a fresh per-process temporary directory and returns the path. */
export function writeScratch(name: string, bytes: Uint8Array | string): string {
  scratch ??= mkdtempSync(join(tmpdir(), "wespeaker-test-"));
  const path = join(scratch, name);
  writeFileSync(path, bytes);
  return path;
}

let segmentationCached: string | null = null;

/**
 * build/test-segmentation.safetensors: the seeded random segmentation-3.0 checkpoint (real
 * pytorch_model.bin format) through our converter, (re)written unless it already holds those bytes.
 */
export async function testSegmentationWeights(): Promise<string> {
  if (segmentationCached) return segmentationCached;
  const { generateSegmentationCheckpoint } = await import("../../scripts/generate_segmentation.ts");
  const { convertCheckpoint } = await import("../../lib/hub/convert/mod.ts");
  const bytes =
    (await convertCheckpoint(await generateSegmentationCheckpoint(), "pytorch_model.bin")).safetensors;
  const path = join(repoRoot, "build", "test-segmentation.safetensors");
  writeIfChanged(path, bytes);
  segmentationCached = path;
  return path;
}
