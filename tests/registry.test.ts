// The speaker registry through its API: enrollment, listing, renaming, removal, export and import, identify,
// verify and naming a diarization, in memory and in SQLite (node:sqlite under Deno, bun:sqlite under Bun),
// and every bad input: unknown names, an empty registry, other models' embeddings, damaged databases.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { DiarizationResult } from "../lib/diarization/result.ts";
import { WeSpeakerError, type WeSpeakerErrorCode } from "../lib/errors.ts";
import { parseRTTM } from "../lib/formats/rttm.ts";
import { modelIdentity } from "../lib/identity/model_id.ts";
import { assignNames, topScores } from "../lib/identity/naming.ts";
import { SpeakerRegistry } from "../lib/identity/registry.ts";
import { cosineScorer, DEFAULT_COSINE_THRESHOLD } from "../lib/identity/scoring.ts";
import {
  openSqliteStore,
  REGISTRY_APPLICATION_ID,
  sqliteUnavailableMessage,
} from "../lib/identity/sqlite.ts";
import { WeSpeakerModel } from "../lib/model.ts";
import { generateWeights } from "../scripts/generate_weights.ts";
import { NO_SQLITE } from "./helpers/sqlite.ts";
import { encodeWav, randomInts } from "./helpers/wav_writer.ts";
import { testWeights, writeScratch } from "./helpers/weights.ts";

const MODEL = { model: "test-model", revision: "sha256:" + "a".repeat(64) };
const OTHER = { model: "other-model", revision: "sha256:" + "b".repeat(64) };

/** A unit vector along axis `k`, tilted towards axis `k + 1` so that its cosine with axis k is `cos`. */
function axis(k: number, cos = 1, dim = 256): Float32Array {
  const v = new Float32Array(dim);
  v[k % dim] = cos;
  v[(k + 1) % dim] = Math.sqrt(1 - cos * cos);
  return v;
}

async function rejectsWith(
  promise: Promise<unknown> | (() => unknown),
  code: WeSpeakerErrorCode,
  pattern: RegExp,
) {
  const check = (e: unknown) => {
    assert.ok(e instanceof WeSpeakerError, String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  };
  if (typeof promise === "function") assert.throws(promise, check);
  else await assert.rejects(promise, check);
}

let dbCount = 0;
/** A fresh path in the scratch directory, no file there yet. */
function dbPath(): string {
  return join(dirname(writeScratch("registry-scratch", "")), `registry-${dbCount++}.db`);
}

/** Runs `body` on an in-memory registry and on an SQLite one (where the runtime has SQLite). */
async function withBoth(body: (registry: SpeakerRegistry, kind: string) => Promise<void>) {
  for (const kind of NO_SQLITE ? ["memory"] : ["memory", "sqlite"]) {
    const registry = kind === "memory"
      ? SpeakerRegistry.inMemory({ model: MODEL })
      : await SpeakerRegistry.open(dbPath(), { model: MODEL, create: true });
    try {
      await body(registry, kind);
    } finally {
      registry.close();
    }
  }
}

describe("speaker registry", () => {
  test("enroll, list, rename, remove; names in Unicode NFC; clips add up unless replaced", async () => {
    await withBoth(async (r) => {
      assert.equal(r.heldModel(), null);
      await r.enroll("Zoë", [axis(0), axis(0, 0.9)]);
      await r.enroll("Alice", [axis(10)]);
      const more = await r.enroll("Zoe\u0308", [axis(0, 0.8)]); // the same name, decomposed
      assert.equal(more.name, "Zoë");
      assert.equal(more.clips, 3);
      assert.deepEqual(r.speakers().map((s) => [s.name, s.clips]), [["Alice", 1], ["Zoë", 3]]);
      assert.equal((await r.enroll("Alice", [axis(20)], { replace: true })).clips, 1);
      r.rename("Alice", "Alice Smith");
      assert.deepEqual(r.speakers().map((s) => s.name), ["Alice Smith", "Zoë"]);
      await rejectsWith(() => r.rename("Zoë", "Alice Smith"), "invalid-argument", /already exists/);
      await rejectsWith(() => r.rename("Nobody", "X"), "not-found", /rename: no speaker named "Nobody"/);
      await rejectsWith(() => r.remove("Zoë", "Nobody"), "not-found", /remove: no speaker named "Nobody"/);
      assert.equal(r.speakers().length, 2, "nothing removed when one name is unknown");
      r.remove("Zoë");
      assert.deepEqual(r.heldModel(), MODEL);
      assert.deepEqual(r.speakers().map((s) => s.name), ["Alice Smith"]);
    });
  });

  test("bad names and inputs are named", async () => {
    await withBoth(async (r) => {
      for (
        const [name, why] of [
          ["", /is empty/],
          ["SPEAKER_03", /reserved for unknown speakers/],
          [" Bob", /starts or ends with white space/],
          ["Bob\nSmith", /control character/],
          ["x".repeat(201), /longer than 200/],
        ] as const
      ) await rejectsWith(r.enroll(name, [axis(1)]), "invalid-argument", why);
      await rejectsWith(r.enroll("Bob", []), "invalid-argument", /give at least one clip/);
      await rejectsWith(
        r.enroll("Bob", [new Float32Array(256)]),
        "invalid-argument",
        /clip 0: embedding is all zeros/,
      );
      const nan = axis(1);
      nan[7] = NaN;
      await rejectsWith(
        r.enroll("Bob", [axis(2), nan]),
        "invalid-argument",
        /clip 1\[7\]: NaN is not a finite/,
      );
      await rejectsWith(r.enroll("Bob", ["x.wav"]), "invalid-argument", /audio needs a loaded model/);
      assert.equal(r.speakers().length, 0, "a failed enrollment writes nothing");
      await r.enroll("Bob", [axis(2)]);
      await rejectsWith(
        r.enroll("Carol", [new Float32Array(192).fill(1)]),
        "model-mismatch",
        /192 values, not 256/,
      );
      await rejectsWith(
        r.identify(axis(2), { topK: 0 }),
        "invalid-argument",
        /topK must be a positive integer/,
      );
      await rejectsWith(
        r.identify(axis(2), { threshold: NaN }),
        "invalid-argument",
        /threshold must be a finite/,
      );
    });
  });

  test("identify ranks every speaker; the name is given only at or above the threshold", async () => {
    await withBoth(async (r) => {
      await r.enroll("A", [axis(0), axis(0, 0.8)]);
      await r.enroll("B", [axis(5)]);
      await r.enroll("C", [axis(9)]);
      // A's model: the normalised mean of e0 and (0.8 e0 + 0.6 e1) = (1.8, 0.6) / |(1.8, 0.6)|.
      const a = [1.8 / Math.hypot(1.8, 0.6), 0.6 / Math.hypot(1.8, 0.6)];
      const who = await r.identify(axis(0, 0.9), { topK: 3 });
      const expected = a[0] * 0.9 + a[1] * Math.sqrt(1 - 0.81);
      assert.equal(who.name, "A");
      assert.ok(Math.abs(who.score - expected) < 1e-6, `${who.score} vs ${expected}`);
      assert.equal(who.threshold, DEFAULT_COSINE_THRESHOLD);
      assert.equal(who.scorer, "cosine");
      assert.deepEqual(who.candidates.map((c) => c.name), ["A", "B", "C"]);
      // e6 is orthogonal to A and C and at cos 0 with B's e5 + ... : below every threshold.
      const unknown = await r.identify(axis(30), { topK: 2 });
      assert.equal(unknown.name, null);
      assert.equal(unknown.candidates.length, 2);
      assert.equal((await r.identify(axis(0, 0.9), { threshold: 0.995 })).name, null);
      // Ties between speakers: name order.
      assert.deepEqual((await r.identify(axis(100), { topK: 3 })).candidates.map((c) => c.name), [
        "A",
        "B",
        "C",
      ]);
    });
  });

  test("verify: clip against clip, clip against an enrolled speaker", async () => {
    await withBoth(async (r) => {
      await r.enroll("A", [axis(0)]);
      const same = await r.verify(axis(0, 0.9), { speaker: "A" });
      assert.ok(Math.abs(same.score - 0.9) < 1e-6);
      assert.equal(same.same, true);
      assert.deepEqual(await r.verify({ speaker: "A" }, axis(0, 0.9)), same);
      const pair = await r.verify(axis(3), axis(3, 0.5), { threshold: 0.6 });
      assert.ok(Math.abs(pair.score - 0.5) < 1e-6);
      assert.equal(pair.same, false);
      assert.equal(pair.threshold, 0.6);
      await rejectsWith(
        r.verify(axis(0), { speaker: "Nobody" }),
        "not-found",
        /verify: no speaker named "Nobody"/,
      );
      await rejectsWith(r.verify({ speaker: "A" }, { speaker: "A" }), "invalid-argument", /not two speakers/);
    });
  });

  test("an empty registry: identify and nameSpeakers say so", async () => {
    await withBoth(async (r) => {
      await rejectsWith(r.identify(axis(0)), "not-found", /has no speakers: enroll some first/);
      const result = new DiarizationResult([{ speaker: 0, start: 0, end: 1 }], axis(0), 256, 1, []);
      await rejectsWith(r.nameSpeakers(result), "not-found", /has no speakers/);
      await rejectsWith(r.verify(axis(0), { speaker: "A" }), "not-found", /it has no speakers/);
    });
  });

  test("embeddings of another model are refused, whichever way they come", async () => {
    await withBoth(async (r, kind) => {
      await r.enroll("A", [axis(0)]);
      const path = r.location;
      const exported = r.export();
      const other = kind === "memory"
        ? SpeakerRegistry.inMemory({ model: OTHER })
        : await SpeakerRegistry.open(path, { model: OTHER });
      if (kind === "memory") other.import(exported);
      await rejectsWith(
        other.identify(axis(0)),
        "model-mismatch",
        /holds embeddings of test-model \(sha256:aaaa/,
      );
      await rejectsWith(other.enroll("B", [axis(1)]), "model-mismatch", /not of other-model \(sha256:bbbb/);
      await rejectsWith(other.verify(axis(0), axis(0)), "model-mismatch", /cannot be compared/);
      const result = new DiarizationResult([{ speaker: 0, start: 0, end: 1 }], axis(0), 256, 1, []);
      await rejectsWith(other.nameSpeakers(result), "model-mismatch", /holds embeddings of test-model/);
      other.close();
      const fresh = SpeakerRegistry.inMemory({ model: OTHER });
      await fresh.enroll("B", [axis(1)]);
      await rejectsWith(
        () => fresh.import(exported),
        "model-mismatch",
        /import registry export: .*test-model/,
      );
    });
  });

  test("export and import: the same speakers, clips and bits; conflicts are refused unless asked", async () => {
    await withBoth(async (r) => {
      const odd = Float32Array.from({ length: 256 }, (_, i) => Math.fround(Math.sin(i + 0.1) / 3));
      await r.enroll("A", [odd, axis(0)]);
      await r.enroll("B", [axis(2)]);
      const text = JSON.stringify(r.export());
      const copy = SpeakerRegistry.inMemory({ model: MODEL });
      assert.deepEqual(copy.import(text, { source: "a.json" }), { speakers: 2, clips: 3 });
      assert.equal(JSON.stringify(copy.export()), text);
      assert.deepEqual(Float32Array.from(copy.export().speakers[0].clips[0].embedding), odd);
      await rejectsWith(() => copy.import(text), "invalid-argument", /already has a speaker named A/);
      assert.deepEqual(copy.import(text, { onConflict: "append" }), { speakers: 2, clips: 3 });
      assert.deepEqual(copy.speakers().map((s) => s.clips), [4, 2]);
      copy.import(text, { onConflict: "replace" });
      assert.deepEqual(copy.speakers().map((s) => s.clips), [2, 1]);
    });
  });

  test("nameSpeakers: one name per speaker (Hungarian), threshold, unnamed and embedding-less speakers", async () => {
    const r = SpeakerRegistry.inMemory({ model: MODEL, threshold: 0.5 });
    await r.enroll("Alice", [axis(0)]);
    await r.enroll("Bob", [axis(1)]);
    await r.enroll("Carol", [axis(50)]);
    // Speaker 0 is closest to Alice (0.9) and close to Bob; speaker 1 is Alice at 0.95... but also Bob at
    // 0.7. Greedy would give Alice to speaker 1 and Bob to speaker 0 (0.95 + 0.44 = 1.39); the best
    // assignment over margins gives speaker 0 Alice and speaker 1 Bob when that is larger.
    const c0 = new Float32Array(256), c1 = new Float32Array(256), c2 = new Float32Array(256);
    c0[0] = 0.9, c0[1] = Math.sqrt(1 - 0.81); // Alice 0.9, Bob 0.436
    c1[0] = 0.7, c1[1] = 0.7, c1[2] = Math.sqrt(1 - 0.98); // Alice 0.7, Bob 0.7
    c2[200] = 1; // nobody
    const centroids = new Float32Array(3 * 256);
    [c0, c1, c2].forEach((c, k) => centroids.set(c, k * 256));
    const segments = [
      { speaker: 0, start: 0, end: 2 },
      { speaker: 1, start: 1.5, end: 3 },
      { speaker: 2, start: 4, end: 5 },
      { speaker: 3, start: 6, end: 7 }, // no centroid
    ];
    const result = new DiarizationResult(segments, centroids, 256, 8, segments);
    const named = await r.nameSpeakers(result);
    // Margins above 0.5: s0-Alice 0.4, s1-Alice 0.2, s1-Bob 0.2; best total: s0-Alice + s1-Bob = 0.6.
    assert.deepEqual(named.speakers, ["Alice", "Bob", "SPEAKER_02", "SPEAKER_03"]);
    assert.deepEqual(named.segments.map((s) => s.speaker), ["Alice", "Bob", "SPEAKER_02", "SPEAKER_03"]);
    const ids = named.identities!;
    assert.deepEqual(ids.map((i) => [i.label, i.name]), [
      ["SPEAKER_00", "Alice"],
      ["SPEAKER_01", "Bob"],
      ["SPEAKER_02", null],
      ["SPEAKER_03", null],
    ]);
    assert.ok(Math.abs(ids[0].score! - 0.9) < 1e-6 && Math.abs(ids[1].score! - 0.7) < 1e-6);
    assert.ok(Math.abs(ids[2].score!) < 1e-6, "an unnamed speaker shows its best score");
    assert.equal(ids[3].score, null);
    const json = JSON.parse(JSON.stringify(named));
    assert.deepEqual(json.identities, JSON.parse(JSON.stringify(ids)));
    assert.equal(JSON.parse(JSON.stringify(result)).identities, undefined);
    // Both speakers want Alice and only Alice passes: the better one gets her, the other stays unknown.
    const strict = await r.nameSpeakers(result, { threshold: 0.8 });
    assert.deepEqual(strict.speakers, ["Alice", "SPEAKER_01", "SPEAKER_02", "SPEAKER_03"]);
    // RTTM carries the names; white space inside a name is written as "_".
    r.rename("Alice", "Alice Smith");
    const rttm = (await r.nameSpeakers(result)).toRTTM("meeting");
    assert.deepEqual([...new Set(parseRTTM(rttm).get("meeting")!.map((t) => t.speaker))], [
      "Alice_Smith",
      "Bob",
      "SPEAKER_02",
      "SPEAKER_03",
    ]);
    await rejectsWith(r.nameSpeakers(result, { model: OTHER }), "model-mismatch", /other-model/);
  });

  test("a second connection sees writes made through the first (SQLite)", { skip: NO_SQLITE }, async () => {
    const path = dbPath();
    using writer = await SpeakerRegistry.open(path, { model: MODEL, create: true });
    await writer.enroll("A", [axis(0)]);
    using reader = await SpeakerRegistry.open(path, { model: MODEL, readOnly: true });
    assert.equal((await reader.identify(axis(1))).candidates[0].name, "A");
    await writer.enroll("B", [axis(1)]);
    assert.equal((await reader.identify(axis(1))).name, "B");
    await rejectsWith(reader.enroll("C", [axis(2)]), "io", /cannot write speaker registry .*readonly/i);
    reader.close();
    await rejectsWith(reader.identify(axis(1)), "closed", /is closed/);
  });

  test("damaged, foreign and missing databases give clear errors", { skip: NO_SQLITE }, async () => {
    const path = dbPath();
    {
      using r = await SpeakerRegistry.open(path, { model: MODEL, create: true });
      await r.enroll("Alice", [axis(0), axis(3)]);
      await r.enroll("Bob", [axis(1)]);
    }
    const good = new Uint8Array(readFileSync(path));
    const open = (bytes: Uint8Array, name: string) => {
      const p = writeScratch(name, bytes);
      return SpeakerRegistry.open(p, { model: MODEL });
    };
    await rejectsWith(
      SpeakerRegistry.open("/nonexistent/speakers.db"),
      "io",
      /does not exist \(enrolling a speaker creates it\)/,
    );
    await rejectsWith(
      open(new TextEncoder().encode("name,clips\nAlice,2\n".repeat(100)), "text.db"),
      "invalid-registry",
      /text\.db: not a readable SQLite database/,
    );
    const foreign = good.slice();
    new DataView(foreign.buffer).setUint32(68, 0x12345678);
    await rejectsWith(
      open(foreign, "foreign.db"),
      "invalid-registry",
      /another program \(application_id 0x12345678, a registry has 0x5753504b\)/,
    );
    const newer = good.slice();
    new DataView(newer.buffer).setUint32(60, 2);
    await rejectsWith(open(newer, "newer.db"), "invalid-registry", /schema version 2; .* newer version/);
    assert.equal(new DataView(good.buffer, good.byteOffset).getUint32(68), REGISTRY_APPLICATION_ID);
    // A NaN inside one stored embedding: found and named when the speakers are loaded.
    const nan = good.slice();
    const bytes = new Uint8Array(axis(3).buffer);
    const at = Buffer.from(nan.buffer).indexOf(Buffer.from(bytes));
    assert.ok(at > 0);
    new DataView(nan.buffer).setUint32(at + 8, 0x7fc00000, true);
    const withNaN = await open(nan, "nan.db");
    await rejectsWith(
      withNaN.identify(axis(0)),
      "invalid-registry",
      /nan\.db: clip 1 of Alice\[2\]: NaN is not a finite/,
    );
    withNaN.close();
    // Another model's clip written into the file behind the registry's back (the store has no checks):
    // mixed models are reported, never compared.
    const mixedPath = writeScratch("mixed.db", good);
    const store = await openSqliteStore(mixedPath);
    store.write([{
      name: "Bob",
      created: "2025-01-01T00:00:00.000Z",
      replace: false,
      clips: [{ ...OTHER, source: null, added: "2025-01-01T00:00:00.000Z", embedding: axis(5) }],
    }]);
    store.close();
    const m = await SpeakerRegistry.open(mixedPath, { model: MODEL });
    await rejectsWith(m.identify(axis(0)), "invalid-registry", /mixed\.db mixes embeddings of 2 models/);
    m.close();
    // Cut in half: SQLite finds the damage.
    const cut = await open(good.slice(0, Math.floor(good.length / 2)), "cut.db").catch((e) => e);
    if (cut instanceof SpeakerRegistry) {
      await rejectsWith(cut.identify(axis(0)), "invalid-registry", /cut\.db/);
      cut.close();
    } else await rejectsWith(Promise.reject(cut), "invalid-registry", /cut\.db/);
  });

  test("enroll and identify from audio with a real model; another model's weights are a mismatch", {
    skip: NO_SQLITE,
  }, async () => {
    using model = await WeSpeakerModel.load(testWeights().path);
    const wav = (seed: number) =>
      writeScratch(
        `reg-${seed}.wav`,
        encodeWav([randomInts(24000, -9000, 9000, seed)], { sampleRate: 16000, format: "pcm", bits: 16 }),
      );
    using r = await SpeakerRegistry.open(dbPath(), { model, create: true });
    await r.enroll("A", [wav(1), {
      samples: Float32Array.from(randomInts(30000, -5000, 5000, 2), (x) => x / 32768),
      sampleRate: 22050,
      source: "mic\ninput",
    }]);
    await r.enroll("B", [wav(3)]);
    const exported = r.export();
    assert.equal(exported.speakers[0].clips[0].source, wav(1));
    assert.equal(exported.speakers[0].clips[1].source, "mic input");
    assert.deepEqual(exported.speakers[0].clips[0], {
      ...exported.speakers[0].clips[0],
      ...(await modelIdentity(model)),
    });
    assert.match(exported.speakers[0].clips[0].revision, /^sha256:[0-9a-f]{64}$/);
    // Stored raw (un-normalised): what embed(…, { raw: true }) gives.
    assert.deepEqual(
      Float32Array.from(exported.speakers[1].clips[0].embedding),
      await model.embedFile(wav(3), { raw: true }),
    );
    const who = await r.identify(wav(3), { topK: 2 });
    assert.equal(who.name, "B");
    assert.ok(who.score > 0.999999, String(who.score));
    await rejectsWith(r.identify("/nonexistent.wav"), "io", /\/nonexistent\.wav/);
    const otherPath = writeScratch("other-weights.safetensors", generateWeights(7));
    using other = await WeSpeakerModel.load(otherPath);
    using wrong = await SpeakerRegistry.open(r.location, { model: other });
    await rejectsWith(
      wrong.identify(wav(3)),
      "model-mismatch",
      /holds embeddings of test-weights\.safetensors/,
    );
  });

  test("assignNames: one name per row, the best total margin, nothing below the threshold", () => {
    // Greedy would give column 0 to row 1 (0.95) and leave row 0 with 0.55; the best total is 0.9 + 0.85.
    const rows = [[0.9, 0.55, 0.1], [0.95, 0.85, 0.2], null, [0.3, 0.2, 0.4]];
    const { chosen, scores } = assignNames(rows, 0.5);
    assert.deepEqual(chosen, [0, 1, null, null]);
    assert.deepEqual(scores, [0.9, 0.85, null, 0.4]);
    assert.deepEqual(assignNames([[0.5, 0.5]], 0.5).chosen, [0], "a score at the threshold names");
    assert.deepEqual(assignNames([[]], 0.5), { chosen: [null], scores: [null] });
  });

  test("topScores keeps the k best, ties in index order", () => {
    assert.deepEqual(topScores([0.1, 0.5, 0.3, 0.5, 0.9], 3), [4, 1, 3]);
    assert.deepEqual(topScores([0.1, 0.2], 5), [1, 0]);
    assert.deepEqual(topScores([], 2), []);
    const scorer = cosineScorer(0.3);
    assert.equal(scorer.threshold, 0.3);
    assert.throws(() => cosineScorer(2), WeSpeakerError);
  });

  test("without SQLite (Node 20) the error names the runtime and the way out", () => {
    const message = sqliteUnavailableMessage("Node 20.20.2");
    assert.match(message, /Node >= 22\.13.*Node 20\.20\.2 has none.*SpeakerRegistry\.inMemory\(\)/);
  });
});
