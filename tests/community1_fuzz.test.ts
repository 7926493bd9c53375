// Hostile community-1 inputs: seeded mutations of .npy files, .npz archives (stored and deflated) and the
// two real config.yaml files through their readers. Each input is either read (into well-formed arrays or
// a checked config) or rejected with a WeSpeakerError: no other exception, no hang, no huge allocation.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { WeSpeakerError } from "../lib/errors.ts";
import { NpzFile, readNpy } from "../lib/hub/npz.ts";
import { parsePipelineConfig } from "../lib/diarization/config.ts";
import { encodeNpy, encodeNpz } from "./helpers/npy_writer.ts";

// A small deterministic PRNG: the same mutations on every run and runtime.
function rng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

async function onlyWeSpeakerErrors(fn: () => unknown): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch (err) {
    if (!(err instanceof WeSpeakerError)) throw err;
    return false;
  }
}

const HEADER_PIECES = [
  "'",
  '"',
  "(",
  ")",
  ",",
  ":",
  "{",
  "}",
  " ",
  "\n",
  "<f8",
  "|O",
  "True",
  "False",
  "999999999999",
  "-1",
  "L",
  "\\",
];

function mutateBytes(bytes: Uint8Array, region: number, next: (n: number) => number): Uint8Array {
  let out = bytes.slice(0, next(5) === 0 ? next(bytes.length + 1) : bytes.length);
  for (let k = 1 + next(4); k > 0 && out.length > 0; k--) {
    const at = next(Math.min(region, out.length));
    if (next(3) === 0) {
      const piece = new TextEncoder().encode(HEADER_PIECES[next(HEADER_PIECES.length)]);
      const grown = new Uint8Array(out.length + piece.length);
      grown.set(out.subarray(0, at));
      grown.set(piece, at);
      grown.set(out.subarray(at), at + piece.length);
      out = grown;
    } else {
      out[at] = next(256);
    }
  }
  return out;
}

describe("hostile .npy and .npz", () => {
  const array = { data: Float64Array.from({ length: 12 }, (_, i) => i / 3), shape: [3, 4] };

  test("3000 mutated .npy files", async () => {
    const good = encodeNpy(array);
    const next = rng(15);
    let read = 0;
    for (let i = 0; i < 3000; i++) {
      const bytes = mutateBytes(good, good.length, next);
      const ok = await onlyWeSpeakerErrors(() => {
        const a = readNpy(bytes, "fuzz.npy");
        assert.equal(a.data.length, a.shape.reduce((x, y) => x * y, 1));
      });
      if (ok) read++;
    }
    assert.ok(read > 0 && read < 3000, `${read} of 3000 read: the mutations should hit both outcomes`);
  });

  for (const compress of [false, true]) {
    test(`1500 mutated ${compress ? "deflated" : "stored"} .npz archives`, async () => {
      const good = await encodeNpz({ mean1: array, psi: { data: new Float64Array(4).fill(1), shape: [4] } }, {
        compress,
      });
      const next = rng(compress ? 17 : 16);
      for (let i = 0; i < 1500; i++) {
        const bytes = mutateBytes(good, good.length, next);
        await onlyWeSpeakerErrors(async () => {
          const npz = new NpzFile(bytes, "fuzz.npz");
          for (const key of npz.keys) await npz.get(key);
        });
      }
    });
  }

  test("a shape that claims more data than there is is refused before allocating", () => {
    const bytes = encodeNpy({ data: new Float64Array(2), shape: [2] });
    const text = new TextDecoder().decode(
      bytes.subarray(10, 10 + new DataView(bytes.buffer).getUint16(8, true)),
    );
    const huge = text.replace("(2,)", "(99999999999, 9999999)").padEnd(text.length, " ");
    const forged = bytes.slice();
    forged.set(new TextEncoder().encode(huge.slice(0, text.length)), 10);
    assert.throws(
      () => readNpy(forged, "huge.npy"),
      /huge\.npy: shape \(99999999999, 9999999\) of float64 needs/,
    );
  });
});

const CONFIG_PIECES = [
  ":",
  ": ",
  "-",
  "- ",
  "\n",
  "\n  ",
  "  ",
  "\t",
  "#",
  "{",
  "}",
  "[",
  "]",
  ",",
  "'",
  '"',
  "&a ",
  "*a",
  "!!python/object:os.system ",
  "!!binary ",
  "<<: ",
  "yes",
  "~",
  "1e3",
  ".inf",
  "0x1f",
  "2001-12-14",
  "$model/",
  "@",
  "..",
  "%YAML 1.2\n---\n",
  "---\n",
  "...\n",
  "\u0000",
  "é",
];

describe("hostile config.yaml", () => {
  const configs = ["community-1", "3.1"].map((name) =>
    readFileSync(new URL(`./fixtures/pipelines/${name}.config.yaml`, import.meta.url), "utf8")
  );

  test("2000 mutated configs: a checked config or a WeSpeakerError", async () => {
    const next = rng(18);
    let parsed = 0;
    for (let i = 0; i < 2000; i++) {
      let text = configs[next(2)];
      for (let k = 1 + next(3); k > 0; k--) {
        const at = next(text.length + 1);
        const cut = next(4) === 0 ? next(12) : 0;
        text = text.slice(0, at) + (next(2) ? CONFIG_PIECES[next(CONFIG_PIECES.length)] : "") +
          text.slice(at + cut);
      }
      const ok = await onlyWeSpeakerErrors(() => {
        const config = parsePipelineConfig(text, "fuzz.yaml");
        assert.ok(Number.isFinite(config.clustering.threshold) && Number.isFinite(config.minDurationOff));
      });
      if (ok) parsed++;
    }
    assert.ok(
      parsed > 0 && parsed < 2000,
      `${parsed} of 2000 parsed: the mutations should hit both outcomes`,
    );
  });

  test("a billion laughs is refused, not expanded", () => {
    let text = 'a0: &a0 "x"\n';
    for (let i = 1; i < 12; i++) text += `a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(", ")}]\n`;
    assert.throws(() => parsePipelineConfig(text, "laughs.yaml"), WeSpeakerError);
  });
});
