/**
 * Finding, opening and calling libwespeaker. The library is opened on first use, so importing
 * this module costs nothing for callers that only use the TypeScript parts (fbank, WAV, …).
 *
 * Where it is looked for, in order: `WESPEAKER_LIB` (then nowhere else); `build/` of a checkout of
 * this repository; the installed platform package (`@x/wespeaker-linux-x64-gnu`, …, an optional
 * dependency of the npm package); the system loader's own search; the platform package fetched
 * earlier from the npm registry into the cache; and, in {@link loadNativeLibrary} only, that fetch.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { WeSpeakerError, type WeSpeakerErrorCode } from "../errors.ts";
import { VERSION } from "../version.ts";
import {
  cachedPackageDir,
  fetchPlatformPackage,
  installedPackageDir,
  nativeCacheDir,
  platformPackages,
  registryUrl,
} from "./platform_package.ts";
import {
  type EmbedArgs,
  type Handle,
  libraryFileName,
  type OpenedLibrary,
  openLibrary,
  permissionDenial,
  runtime,
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

interface Opened {
  lib: OpenedLibrary;
  path: string;
}

let opened: Opened | null = null;
let loading: Promise<Opened> | null = null;

// Why Deno asks for each permission the search can need, for the error that names a missing one.
const PERMISSION_REASONS: Record<string, string> = {
  "--allow-ffi": "libwespeaker is native code, which Deno runs only with this flag",
  "--allow-read": "to find the installed native package and read weights and audio",
  "--allow-env": `to read ${LIBRARY_ENV}, HOME, NPM_CONFIG_REGISTRY and the cache variables`,
  "--allow-sys": "to find the home directory the cache lives under",
  "--allow-net": "to fetch the native package from the npm registry once (and weights from the Hub)",
  "--allow-write": "to keep the fetched native package in the cache",
};

const DENIED = Symbol("denied");

/** The places tried so far, and the permissions Deno refused on the way. */
class Search {
  readonly tried: string[] = [];
  readonly denied: string[] = [];
  /** How the registry fetch failed, if it was tried. */
  fetchFailure?: WeSpeakerErrorCode;

  /**
   * Runs `step`; a Deno permission denial is recorded against `place` and gives {@link DENIED},
   * anything else is thrown.
   */
  guard<T>(place: string, step: () => T): T | typeof DENIED {
    try {
      return step();
    } catch (err) {
      const denial = permissionDenial(err);
      if (!denial) throw err;
      this.denied.push(denial);
      this.tried.push(`${place}: ${denial}`);
      return DENIED;
    }
  }

  /** Opens `path` and checks its ABI version; records why not on failure. */
  open(place: string, path: string): Opened | undefined {
    let lib: OpenedLibrary;
    try {
      lib = openLibrary(path);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const denial = permissionDenial(err);
      if (denial) this.denied.push(denial);
      this.tried.push(`${place}: ${path}: ${message}`);
      return undefined;
    }
    const abi = lib.symbols.wespeaker_abi_version();
    if (abi !== ABI_VERSION) {
      lib.close();
      this.tried.push(`${place}: ${path}: ABI version ${abi}, this module needs ${ABI_VERSION}`);
      return undefined;
    }
    return { lib, path };
  }

  /** The error for a search that found nothing. */
  failure(fetchAttempted: boolean, override?: string): WeSpeakerError {
    const tried = `Tried, in order:\n${this.tried.map((line) => `  ${line}`).join("\n")}`;
    if (this.denied.length > 0) {
      const flags = [...new Set(this.denied.flatMap((d) => d.match(/--allow-[a-z]+/g) ?? []))];
      const why = flags.map((flag) => `  ${flag}: ${PERMISSION_REASONS[flag] ?? "see the README"}`).join(
        "\n",
      );
      return new WeSpeakerError(
        "permission-denied",
        `libwespeaker could not be loaded: Deno denied a permission it needs.\n${why}\n${tried}\n` +
          `Fix: run with ${flags.join(" ")} (README, Install: which permissions and why).`,
      );
    }
    const remedy = override
      ? `Fix: point ${LIBRARY_ENV} at a ${libraryFileName()} that loads (\`node scripts/setup.mjs\` in a checkout ` +
        `of wespeaker builds one), or unset it to use the installed package.`
      : fix(fetchAttempted, this.fetchFailure);
    return new WeSpeakerError("library-not-found", `libwespeaker could not be loaded.\n${tried}\n${remedy}`);
  }
}

// The one thing to do about a search that found nothing, for this machine and runtime.
function fix(fetchAttempted: boolean, fetchFailure?: WeSpeakerErrorCode): string {
  const pkg = platformPackages().at(-1);
  const fromSource = `build it from source in a checkout of wespeaker (\`node scripts/setup.mjs\`) and set ` +
    `${LIBRARY_ENV} to its build/${libraryFileName()}`;
  if (!pkg) return `Fix: no prebuilt library exists for ${process.platform}-${process.arch}: ${fromSource}.`;
  if (!fetchAttempted) {
    return `Fix: \`await loadNativeLibrary()\` (or load a model) first: it fetches ${pkg} when nothing is installed.`;
  }
  // The registry answered but has no usable package: nothing to install, so build.
  if (fetchFailure && fetchFailure !== "network") return `Fix: ${fromSource}.`;
  if (runtime === "deno") {
    return `Fix: let this run reach ${registryUrl()} once (the package is then kept for offline use), ` +
      `or ${fromSource}.`;
  }
  return `Fix: \`${runtime === "bun" ? "bun add" : "npm install"} ${pkg}@${VERSION}\` in your project.`;
}

function envOverride(search: Search): string | undefined {
  const value = search.guard(LIBRARY_ENV, () => process.env[LIBRARY_ENV]);
  return value === DENIED ? undefined : value || undefined;
}

// build/ of a checkout, when this module runs from one (source or the compiled tree beside it).
function checkoutBuild(): string | undefined {
  const build = new URL(`../../build/${libraryFileName()}`, import.meta.url);
  return build.protocol === "file:" ? fileURLToPath(build) : undefined;
}

/** Everything but the registry fetch, in order; `undefined` when nothing loaded. */
function searchLocal(search: Search): Opened | undefined {
  const override = envOverride(search);
  if (override) {
    const found = search.open(LIBRARY_ENV, override);
    if (!found) throw search.failure(true, override);
    return found;
  }
  const name = libraryFileName();
  const build = checkoutBuild();
  const found = build ? search.open("checkout build", build) : undefined;
  if (found) return found;
  for (const pkg of platformPackages()) {
    const place = `${pkg} (installed)`;
    const dir = search.guard(place, () => installedPackageDir(pkg));
    if (dir === undefined) search.tried.push(`${place}: not installed`);
    if (typeof dir !== "string") continue;
    const found = search.open(place, join(dir, name));
    if (found) return found;
  }
  const system = search.open("system loader", name);
  if (system) return system;
  const pkg = platformPackages().at(-1);
  if (!pkg) return undefined;
  const place = `${pkg} (fetched earlier)`;
  const dir = search.guard(place, () => cachedPackageDir(nativeCacheDir(), pkg));
  if (dir === DENIED) return undefined;
  if (!existsSync(join(dir, "package.json"))) {
    search.tried.push(`${place}: not in ${dir}`);
    return undefined;
  }
  return search.open(place, join(dir, name));
}

// The whole search: the local places, then the registry fetch.
async function searchAll(): Promise<Opened> {
  const search = new Search();
  const local = searchLocal(search);
  if (local) return local;
  const pkg = platformPackages().at(-1);
  if (pkg) {
    const place = `${pkg} from the npm registry`;
    try {
      const dir = await fetchPlatformPackage(pkg, { registry: registryUrl(), cacheDir: nativeCacheDir() });
      const found = search.open(place, join(dir, libraryFileName()));
      if (found) return found;
    } catch (err) {
      const denial = permissionDenial(err);
      if (denial) search.denied.push(denial);
      else if (!(err instanceof WeSpeakerError)) throw err;
      else search.fetchFailure = err.code;
      search.tried.push(`${place}: ${(err as Error).message}`);
    }
  }
  throw search.failure(true);
}

/**
 * Opens libwespeaker (once) and checks its ABI version, without asking the npm registry: the
 * synchronous calls use this, after {@link loadNativeLibrary} or a model's `load` has run.
 *
 * @throws {WeSpeakerError} `library-not-found` listing every place tried, `permission-denied` (Deno)
 */
export function nativeLibrary(): Opened {
  if (opened) return opened;
  const search = new Search();
  opened = searchLocal(search) ?? null;
  if (!opened) throw search.failure(false);
  return opened;
}

/**
 * Finds and opens libwespeaker, fetching the platform package from the npm registry (once, into
 * the cache) when it is neither installed nor built. Model loaders call it; call it yourself to
 * fetch ahead of time. Resolves to the path of the library loaded.
 *
 * @throws {WeSpeakerError} `library-not-found` listing every place tried and the command that fixes
 * it; `permission-denied` naming the Deno flags missing and why each is needed
 */
export async function loadNativeLibrary(): Promise<string> {
  if (opened) return opened.path;
  loading ??= searchAll().finally(() => loading = null);
  const found = await loading;
  opened ??= found;
  return opened.path;
}

/** The library files that will be tried without a registry fetch, in order (`WESPEAKER_LIB` alone if set). */
export function libraryCandidates(): string[] {
  const search = new Search();
  const override = envOverride(search);
  if (override) return [override];
  const name = libraryFileName();
  const candidates: string[] = [];
  const build = checkoutBuild();
  if (build) candidates.push(build);
  for (const pkg of platformPackages()) {
    const dir = search.guard(pkg, () => installedPackageDir(pkg));
    if (typeof dir === "string") candidates.push(join(dir, name));
  }
  candidates.push(name);
  const pkg = platformPackages().at(-1);
  const cached = pkg ? search.guard(pkg, () => cachedPackageDir(nativeCacheDir(), pkg)) : DENIED;
  if (cached !== DENIED) candidates.push(join(cached, name));
  return candidates;
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
