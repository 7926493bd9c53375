// libwespeaker's thread rule, from JavaScript: Workers run on their own OS threads, and models
// loaded and used there must compute exactly what the main thread computes. node:worker_threads,
// which Deno, Bun and Node all have (Node has no web Worker).
import assert from "node:assert/strict";
import { test } from "node:test";
import { Worker } from "node:worker_threads";
import { WeSpeakerModel } from "../mod.ts";
import { syntheticFeatures } from "../scripts/generate_weights.ts";
import { testWeights } from "./helpers/weights.ts";

function inWorker(job: { weights: string; data: Float32Array; frames: number; repeats: number }) {
  const worker = new Worker(new URL("./helpers/embed_worker.ts", import.meta.url));
  return new Promise<Float32Array[]>((resolve, reject) => {
    worker.once("message", (data) => data.error ? reject(new Error(data.error)) : resolve(data.results));
    worker.once("error", reject);
    worker.postMessage(job);
  }).finally(() => worker.terminate());
}

test("models in two concurrent Workers give the main thread's embeddings", async () => {
  const weights = testWeights().path;
  const frames = 250;
  const data = syntheticFeatures(77, frames);
  using model = await WeSpeakerModel.load(weights);
  const expected = model.embedFeatures({ data, frames, bins: 80 });
  const job = { weights, data, frames, repeats: 3 };
  const [a, b] = await Promise.all([inWorker(job), inWorker(job)]);
  for (const result of [...a, ...b]) assert.deepEqual(result, expected);
  // The main thread's model still works while and after the Workers ran theirs.
  assert.deepEqual(model.embedFeatures({ data, frames, bins: 80 }), expected);
});
