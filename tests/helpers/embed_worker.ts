// Runs in a Worker (its own OS thread): loads its own model and embeds the features it is sent.
import { WeSpeakerModel } from "../../mod.ts";

interface Job {
  weights: string;
  data: Float32Array;
  frames: number;
  repeats: number;
}

const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<Job>) => void) | null;
  postMessage(message: unknown): void;
};

scope.onmessage = async ({ data: job }) => {
  try {
    using model = await WeSpeakerModel.load(job.weights);
    const results = [];
    for (let i = 0; i < job.repeats; i++) {
      results.push(model.embedFeatures({ data: job.data, frames: job.frames, bins: 80 }));
    }
    scope.postMessage({ results });
  } catch (err) {
    scope.postMessage({ error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
  }
};
