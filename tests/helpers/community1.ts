// Shared by the community-1 tests: decoding the goldens' base64 arrays and comparing floats.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";

function bytesOf(b64: string): Uint8Array {
  return new Uint8Array(Buffer.from(b64, "base64"));
}

/** A base64 little-endian float64 array. */
export function f64(b64: string): Float64Array {
  const bytes = bytesOf(b64);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Float64Array.from({ length: bytes.length / 8 }, (_, i) => view.getFloat64(8 * i, true));
}

/** A base64 little-endian float32 array. */
export function f32(b64: string): Float32Array {
  const bytes = bytesOf(b64);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Float32Array.from({ length: bytes.length / 4 }, (_, i) => view.getFloat32(4 * i, true));
}

/** np.packbits output (big-endian bit order) back to one byte per bit. */
export function unpackBits(b64: string, count: number): Uint8Array {
  const bytes = bytesOf(b64);
  return Uint8Array.from({ length: count }, (_, i) => (bytes[i >> 3] >> (7 - (i & 7))) & 1);
}

/**
 * Elementwise `|got - want| <= rtol * |want| + atol` (NaN only where NaN is wanted), naming the first
 * offender and reporting the largest relative difference.
 */
export function assertClose(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  rtol: number,
  what: string,
  atol = 0,
): void {
  assert.equal(got.length, want.length, `${what}: ${got.length} values, expected ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    if (Number.isNaN(want[i])) {
      assert.ok(Number.isNaN(got[i]), `${what}[${i}]: ${got[i]}, expected NaN`);
      continue;
    }
    const diff = Math.abs(got[i] - want[i]);
    assert.ok(
      diff <= rtol * Math.abs(want[i]) + atol,
      `${what}[${i}]: ${got[i]}, expected ${want[i]} (relative difference ${diff / Math.abs(want[i])})`,
    );
  }
}
