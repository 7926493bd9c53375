/**
 * Every difference between Deno's and Bun's FFI lives in this file. The rest of the library sees
 * one `NativeSymbols` object whose functions take TypedArrays and opaque handles.
 */
import { type NeutralType, symbols } from "./symbols.ts";

/** An opaque native pointer: a `Deno.PointerObject` under Deno, a number under Bun. */
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
   * `nonblocking` call, or on a Worker under Bun (whose FFI has no nonblocking calls). The
   * buffers must be left alone until the promise settles.
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

const denoTypes: Record<NeutralType, Deno.NativeType | Deno.NativeResultType> = {
  void: "void",
  u32: "u32",
  i32: "i32",
  i64: "i64",
  usize: "usize",
  buffer: "buffer",
  handle: "pointer",
  cstring: "pointer",
};

/** Which JavaScript runtime is running this code. */
export const runtime: "deno" | "bun" | "other" =
  typeof (globalThis as { Deno?: unknown }).Deno !== "undefined"
    ? "deno"
    : typeof (globalThis as { Bun?: unknown }).Bun !== "undefined"
    ? "bun"
    : "other";

// A non-literal specifier keeps Deno's type checker from trying to resolve Bun's built-in module.
const bunFfiSpecifier = "bun:ffi";
const bunFfi: BunFfi | null = runtime === "bun" ? await import(bunFfiSpecifier) : null;

/** The shared-library file name of libwespeaker on this platform. */
export function libraryFileName(): string {
  const os = runtime === "deno"
    ? Deno.build.os
    : (globalThis as { process?: { platform: string } }).process?.platform;
  if (os === "darwin") return "libwespeaker.dylib";
  if (os === "windows" || os === "win32") return "wespeaker.dll";
  return "libwespeaker.so";
}

function openDeno(path: string): OpenedLibrary {
  const defs: Record<string, Deno.ForeignFunction> = {};
  for (const [name, def] of Object.entries(symbols)) {
    defs[name] = {
      parameters: def.parameters.map((t) => denoTypes[t] as Deno.NativeType),
      result: denoTypes[def.result],
    };
  }
  // The same native functions again, run by Deno on its blocking thread pool.
  defs.wespeaker_embed_nonblocking = { ...defs.wespeaker_embed, name: "wespeaker_embed", nonblocking: true };
  defs.wespeaker_segment_nonblocking = {
    ...defs.wespeaker_segment,
    name: "wespeaker_segment",
    nonblocking: true,
  };
  const lib = Deno.dlopen(path, defs);
  const raw = lib.symbols as Record<string, (...args: unknown[]) => unknown>;
  const version = raw.wespeaker_version;
  return {
    symbols: {
      ...raw,
      wespeaker_version: () => Deno.UnsafePointerView.getCString(version() as Deno.PointerObject),
    } as unknown as NativeSymbols,
    embedAsync: (...args) => raw.wespeaker_embed_nonblocking(...args) as Promise<number>,
    segmentAsync: (...args) => raw.wespeaker_segment_nonblocking(...args) as Promise<number>,
    handleFromAddress: (address) => Deno.UnsafePointer.create(address) as unknown as Handle,
    close: () => lib.close(),
  };
}

function openBun(path: string): OpenedLibrary {
  const defs: Record<string, { args: string[]; returns: string }> = {};
  for (const [name, def] of Object.entries(symbols)) {
    defs[name] = { args: def.parameters.map((t) => bunTypes[t]), returns: bunTypes[def.result] };
  }
  const lib = bunFfi!.dlopen(path, defs);
  const version = lib.symbols.wespeaker_version;
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

interface PendingCall {
  resolve(status: number): void;
  reject(error: unknown): void;
  out: Float32Array;
  err: Uint8Array;
}

type CallWithoutId = WorkerCall extends infer C ? C extends WorkerCall ? Omit<C, "id"> : never : never;

/**
 * Bun's async calls: one Worker, holding its own binding of the same library, makes the calls with
 * the handle's address (a handle may be used from any thread; calls on one handle are serialised
 * natively). It is unref'd while idle so that it never keeps the process alive.
 */
function bunWorkerCalls(path: string): Pick<OpenedLibrary, "embedAsync" | "segmentAsync"> {
  let worker: Worker | undefined;
  const pending = new Map<number, PendingCall>();
  let nextId = 0;
  const start = () => {
    const w = new Worker(new URL("./bun_worker.ts", import.meta.url));
    w.onmessage = (
      { data }: MessageEvent<{ id: number; status: number; out: Float32Array; err: Uint8Array }>,
    ) => {
      const call = pending.get(data.id)!;
      pending.delete(data.id);
      call.out.set(data.out);
      call.err.set(data.err);
      call.resolve(data.status);
      if (pending.size === 0) (w as unknown as { unref(): void }).unref();
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
    (worker as unknown as { ref(): void }).ref();
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
  throw new Error("libwespeaker needs Deno or Bun (their FFI); this runtime has neither");
}
