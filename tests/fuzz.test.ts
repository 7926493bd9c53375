// Hostile weight files: thousands of mutated safetensors headers through the TypeScript parser,
// hundreds through the native loader (whose JSON header MLX parses), and headers that claim
// absurd sizes. Each input is either accepted or rejected with a WeSpeakerError: no other
// exception, no crash, no huge allocation.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { decodeWav, WeSpeakerError, WeSpeakerModel } from "../mod.ts";
import { encodeSafetensors, readSafetensorsHeader } from "../lib/hub/safetensors.ts";
import { rng } from "./helpers/fuzz.ts";
import { testWeights, writeScratch } from "./helpers/weights.ts";

function mutate(bytes: Uint8Array, region: number, next: (n: number) => number): Uint8Array {
  const out = bytes.slice(0, next(4) === 0 ? next(bytes.length) : bytes.length);
  for (let k = 1 + next(4); k > 0; k--) {
    if (out.length === 0) break;
    const at = next(Math.min(region, out.length));
    out[at] = next(3) === 0 ? '{}[]":,0e-9'.charCodeAt(next(11)) : next(256);
  }
  return out;
}

function onlyWeSpeakerErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof WeSpeakerError)) throw err;
  }
}

describe("hostile safetensors", () => {
  const small = encodeSafetensors({
    "a.weight": { dtype: "F32", shape: [2, 3], data: new Float32Array(6).fill(1) },
    "b.bias": { dtype: "F32", shape: [4], data: new Float32Array(4) },
  });

  test("3000 mutated headers through the TypeScript parser", () => {
    const next = rng(1);
    for (let i = 0; i < 3000; i++) {
      onlyWeSpeakerErrors(() => readSafetensorsHeader(mutate(small, small.length, next)));
    }
  });

  test("300 mutated headers through the native loader", async () => {
    const { bytes } = testWeights();
    const headerEnd = 8 + Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    const next = rng(2);
    let rejected = 0;
    for (let i = 0; i < 300; i++) {
      const path = writeScratch("fuzz.safetensors", mutate(bytes, headerEnd, next));
      try {
        (await WeSpeakerModel.load(path)).close();
      } catch (err) {
        assert.ok(err instanceof WeSpeakerError, String(err));
        assert.equal(err.code, "invalid-weights", err.message);
        rejected++;
      }
    }
    assert.ok(rejected > 250, `only ${rejected} of 300 mutated files were rejected`);
  });

  test("a header that claims 100 GB is rejected without allocating it", async () => {
    const claim = (headerLength: bigint, json: string) => {
      const text = new TextEncoder().encode(json);
      const file = new Uint8Array(8 + text.length);
      new DataView(file.buffer).setBigUint64(0, headerLength, true);
      file.set(text, 8);
      return file;
    };
    const huge = claim(100_000_000_000n, "{}");
    assert.throws(() => readSafetensorsHeader(huge), WeSpeakerError);
    const tensor = claim(
      BigInt(80),
      JSON.stringify({ x: { dtype: "F32", shape: [25_000_000_000], data_offsets: [0, 100_000_000_000] } })
        .padEnd(80),
    );
    assert.throws(() => readSafetensorsHeader(tensor), WeSpeakerError);
    for (const [name, file] of [["huge-header", huge], ["huge-tensor", tensor]] as const) {
      await assert.rejects(WeSpeakerModel.load(writeScratch(`${name}.safetensors`, file)), (err: unknown) => {
        assert.ok(err instanceof WeSpeakerError && err.code === "invalid-weights", String(err));
        return true;
      });
    }
  });

  test("a WAV whose data chunk claims 100 GB is rejected without allocating it", () => {
    const header = new Uint8Array(44);
    const view = new DataView(header.buffer);
    header.set(new TextEncoder().encode("RIFF"), 0);
    view.setUint32(4, 36, true);
    header.set(new TextEncoder().encode("WAVEfmt "), 8);
    view.setUint32(16, 16, true);
    view.setUint16(20, 1, true);
    view.setUint16(22, 1, true);
    view.setUint32(24, 16000, true);
    view.setUint32(28, 32000, true);
    view.setUint16(32, 2, true);
    view.setUint16(34, 16, true);
    header.set(new TextEncoder().encode("data"), 36);
    view.setUint32(40, 0xfffffff0, true);
    assert.throws(() => decodeWav(header, "huge.wav"), (err: unknown) => {
      assert.ok(err instanceof WeSpeakerError && err.code === "invalid-wav");
      assert.match(err.message, /huge\.wav/);
      return true;
    });
  });
});
