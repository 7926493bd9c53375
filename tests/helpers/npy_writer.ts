// numpy's .npy and .npz formats, written as numpy writes them: a version 1.0 header padded with spaces
// to a multiple of 64 bytes and ending in a newline, then the raw little-endian data; an .npz is a zip
// of `<name>.npy` entries (np.savez stores them, np.savez_compressed deflates them).
import { encodeZip } from "./torch_writer.ts";

/** One array to write: float32 or float64 values in C order and their shape. */
export interface NpyInput {
  data: Float32Array | Float64Array;
  shape: number[];
}

/** The `shape` entry as Python prints a tuple: `(3,)`, `(2, 4)`, `()`. */
function pythonTuple(shape: number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
}

/** The bytes of `np.save` for a float32 or float64 C-order array. */
export function encodeNpy({ data, shape }: NpyInput): Uint8Array {
  const descr = data instanceof Float32Array ? "<f4" : "<f8";
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${pythonTuple(shape)}, }`;
  header += " ".repeat(63 - ((10 + header.length) % 64)) + "\n";
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  const view = new DataView(out.buffer, 10 + header.length);
  data.forEach((v, k) =>
    data instanceof Float32Array ? view.setFloat32(4 * k, v, true) : view.setFloat64(8 * k, v, true)
  );
  return out;
}

/** The bytes of `np.savez` (or `np.savez_compressed` with `compress`) of named arrays, in order. */
export async function encodeNpz(
  arrays: Record<string, NpyInput>,
  options: { compress?: boolean } = {},
): Promise<Uint8Array> {
  return await encodeZip(
    Object.entries(arrays).map(([name, array]) => ({ name: `${name}.npy`, data: encodeNpy(array) })),
    { deflate: options.compress },
  );
}
