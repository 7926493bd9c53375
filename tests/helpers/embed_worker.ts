// Runs in a Worker (its own OS thread): loads its own model and embeds the features it is sent.
import { parentPort } from "node:worker_threads";
import { WeSpeakerModel } from "../../mod.ts";

interface Job {
  weights: string;
  data: Float32Array;
  frames: number;
  repeats: number;
}

const port = parentPort!;

port.on("message", async (job: Job) => {
  try {
    using model = await WeSpeakerModel.load(job.weights);
    const results = [];
    for (let i = 0; i < job.repeats; i++) {
      results.push(model.embedFeatures({ data: job.data, frames: job.frames, bins: 80 }));
    }
    port.postMessage({ results });
  } catch (err) {
    port.postMessage({ error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
  }
});
