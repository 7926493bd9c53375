// Child process for tests/lifetime.test.ts. Modes:
//   open  — load models, embed, exit without closing them;
//   leak  — load and drop 30 models without close(), forcing GC, and print the RSS growth (MB).
import process from "node:process";
import { WeSpeakerModel } from "../../mod.ts";

const [mode, weights] = process.argv.slice(2);
const clip = Float32Array.from({ length: 16000 }, (_, i) => Math.sin(i / 7) * 0.3);

async function collectGarbage(): Promise<void> {
  const bun = (globalThis as { Bun?: { gc(sync: boolean): void } }).Bun;
  if (bun) bun.gc(true);
  else (globalThis as unknown as { gc(): void }).gc();
  // FinalizationRegistry callbacks run in a later task.
  await new Promise((resolve) => setTimeout(resolve, 10));
}

if (mode === "open") {
  const models = [await WeSpeakerModel.load(weights), await WeSpeakerModel.load(weights)];
  for (const m of models) m.embed(clip, 16000);
  console.log("exiting with models open");
} else if (mode === "leak") {
  (await WeSpeakerModel.load(weights)).embed(clip, 16000); // warm up MLX's allocator
  await collectGarbage();
  const before = process.memoryUsage().rss;
  for (let i = 0; i < 30; i++) {
    (await WeSpeakerModel.load(weights)).embed(clip, 16000);
    await collectGarbage();
  }
  console.log(JSON.stringify({ growthMB: (process.memoryUsage().rss - before) / 1e6 }));
}
