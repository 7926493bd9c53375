/**
 * Every difference between the FFIs of Deno, Bun and Node.js (through koffi) lives in this file.
 * The rest of the library sees one `NativeSymbols` object whose functions take TypedArrays and
 * opaque handles.
 */
import { createRequire } from "node:module";
import process from "node:process";
import { type NeutralType, symbols } from "./symbols.ts";

/** An opaque native pointer: a pointer object under Deno, a number under Bun, a bigint under Node. */
export type Handle = { readonly __brand: "wespeaker.Handle" };

/** The functions of {@link symbols}, as the rest of the library calls them. */
export interface NativeSymbols {
  wespeaker_abi_version(): number;
  wespeaker_version(): string;
  wespeaker_model_load(path: Uint8Array, out: BigUint64Array, err: Uint8Array, errSize: number): number;
  wespeaker_embed(
    model: Handle,
    features: Float32Array,
    batch: number,
    frames: number,
    lengths: BigInt64Array | null,
    weights: Float32Array | null,
    numMasks: number,
    weightFrames: number,
    flags: number,
    out: Float32Array,
    err: Uint8Array,
    errSize: number,
  ): number;
  wespeaker_model_free(model: Handle): void;
  wespeaker_segmenter_load(path: Uint8Array, out: BigUint64Array, err: Uint8Array, errSize: number): number;
  wespeaker_segmentation_frames(samples: number): number | bigint;
  wespeaker_segment(
    model: Handle,
    waveforms: Float32Array,
    batch: number,
    samples: number,
    out: Float32Array,
    err: Uint8Array,
    errSize: number,
  ): number;
  wespeaker_segmenter_free(model: Handle): void;
  wespeaker_linkage_start(
    points: Float64Array,
    n: number,
    dim: number,
    out: BigUint64Array,
    err: Uint8Array,
    errSize: number,
  ): number;
  wespeaker_linkage_run(
    state: Handle,
    steps: number,
    z: Float64Array,
    done: BigInt64Array,
    err: Uint8Array,
    errSize: number,
  ): number;
  wespeaker_linkage_free(state: Handle): void;
}

/** The arguments of `wespeaker_embed`, as {@link NativeSymbols} takes them. */
export type EmbedArgs = Parameters<NativeSymbols["wespeaker_embed"]>;

/** The arguments of `wespeaker_segment`, as {@link NativeSymbols} takes them. */
export type SegmentArgs = Parameters<NativeSymbols["wespeaker_segment"]>;

// The inputs of a call, between the handle and the output buffers.
type Inputs<A extends unknown[]> = A extends [Handle, ...infer I, Float32Array, Uint8Array, number] ? I
  : never;

/** A native call as Bun's worker (bun_worker.ts) receives it: the handle by address, outputs by size. */
export type WorkerCall =
  & { id: number; path: string; address: number; outLength: number; errLength: number }
  & ({ fn: "embed"; args: Inputs<EmbedArgs> } | { fn: "segment"; args: Inputs<SegmentArgs> });

/** An opened native library. */
export interface OpenedLibrary {
  symbols: NativeSymbols;
  /**
   * `wespeaker_embed` off the JavaScript thread, so the event loop keeps running: on a Deno
   * `nonblocking` call, on a Worker under Bun (whose FFI has no nonblocking calls), on libuv's
   * thread pool under Node. The buffers must be left alone until the promise settles.
   */
  embedAsync(...args: EmbedArgs): Promise<number>;
  /** `wespeaker_segment` off the JavaScript thread, as {@link embedAsync}. */
  segmentAsync(...args: SegmentArgs): Promise<number>;
  /** Turns the address a `wespeaker_model**` out-parameter received into a handle. */
  handleFromAddress(address: bigint): Handle;
  close(): void;
}

interface BunFfi {
  dlopen(
    path: string,
    defs: Record<string, { args: string[]; returns: string }>,
  ): { symbols: Record<string, (...args: unknown[]) => unknown>; close(): void };
}

// The part of Deno's FFI used here, typed locally so that no `Deno` namespace reaches the
// declarations this package publishes for Node and strict TypeScript consumers.
interface DenoFfi {
  dlopen(
    path: string,
    defs: Record<string, { parameters: string[]; result: string; name?: string; nonblocking?: boolean }>,
  ): { symbols: Record<string, (...args: unknown[]) => unknown>; close(): void };
  UnsafePointerView: { getCString(pointer: unknown): string };
  UnsafePointer: { create(address: bigint): unknown };
}

/** A koffi function: called directly, or through `async` on libuv's thread pool. */
interface KoffiFunction {
  (...args: unknown[]): unknown;
  async(...argsThenCallback: unknown[]): void;
}

interface Koffi {
  load(
    path: string,
  ): { func(name: string, result: string, parameters: string[]): KoffiFunction; unload(): void };
}

const bunTypes: Record<NeutralType, string> = {
  void: "void",
  u32: "u32",
  i32: "i32",
  i64: "i64",
  usize: "u64",
  buffer: "ptr",
  handle: "ptr",
  cstring: "cstring",
};

const denoTypes: Record<NeutralType, string> = {
  void: "void",
  u32: "u32",
  i32: "i32",
  i64: "i64",
  usize: "usize",
  buffer: "buffer",
  handle: "pointer",
  cstring: "pointer",
};

// koffi passes a TypedArray as a pointer to its memory, also in async calls; handles travel as
// their address (`uintptr_t`), which is how a pointer is passed on every 64-bit ABI we build for.
const koffiTypes: Record<NeutralType, string> = {
  void: "void",
  u32: "uint32_t",
  i32: "int32_t",
  i64: "int64_t",
  usize: "size_t",
  buffer: "void *",
  handle: "uintptr_t",
  cstring: "const char *",
};

/** Which JavaScript runtime is running this code. */
export const runtime: "deno" | "bun" | "node" | "other" =
  typeof (globalThis as { Deno?: unknown }).Deno !== "undefined"
    ? "deno"
    : typeof (globalThis as { Bun?: unknown }).Bun !== "undefined"
    ? "bun"
    : typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node ===
        "string"
    ? "node"
    : "other";

const deno = (globalThis as unknown as { Deno: DenoFfi }).Deno;

// A non-literal specifier keeps Deno's type checker (and tsc) from resolving Bun's built-in module.
const bunFfiSpecifier = "bun:ffi";
const bunFfi: BunFfi | null = runtime === "bun" ? await import(bunFfiSpecifier) : null;

// koffi is required on first use, so importing this package costs Node nothing until a model loads.
let koffi: Koffi | undefined;

/** The shared-library file name of libwespeaker on this platform. */
export function libraryFileName(): string {
  if (process.platform === "darwin") return "libwespeaker.dylib";
  if (process.platform === "win32") return "wespeaker.dll";
  return "libwespeaker.so";
}

/**
 * Deno's refusal for lack of a permission (`NotCapable`, or `PermissionDenied` before Deno 2), as
 * its message (which names the `--allow-…` flag); `undefined` for any other error.
 */
export function permissionDenial(err: unknown): string | undefined {
  if (runtime !== "deno" || !(err instanceof Error)) return undefined;
  return err.name === "NotCapable" || err.name === "PermissionDenied" ? err.message : undefined;
}

function openDeno(path: string): OpenedLibrary {
  const defs: Parameters<DenoFfi["dlopen"]>[1] = {};
  for (const [name, def] of Object.entries(symbols)) {
    defs[name] = { parameters: def.parameters.map((t) => denoTypes[t]), result: denoTypes[def.result] };
  }
  // The same native functions again, run by Deno on its blocking thread pool.
  defs.wespeaker_embed_nonblocking = { ...defs.wespeaker_embed!, name: "wespeaker_embed", nonblocking: true };
  defs.wespeaker_segment_nonblocking = {
    ...defs.wespeaker_segment!,
    name: "wespeaker_segment",
    nonblocking: true,
  };
  const lib = deno.dlopen(path, defs);
  const raw = lib.symbols;
  const version = raw.wespeaker_version!;
  return {
    symbols: {
      ...raw,
      wespeaker_version: () => deno.UnsafePointerView.getCString(version()),
    } as unknown as NativeSymbols,
    embedAsync: (...args) => raw.wespeaker_embed_nonblocking!(...args) as Promise<number>,
    segmentAsync: (...args) => raw.wespeaker_segment_nonblocking!(...args) as Promise<number>,
    handleFromAddress: (address) => deno.UnsafePointer.create(address) as Handle,
    close: () => lib.close(),
  };
}

function openBun(path: string): OpenedLibrary {
  const defs: Record<string, { args: string[]; returns: string }> = {};
  for (const [name, def] of Object.entries(symbols)) {
    defs[name] = { args: def.parameters.map((t) => bunTypes[t]), returns: bunTypes[def.result] };
  }
  const lib = bunFfi!.dlopen(path, defs);
  const version = lib.symbols.wespeaker_version!;
  return {
    symbols: {
      ...lib.symbols,
      wespeaker_version: () => String(version()),
    } as unknown as NativeSymbols,
    ...bunWorkerCalls(path),
    handleFromAddress: (address) => Number(address) as unknown as Handle,
    close: () => lib.close(),
  };
}

/**
 * Node, through koffi: `async` runs a call on libuv's thread pool and passes the TypedArrays'
 * memory as is, so the output lands in the caller's buffers, as with Deno's `nonblocking`.
 */
function openNode(path: string): OpenedLibrary {
  koffi ??= createRequire(import.meta.url)("koffi") as Koffi;
  const lib = koffi.load(path);
  const bound: Record<string, KoffiFunction> = {};
  for (const [name, def] of Object.entries(symbols)) {
    bound[name] = lib.func(name, koffiTypes[def.result], def.parameters.map((t) => koffiTypes[t]));
  }
  // The arguments of calls in flight, kept reachable (their buffers above all) until each returns.
  const inFlight = new Set<unknown[]>();
  const callAsync = (fn: KoffiFunction, args: unknown[]) =>
    new Promise<number>((resolve, reject) => {
      inFlight.add(args);
      fn.async(...args, (error: unknown, status: number) => {
        inFlight.delete(args);
        if (error) reject(error);
        else resolve(status);
      });
    });
  return {
    symbols: bound as unknown as NativeSymbols,
    embedAsync: (...args) => callAsync(bound.wespeaker_embed!, args),
    segmentAsync: (...args) => callAsync(bound.wespeaker_segment!, args),
    handleFromAddress: (address) => address as unknown as Handle,
    close: () => lib.unload(),
  };
}

interface PendingCall {
  resolve(status: number): void;
  reject(error: unknown): void;
  out: Float32Array;
  err: Uint8Array;
}

type CallWithoutId = WorkerCall extends infer C ? C extends WorkerCall ? Omit<C, "id"> : never : never;

type WorkerReply = { id: number; status: number; out: Float32Array; err: Uint8Array };

// Bun's Worker, typed locally (the web Worker type is not part of Node's declarations).
interface BunWorker {
  onmessage: ((event: { data: WorkerReply }) => void) | null;
  onerror: ((event: { message: string }) => void) | null;
  postMessage(message: unknown): void;
  ref(): void;
  unref(): void;
}

/**
 * Bun's async calls: one Worker, holding its own binding of the same library, makes the calls with
 * the handle's address (a handle may be used from any thread; calls on one handle are serialised
 * natively). It is unref'd while idle so that it never keeps the process alive.
 */
function bunWorkerCalls(path: string): Pick<OpenedLibrary, "embedAsync" | "segmentAsync"> {
  const Worker = (globalThis as unknown as { Worker: new (url: URL) => BunWorker }).Worker;
  let worker: BunWorker | undefined;
  const pending = new Map<number, PendingCall>();
  let nextId = 0;
  const start = () => {
    const w = new Worker(new URL("./bun_worker.ts", import.meta.url));
    w.onmessage = ({ data }) => {
      const call = pending.get(data.id)!;
      pending.delete(data.id);
      call.out.set(data.out);
      call.err.set(data.err);
      call.resolve(data.status);
      if (pending.size === 0) w.unref();
    };
    w.onerror = (event) => {
      for (const call of pending.values()) {
        call.reject(new Error(`native call worker failed: ${event.message}`));
      }
      pending.clear();
      worker = undefined;
    };
    return w;
  };
  const send = (call: CallWithoutId, out: Float32Array, err: Uint8Array) => {
    worker ??= start();
    worker.ref();
    const id = nextId++;
    return new Promise<number>((resolve, reject) => {
      pending.set(id, { resolve, reject, out, err });
      worker!.postMessage({ ...call, id });
    });
  };
  const common = (handle: Handle, out: Float32Array, err: Uint8Array) => ({
    path,
    address: handle as unknown as number,
    outLength: out.length,
    errLength: err.length,
  });
  return {
    embedAsync: (
      handle,
      features,
      batch,
      frames,
      lengths,
      weights,
      numMasks,
      weightFrames,
      flags,
      out,
      err,
    ) =>
      send(
        {
          ...common(handle, out, err),
          fn: "embed",
          args: [features, batch, frames, lengths, weights, numMasks, weightFrames, flags],
        },
        out,
        err,
      ),
    segmentAsync: (handle, waveforms, batch, samples, out, err) =>
      send({ ...common(handle, out, err), fn: "segment", args: [waveforms, batch, samples] }, out, err),
  };
}

/** Opens a shared library and binds {@link symbols}. Throws the runtime's own error on failure. */
export function openLibrary(path: string): OpenedLibrary {
  if (runtime === "deno") return openDeno(path);
  if (runtime === "bun") return openBun(path);
  if (runtime === "node") return openNode(path);
  throw new Error("libwespeaker needs Deno, Bun or Node.js (their FFI); this runtime is none of them");
}
