// embedAsync / embedBatchAsync: off the JavaScript thread (Deno nonblocking FFI, a Worker under
// Bun), identical to the synchronous calls, safe to overlap, and safe to close while in flight.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { WeSpeakerError, WeSpeakerModel } from "../mod.ts";
import { randomInts } from "./helpers/wav_writer.ts";
import { testWeights } from "./helpers/weights.ts";

const clip = (seconds: number, seed: number) =>
  Float32Array.from(randomInts(seconds * 16000, -9000, 9000, seed), (v) => v / 32768);

describe("async embedding", () => {
  test("embedAsync and embedBatchAsync give exactly what embed and embedBatch give", async () => {
    using model = await WeSpeakerModel.load(testWeights().path);
    const clips = [clip(1, 1), clip(2, 2), clip(2, 3), clip(4, 4)];
    for (const c of clips) assert.deepEqual(await model.embedAsync(c, 16000), model.embed(c, 16000));
    assert.deepEqual(await model.embedBatchAsync(clips, 16000), model.embedBatch(clips, 16000));
    assert.deepEqual(
      await model.embedAsync(clips[0], 16000, { raw: true }),
      model.embed(clips[0], 16000, { raw: true }),
    );
  });

  test("many overlapping calls on one model match sequential ones", async () => {
    using model = await WeSpeakerModel.load(testWeights().path);
    const clips = Array.from({ length: 8 }, (_, i) => clip(1 + (i % 3), 10 + i));
    const sequential = clips.map((c) => model.embed(c, 16000));
    const overlapping = await Promise.all(clips.map((c) => model.embedAsync(c, 16000)));
    assert.deepEqual(overlapping, sequential);
  });

  test("the event loop keeps running during a call", async () => {
    using model = await WeSpeakerModel.load(testWeights().path);
    const long = clip(8, 5);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    try {
      await model.embedAsync(long, 16000);
    } finally {
      clearInterval(timer);
    }
    // A blocking call would let no timer fire until it returned.
    assert.ok(ticks > 0, "no timer fired while the embedding ran");
  });

  test("close while calls are in flight: they finish, the handle is freed after, later calls throw", async () => {
    const model = await WeSpeakerModel.load(testWeights().path);
    const c = clip(3, 6);
    const expected = model.embed(c, 16000);
    const inFlight = [model.embedAsync(c, 16000), model.embedAsync(c, 16000)];
    model.close();
    assert.deepEqual(await Promise.all(inFlight), [expected, expected]);
    await assert.rejects(model.embedAsync(c, 16000), (err: unknown) => {
      assert.ok(err instanceof WeSpeakerError && err.code === "closed");
      return true;
    });
  });

  test("errors come back as rejections with their codes", async () => {
    using model = await WeSpeakerModel.load(testWeights().path);
    await assert.rejects(model.embedAsync(new Float32Array(100), 16000), (err: unknown) => {
      assert.ok(err instanceof WeSpeakerError && err.code === "audio-too-short");
      return true;
    });
  });
});
