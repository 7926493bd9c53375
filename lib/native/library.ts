/**
 * Finding, opening and calling libwespeaker. The library is opened on first use, so importing
 * this module costs nothing for callers that only use the TypeScript parts (fbank, WAV, …).
 */
import process from "node:process";
import { fileURLToPath } from "node:url";
import { WeSpeakerError, type WeSpeakerErrorCode } from "../errors.ts";
import {
  type EmbedArgs,
  type Handle,
  libraryFileName,
  type OpenedLibrary,
  openLibrary,
  type SegmentArgs,
} from "./runtime.ts";
import {
  ABI_VERSION,
  EMBED_EMPTY_MASKS,
  EMBED_RAW,
  EMBEDDING_DIM,
  SEGMENTATION_CLASSES,
  Status,
} from "./symbols.ts";

/** Environment variable naming the libwespeaker file to load instead of searching for it. */
export const LIBRARY_ENV = "WESPEAKER_LIB";

const ERROR_BUFFER_SIZE = 2048;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

let opened: { lib: OpenedLibrary; path: string } | null = null;

function envOverride(): string | undefined {
  try {
    return process.env[LIBRARY_ENV] || undefined;
  } catch {
    // Deno without --allow-env: behave as if the variable were unset.
    return undefined;
  }
}

/** Where libwespeaker is looked for, in order. */
export function libraryCandidates(): string[] {
  const override = envOverride();
  if (override) return [override];
  const name = libraryFileName();
  const candidates: string[] = [];
  const buildDir = new URL("../../build/", import.meta.url);
  if (buildDir.protocol === "file:") candidates.push(fileURLToPath(new URL(name, buildDir)));
  // Bare name last: the system loader's own search (LD_LIBRARY_PATH, an installed copy, …).
  candidates.push(name);
  return candidates;
}

/** Opens libwespeaker (once) and checks its ABI version. */
export function nativeLibrary(): { lib: OpenedLibrary; path: string } {
  if (opened) return opened;
  const failures: string[] = [];
  for (const path of libraryCandidates()) {
    let lib: OpenedLibrary;
    try {
      lib = openLibrary(path);
    } catch (err) {
      failures.push(`  ${path}: ${err instanceof Error ? err.message : String(err)}`);
      continue;
    }
    const abi = lib.symbols.wespeaker_abi_version();
    if (abi !== ABI_VERSION) {
      lib.close();
      failures.push(`  ${path}: ABI version ${abi}, this module needs ${ABI_VERSION}`);
      continue;
    }
    opened = { lib, path };
    return opened;
  }
  throw new WeSpeakerError(
    "library-not-found",
    `libwespeaker could not be loaded. Tried:\n${failures.join("\n")}\n` +
      `Build it with \`node scripts/setup.mjs\` in a checkout of this package (see README), ` +
      `or set ${LIBRARY_ENV} to the path of a built ${libraryFileName()}.`,
  );
}

const statusCodes: Record<number, WeSpeakerErrorCode> = {
  [Status.INVALID_ARGUMENT]: "invalid-argument",
  [Status.IO]: "io",
  [Status.FORMAT]: "invalid-weights",
  [Status.RUNTIME]: "native",
};

function check(status: number, err: Uint8Array): void {
  if (status === Status.OK) return;
  const end = err.indexOf(0);
  const message = decoder.decode(err.subarray(0, end < 0 ? err.length : end));
  throw new WeSpeakerError(statusCodes[status] ?? "native", message || `native status ${status}`);
}

function cString(text: string): Uint8Array {
  const bytes = encoder.encode(text + "\0");
  if (bytes.indexOf(0) !== bytes.length - 1) {
    throw new WeSpeakerError("invalid-argument", `path contains a NUL character: ${JSON.stringify(text)}`);
  }
  return bytes;
}

function load(path: string, symbol: "wespeaker_model_load" | "wespeaker_segmenter_load"): Handle {
  const { lib } = nativeLibrary();
  const out = new BigUint64Array(1);
  const err = new Uint8Array(ERROR_BUFFER_SIZE);
  check(lib.symbols[symbol](cString(path), out, err, err.length), err);
  return lib.handleFromAddress(out[0]);
}

/** Loads a model; the returned handle must be passed to {@link freeModel} exactly once. */
export function loadModel(path: string): Handle {
  return load(path, "wespeaker_model_load");
}

/** Frees a handle returned by {@link loadModel}. */
export function freeModel(handle: Handle): void {
  nativeLibrary().lib.symbols.wespeaker_model_free(handle);
}

/** Arguments of one wespeaker_embed call; shapes as documented in csrc/wespeaker.h. */
export interface EmbedCall {
  features: Float32Array; // [batch, frames, 80]
  batch: number;
  frames: number;
  lengths?: BigInt64Array;
  weights?: Float32Array; // [batch, numMasks, weightFrames]
  numMasks?: number;
  weightFrames?: number;
  raw?: boolean;
  /** Pool rows whose weights vanish on the trunk's frames as pyannote does, instead of failing. */
  emptyMasks?: boolean;
}

// The arguments of one wespeaker_embed call, and the buffers its results land in.
function embedArgs(handle: Handle, call: EmbedCall): { args: EmbedArgs; out: Float32Array; err: Uint8Array } {
  const rows = call.batch * (call.weights ? call.numMasks ?? 1 : 1);
  const out = new Float32Array(rows * EMBEDDING_DIM);
  const err = new Uint8Array(ERROR_BUFFER_SIZE);
  const args: EmbedArgs = [
    handle,
    call.features,
    call.batch,
    call.frames,
    call.lengths ?? null,
    call.weights ?? null,
    call.weights ? call.numMasks ?? 1 : 0,
    call.weights ? call.weightFrames ?? 0 : 0,
    (call.raw ? EMBED_RAW : 0) | (call.emptyMasks ? EMBED_EMPTY_MASKS : 0),
    out,
    err,
    err.length,
  ];
  return { args, out, err };
}

/** Runs wespeaker_embed; returns [batch, numMasks or 1, 256] embeddings. */
export function embedNative(handle: Handle, call: EmbedCall): Float32Array {
  const { args, out, err } = embedArgs(handle, call);
  check(nativeLibrary().lib.symbols.wespeaker_embed(...args), err);
  return out;
}

/** {@link embedNative} off the JavaScript thread; `call`'s buffers must not change until it settles. */
export async function embedNativeAsync(handle: Handle, call: EmbedCall): Promise<Float32Array> {
  const { args, out, err } = embedArgs(handle, call);
  check(await nativeLibrary().lib.embedAsync(...args), err);
  return out;
}

/** Version of the loaded native library and of the MLX it was built with. */
export function nativeVersion(): string {
  return nativeLibrary().lib.symbols.wespeaker_version();
}

/** Loads a segmentation model; the handle must be passed to {@link freeSegmenter} exactly once. */
export function loadSegmenter(path: string): Handle {
  return load(path, "wespeaker_segmenter_load");
}

/** Frees a handle returned by {@link loadSegmenter}. */
export function freeSegmenter(handle: Handle): void {
  nativeLibrary().lib.symbols.wespeaker_segmenter_free(handle);
}

/** Output frames of the segmentation model for chunks of `samples` samples (0 when too short). */
export function segmentationFrames(samples: number): number {
  return Number(nativeLibrary().lib.symbols.wespeaker_segmentation_frames(samples));
}

function segmentArgs(handle: Handle, waveforms: Float32Array, batch: number, samples: number): SegmentArgs {
  const out = new Float32Array(batch * Math.max(segmentationFrames(samples), 0) * SEGMENTATION_CLASSES);
  const err = new Uint8Array(ERROR_BUFFER_SIZE);
  return [handle, waveforms, batch, samples, out, err, err.length];
}

/** Runs wespeaker_segment on `batch` chunks of `samples` samples; returns [batch, frames, 7] log-probs. */
export function segmentNative(
  handle: Handle,
  waveforms: Float32Array,
  batch: number,
  samples: number,
): Float32Array {
  const args = segmentArgs(handle, waveforms, batch, samples);
  check(nativeLibrary().lib.symbols.wespeaker_segment(...args), args[5]);
  return args[4];
}

/** {@link segmentNative} off the JavaScript thread; `waveforms` must not change until it settles. */
export async function segmentNativeAsync(
  handle: Handle,
  waveforms: Float32Array,
  batch: number,
  samples: number,
): Promise<Float32Array> {
  const args = segmentArgs(handle, waveforms, batch, samples);
  check(await nativeLibrary().lib.segmentAsync(...args), args[5]);
  return args[4];
}

/** Starts a native centroid-linkage clustering of `n` points of `dim` float64 coordinates (row-major). */
export function startLinkage(points: Float64Array, n: number, dim: number): Handle {
  const { lib } = nativeLibrary();
  const out = new BigUint64Array(1);
  const err = new Uint8Array(ERROR_BUFFER_SIZE);
  check(lib.symbols.wespeaker_linkage_start(points, n, dim, out, err, err.length), err);
  return lib.handleFromAddress(out[0]);
}

/** Advances a clustering by up to `steps` units, filling rows of `z`; returns the units done so far. */
export function runLinkage(state: Handle, steps: number, z: Float64Array): number {
  const done = new BigInt64Array(1);
  const err = new Uint8Array(ERROR_BUFFER_SIZE);
  check(nativeLibrary().lib.symbols.wespeaker_linkage_run(state, steps, z, done, err, err.length), err);
  return Number(done[0]);
}

/** Frees a state returned by {@link startLinkage}. */
export function freeLinkage(state: Handle): void {
  nativeLibrary().lib.symbols.wespeaker_linkage_free(state);
}
