// Child process for tests/long_audio.test.ts: its own peak RSS (VmHWM) measures only the streaming under
// test. Prints one JSON line. Modes:
//   read PATH                         — every sample of a 16-bit file through openWavStream, hashed;
//   embed WEIGHTS PATH WINDOW HOP     — embedWindows over the file, after a warm-up of the same batch
//                                       shape from memory (MLX's buffers dominate RSS and are cached).
import { readFileSync } from "node:fs";
import process from "node:process";
import { WeSpeakerModel } from "../../mod.ts";
import { openWavStream } from "../../lib/audio/wav_stream.ts";
import { embedWindows } from "../../lib/windows.ts";

const peakMB = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))![1]) / 1024;

/** The hash tests/long_audio.test.ts computes while generating the file: order-sensitive over all codes. */
export function hashCodes(hash: number, code: number): number {
  return (Math.imul(hash, 31) + code) | 0;
}

const [mode, ...args] = import.meta.main ? process.argv.slice(2) : [];
if (mode === "read") {
  let hash = 0, frames = 0;
  for await (const chunk of await openWavStream(args[0])) {
    for (let i = 0; i < chunk.length; i++) hash = hashCodes(hash, chunk[i] * 32768);
    frames += chunk.length;
  }
  console.log(JSON.stringify({ frames, hash, peakMB: peakMB() }));
} else if (mode === "embed") {
  const [weights, path, windowSeconds, hopSeconds] = [args[0], args[1], Number(args[2]), Number(args[3])];
  const batchSize = 8;
  using model = await WeSpeakerModel.load(weights);
  const clip = Float32Array.from({ length: windowSeconds * 16000 }, (_, i) => Math.sin(i / 9) * 0.1);
  await model.embedBatchAsync(Array(batchSize).fill(clip), 16000);
  const warmPeakMB = peakMB();
  const starts: number[] = [];
  for await (const w of embedWindows(model, path, { windowSeconds, hopSeconds, batchSize })) {
    starts.push(w.start);
  }
  console.log(
    JSON.stringify({ windows: starts.length, lastStart: starts.at(-1), warmPeakMB, peakMB: peakMB() }),
  );
}
