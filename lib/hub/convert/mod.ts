/**
 * Any supported checkpoint → the MLX safetensors this library loads: pyannote's and WeSpeaker's
 * PyTorch checkpoints, the ONNX export, or MLX safetensors (re-validated and re-encoded).
 *
 * @module
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import process from "node:process";
import { WeSpeakerError } from "../../errors.ts";
import { expectedWeights } from "../../native/model_layout.ts";
import { type F32Tensor, readF32Tensor, readSafetensorsHeader } from "../safetensors.ts";
import { encodeMlxWeights, MLX_CONFIG, stateDictToMlx } from "./fuse.ts";
import { convertOnnx } from "./onnx.ts";
import {
  encodeSegmentationWeights,
  segmentationStateDictToTensors,
  SINC_LOW_HZ_KEY,
} from "./segmentation.ts";
import { readTorchCheckpoint } from "./torch.ts";
import { SEGMENTATION_CONFIG, segmentationWeights } from "../../native/segmentation_layout.ts";
import type { WeightSpec } from "../../native/model_layout.ts";

/** What a converter produces. */
export interface Converted {
  /** The MLX tensors, by name. */
  tensors: Record<string, F32Tensor>;
  /** The bytes of the `.safetensors` file, identical for identical input. */
  safetensors: Uint8Array;
  /** The `config.json` written beside it; its `model_type` says which model the weights are for. */
  config: typeof MLX_CONFIG | typeof SEGMENTATION_CONFIG;
}

/** The checkpoint formats {@link convertCheckpoint} reads. */
export type CheckpointFormat = "torch-zip" | "torch-legacy" | "onnx" | "safetensors";

/** Recognises a checkpoint by its first bytes. */
export function detectFormat(bytes: Uint8Array, source = "checkpoint"): CheckpointFormat {
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) {
    return "torch-zip";
  }
  // torch's legacy format starts with a pickled magic number: PROTO 2, then LONG1.
  if (bytes.length >= 3 && bytes[0] === 0x80 && bytes[1] === 0x02 && bytes[2] === 0x8a) return "torch-legacy";
  if (bytes.length >= 9) {
    const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
    if (headerLength > 1n && headerLength < BigInt(bytes.length) && bytes[8] === 0x7b /* { */) {
      return "safetensors";
    }
  }
  // An ONNX ModelProto starts with field 1 (ir_version, varint): tag byte 0x08.
  if (bytes.length >= 2 && bytes[0] === 0x08) return "onnx";
  throw new WeSpeakerError(
    "invalid-weights",
    `${source}: not a recognised checkpoint (expected a PyTorch .bin/.pt, an .onnx or a .safetensors file)`,
  );
}

function reencodeSafetensors(bytes: Uint8Array, source: string): Converted {
  const header = readSafetensorsHeader(bytes, source);
  const byName = new Map(header.tensors.map((entry) => [entry.name, entry]));
  const segmentation = byName.has("sincnet.conv1d.0.weight");
  const specs: WeightSpec[] = segmentation ? segmentationWeights() : expectedWeights();
  const tensors: Record<string, F32Tensor> = {};
  for (const spec of specs) {
    const entry = byName.get(spec.name);
    if (!entry) throw new WeSpeakerError("invalid-weights", `${source}: missing tensor '${spec.name}'`);
    if (entry.shape.join(",") !== spec.shape.join(",")) {
      throw new WeSpeakerError(
        "invalid-weights",
        `${source}: tensor '${spec.name}' has shape [${entry.shape.join(", ")}], expected [${
          spec.shape.join(", ")
        }]`,
      );
    }
    tensors[spec.name] = { dtype: "F32", shape: spec.shape, data: readF32Tensor(bytes, entry, source) };
    byName.delete(spec.name);
  }
  if (byName.size > 0) {
    throw new WeSpeakerError(
      "invalid-weights",
      `${source}: unexpected tensor '${[...byName.keys()].sort()[0]}'`,
    );
  }
  return segmentation
    ? { tensors, safetensors: encodeSegmentationWeights(tensors, "safetensors"), config: SEGMENTATION_CONFIG }
    : { tensors, safetensors: encodeMlxWeights(tensors, "safetensors"), config: MLX_CONFIG };
}

// A PyTorch checkpoint holds either model: pyannote's segmentation-3.0 (SincNet) or a WeSpeaker ResNet34.
async function convertTorch(bytes: Uint8Array, source: string): Promise<Converted> {
  const stateDict = await readTorchCheckpoint(bytes, source);
  if (stateDict.has(SINC_LOW_HZ_KEY)) {
    const tensors = segmentationStateDictToTensors(stateDict, source);
    return {
      tensors,
      safetensors: encodeSegmentationWeights(tensors, "pytorch"),
      config: SEGMENTATION_CONFIG,
    };
  }
  const tensors = stateDictToMlx(stateDict, { ignorePrefixes: ["projection."], source });
  return { tensors, safetensors: encodeMlxWeights(tensors, "pytorch"), config: MLX_CONFIG };
}

/**
 * Converts a checkpoint of any supported format to MLX safetensors bytes: a WeSpeaker ResNet34 (any
 * format) or pyannote's segmentation-3.0 (its PyTorch checkpoint, or an already converted file).
 *
 * @param bytes the whole file
 * @param source its name, for error messages
 * @throws {WeSpeakerError} `invalid-weights` naming the file and what is wrong with it
 */
export async function convertCheckpoint(bytes: Uint8Array, source = "checkpoint"): Promise<Converted> {
  switch (detectFormat(bytes, source)) {
    case "torch-zip":
    case "torch-legacy":
      return await convertTorch(bytes, source);
    case "onnx":
      return convertOnnx(bytes, source);
    case "safetensors":
      return reencodeSafetensors(bytes, source);
  }
}

/** Reads a checkpoint file whole. @throws {WeSpeakerError} `io` naming the path */
export async function readCheckpoint(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new WeSpeakerError("io", `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Writes converted weights to `path` and their config to `configPath` (default: `config.json`
 * beside them). The weights are written to a temporary name and renamed into place, so an
 * interrupted conversion never leaves a file that loads.
 */
export async function writeConverted(
  path: string,
  converted: Converted,
  configPath = join(dirname(path), "config.json"),
): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const partial = `${path}.${process.pid}.partial`;
  await writeFile(partial, converted.safetensors);
  await writeFile(configPath, JSON.stringify(converted.config, null, 2) + "\n");
  await rename(partial, path);
}
