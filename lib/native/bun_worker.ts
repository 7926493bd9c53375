/**
 * Bun only: the Worker behind `OpenedLibrary.embedAsync` and `segmentAsync` (see runtime.ts). It binds
 * the same library file and makes the native calls for the main thread, which keeps its event loop.
 *
 * @module
 */
import { type OpenedLibrary, openLibrary, type WorkerCall } from "./runtime.ts";

const scope = globalThis as unknown as {
  onmessage: ((event: { data: WorkerCall }) => void) | null;
  postMessage(message: unknown, transfer: ArrayBuffer[]): void;
};
let lib: OpenedLibrary | undefined;

scope.onmessage = ({ data: call }) => {
  lib ??= openLibrary(call.path);
  const handle = lib.handleFromAddress(BigInt(call.address));
  const out = new Float32Array(call.outLength);
  const err = new Uint8Array(call.errLength);
  const status = call.fn === "embed"
    ? lib.symbols.wespeaker_embed(handle, ...call.args, out, err, call.errLength)
    : lib.symbols.wespeaker_segment(handle, ...call.args, out, err, call.errLength);
  scope.postMessage({ id: call.id, status, out, err }, [out.buffer, err.buffer]);
};
