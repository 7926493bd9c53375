// Hostile registry files: seeded mutations of a valid export (as text and as structure) through the import
// parser, and of a registry database's bytes through open + identify. Each input is either accepted, giving
// well-formed speakers, or rejected with a WeSpeakerError: no other exception, no crash.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { WeSpeakerError } from "../lib/errors.ts";
import { SpeakerRegistry } from "../lib/identity/registry.ts";
import { parseRegistryExport, type RegistryExport } from "../lib/identity/registry_json.ts";
import { mutateText, PIECES, rng } from "./helpers/fuzz.ts";
import { NO_SQLITE } from "./helpers/sqlite.ts";
import { writeScratch } from "./helpers/weights.ts";

const MODEL = { model: "m", revision: "sha256:" + "0".repeat(64) };
const JSON_PIECES = [
  ...PIECES,
  "{",
  "}",
  "[",
  "]",
  '"',
  ":",
  ",",
  "null",
  "true",
  "1e999",
  "-0",
  '"SPEAKER_01"',
  "\\u0000",
  "\\ud800",
  "[]",
  "{}",
  '"name"',
  '"clips"',
];

function vector(seed: number, dim = 8): number[] {
  return Array.from({ length: dim }, (_, i) => Math.fround(Math.sin(seed * 31 + i) / 2));
}

const valid: RegistryExport = {
  format: "wespeaker-registry",
  version: 1,
  speakers: [
    {
      name: "Alice",
      created: "2025-01-31T12:00:00.000Z",
      clips: [
        { ...MODEL, source: "a.wav", added: "2025-01-31T12:00:00.000Z", embedding: vector(1) },
        { ...MODEL, source: null, added: "2025-01-31T12:00:01.000Z", embedding: vector(2) },
      ],
    },
    {
      name: "Bob Smith",
      created: "2025-02-01T00:00:00Z",
      clips: [{ ...MODEL, source: "b.wav", added: "2025-02-01T00:00:00Z", embedding: vector(3) }],
    },
  ],
};

const SAMPLES: unknown[] = [
  null,
  true,
  0,
  -1,
  1e999,
  "",
  "x",
  "SPEAKER_00",
  [],
  {},
  [1, 2],
  { a: 1 },
  "2025-13-01T00:00:00Z",
  NaN,
];

/** One structural edit: a value replaced, a key deleted or added, an array shortened or grown. */
function mutateValue(root: unknown, next: (n: number) => number): unknown {
  const copy = structuredClone(root) as Record<string, unknown>;
  // Walk to a random container.
  let node: unknown = copy;
  for (let depth = next(6); depth > 0; depth--) {
    const children = node && typeof node === "object" ? Object.values(node) : [];
    const containers = children.filter((c) => c && typeof c === "object");
    if (containers.length === 0) break;
    node = containers[next(containers.length)];
  }
  if (!node || typeof node !== "object") return copy;
  const record = node as Record<string, unknown>;
  const keys = Object.keys(record);
  const sample = SAMPLES[next(SAMPLES.length)];
  switch (next(4)) {
    case 0:
      if (keys.length) record[keys[next(keys.length)]] = sample;
      break;
    case 1:
      if (keys.length) delete record[keys[next(keys.length)]];
      break;
    case 2:
      if (Array.isArray(node)) node.push(node.length ? structuredClone(node[next(node.length)]) : sample);
      else record[["name", "extra", "clips", "model"][next(4)]] = sample;
      break;
    default:
      if (Array.isArray(node)) node.length = next(node.length + 1);
  }
  return copy;
}

function outcome(parse: () => { name: string; clips: { embedding: Float32Array }[] }[]): "ok" | "rejected" {
  try {
    const speakers = parse();
    const names = new Set<string>();
    for (const s of speakers) {
      assert.ok(typeof s.name === "string" && s.name.length > 0 && !names.has(s.name), s.name);
      names.add(s.name);
      assert.ok(s.clips.length > 0);
      for (const c of s.clips) assert.ok(c.embedding.every(Number.isFinite) && c.embedding.length === 8);
    }
    return "ok";
  } catch (err) {
    if (!(err instanceof WeSpeakerError)) throw err;
    assert.ok(["invalid-registry", "model-mismatch"].includes(err.code), `${err.code}: ${err.message}`);
    return "rejected";
  }
}

describe("hostile registry files", () => {
  const text = JSON.stringify(valid, null, 1);

  test("the valid export imports", () => {
    const speakers = parseRegistryExport(text, "valid.json");
    assert.deepEqual(speakers.map((s) => [s.name, s.clips.length]), [["Alice", 2], ["Bob Smith", 1]]);
  });

  test("3000 mutated export texts: well-formed speakers or WeSpeakerError", () => {
    const next = rng(11);
    const outcomes = { ok: 0, rejected: 0 };
    for (let i = 0; i < 3000; i++) {
      const mutated = mutateText(text, next, JSON_PIECES);
      outcomes[outcome(() => parseRegistryExport(mutated, "fuzz.json"))]++;
    }
    assert.ok(outcomes.ok > 30 && outcomes.rejected > 1500, JSON.stringify(outcomes));
  });

  test("3000 structurally mutated exports, imported into a registry: all or nothing", () => {
    const next = rng(12);
    const outcomes = { ok: 0, rejected: 0 };
    for (let i = 0; i < 3000; i++) {
      let data: unknown = valid;
      for (let k = 1 + next(3); k > 0; k--) data = mutateValue(data, next);
      const registry = SpeakerRegistry.inMemory({ model: MODEL });
      const result = outcome(() => {
        registry.import(data as RegistryExport);
        return registry.export().speakers.map((s) => ({
          name: s.name,
          clips: s.clips.map((c) => ({ embedding: Float32Array.from(c.embedding) })),
        }));
      });
      if (result === "rejected") {
        assert.equal(registry.speakers().length, 0, "a rejected import wrote nothing");
      }
      outcomes[result]++;
    }
    assert.ok(outcomes.ok > 100 && outcomes.rejected > 1000, JSON.stringify(outcomes));
  });

  test("200 databases with mutated bytes: open and identify give an answer or a WeSpeakerError", {
    skip: NO_SQLITE,
  }, async () => {
    const path = writeScratch("fuzz-source.db", "");
    {
      using r = await SpeakerRegistry.open(path + ".db", { model: MODEL, create: true });
      r.import(valid);
    }
    const good = new Uint8Array(readFileSync(path + ".db"));
    const next = rng(13);
    const outcomes: Record<string, number> = {};
    for (let i = 0; i < 200; i++) {
      const bytes = good.slice(0, next(5) === 0 ? next(good.length) : good.length);
      for (let k = 1 + next(8); k > 0; k--) if (bytes.length) bytes[next(bytes.length)] = next(256);
      const file = writeScratch("fuzz.db", bytes);
      let kind = "ok";
      try {
        using r = await SpeakerRegistry.open(file, { model: MODEL });
        r.speakers();
        const who = await r.identify(Float32Array.from(vector(1)));
        assert.ok(Number.isFinite(who.score));
      } catch (err) {
        if (!(err instanceof WeSpeakerError)) throw err;
        assert.ok(
          ["invalid-registry", "io", "not-found", "model-mismatch"].includes(err.code),
          `${err.code}: ${err.message}`,
        );
        assert.ok(err.message.includes("fuzz.db") || err.code === "model-mismatch", err.message);
        kind = err.code;
      }
      outcomes[kind] = (outcomes[kind] ?? 0) + 1;
    }
    assert.ok((outcomes.ok ?? 0) > 20 && (outcomes["invalid-registry"] ?? 0) > 20, JSON.stringify(outcomes));
  });
});
