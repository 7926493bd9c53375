/**
 * Bun only: the Worker behind `OpenedLibrary.embedAsync` (see runtime.ts). It binds the same
 * library file and runs `wespeaker_embed` for the main thread, which keeps its event loop.
 *
 * @module
 */
import { type OpenedLibrary, openLibrary } from "./runtime.ts";

interface Call {
  id: number;
  path: string;
  address: number;
  args: [
    Float32Array,
    number,
    number,
    BigInt64Array | null,
    Float32Array | null,
    number,
    number,
    number,
    number,
    number,
  ];
}

const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<Call>) => void) | null;
  postMessage(message: unknown, transfer: ArrayBuffer[]): void;
};
let lib: OpenedLibrary | undefined;

scope.onmessage = ({ data: { id, path, address, args } }) => {
  lib ??= openLibrary(path);
  const [features, batch, frames, lengths, weights, numMasks, weightFrames, flags, outLength, errLength] =
    args;
  const out = new Float32Array(outLength);
  const err = new Uint8Array(errLength);
  const status = lib.symbols.wespeaker_embed(
    lib.handleFromAddress(BigInt(address)),
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
    errLength,
  );
  scope.postMessage({ id, status, out, err }, [out.buffer, err.buffer]);
};
