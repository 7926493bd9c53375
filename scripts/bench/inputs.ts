/**
 * The bench's deterministic audio: a speech-like clip for the embedding rows, and a generated
 * conversation for the diarization rows, in memory or written to a WAV file block by block.
 *
 * @module
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { segmentationWaveform } from "../../tests/helpers/segmentation_inputs.ts";
import { chunk, encodeSamples, fmtBody, riff } from "../../tests/helpers/wav_writer.ts";
import { Rng } from "../generate_weights.ts";

/** The rate of every generated input, the models' rate. */
export const SAMPLE_RATE = 16000;

/** A voiced tone with a wandering pitch, noise and pauses: cheap speech-like audio for embedding. */
export function syntheticSpeech(seed: number, seconds: number): Float32Array {
  let state = (seed * 0x9e3779b9) >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(Math.round(seconds * SAMPLE_RATE));
  let phase = 0, pitch = 100 + 120 * random(), voiced = true;
  for (let i = 0; i < out.length; i++) {
    if (i % 160 === 0) {
      pitch = Math.min(300, Math.max(80, pitch + 6 * (random() - 0.5)));
      if (random() < 0.01) voiced = !voiced;
    }
    phase += (2 * Math.PI * pitch) / SAMPLE_RATE;
    let v = 0;
    for (let h = 1; h <= 8; h++) v += Math.sin(h * phase) / h;
    out[i] = (voiced ? 0.08 * v : 0) + 0.005 * (random() - 0.5);
  }
  return out;
}

/** Speakers of {@link conversation}; each one's turns are cut from one minute of its own audio. */
export const CONVERSATION_SPEAKERS = 3;
const SPEAKER_SECONDS = 60;

/**
 * A conversation of any length in bounded memory: turns of 2–8 s, each by another of
 * {@link CONVERSATION_SPEAKERS} speakers than the last and followed by a 0.2–1.5 s pause with a faint
 * noise floor. A speaker is a seeded `segmentationWaveform` (tests/helpers/segmentation_inputs.ts:
 * partials with drifting pitch, syllable-rate modulation, two voices alternating and overlapping), a
 * turn a random stretch of it, so a 10 s chunk holds several local speakers and some overlap.
 *
 * @returns blocks of samples at {@link SAMPLE_RATE}, `seconds` in all
 */
export function* conversation(seconds: number): Generator<Float32Array> {
  const speakers = Array.from(
    { length: CONVERSATION_SPEAKERS },
    (_, k) => segmentationWaveform({ kind: "speech", seed: 101 + k }, SPEAKER_SECONDS * SAMPLE_RATE),
  );
  const rng = new Rng(1, "bench conversation");
  let left = Math.round(seconds * SAMPLE_RATE);
  let speaker = 0;
  while (left > 0) {
    speaker = (speaker + 1 + Math.floor(rng.uniform() * (CONVERSATION_SPEAKERS - 1))) %
      CONVERSATION_SPEAKERS;
    const turn = Math.round(rng.range(2, 8) * SAMPLE_RATE);
    const at = Math.floor(rng.uniform() * (speakers[speaker].length - turn));
    const pause = new Float32Array(Math.round(rng.range(0.2, 1.5) * SAMPLE_RATE));
    for (let i = 0; i < pause.length; i++) pause[i] = 0.001 * rng.normal();
    for (const part of [speakers[speaker].subarray(at, at + turn), pause]) {
      const taken = part.subarray(0, Math.min(part.length, left));
      left -= taken.length;
      if (taken.length > 0) yield taken;
    }
  }
}

/** {@link conversation} as one array. */
export function conversationSamples(seconds: number): Float32Array {
  const out = new Float32Array(Math.round(seconds * SAMPLE_RATE));
  let at = 0;
  for (const block of conversation(seconds)) {
    out.set(block, at);
    at += block.length;
  }
  return out;
}

/** Writes {@link conversation} as a 16 kHz 16-bit mono WAV file, a turn at a time. */
export function writeConversationWav(path: string, seconds: number): void {
  const dataBytes = 2 * Math.round(seconds * SAMPLE_RATE);
  const fmt = chunk("fmt ", fmtBody({ tag: 1, channels: 1, sampleRate: SAMPLE_RATE, bits: 16 }));
  const header = riff([fmt, chunk("data", new Uint8Array(0), dataBytes)], {
    sizeField: 4 + fmt.length + 8 + dataBytes,
  });
  const fd = openSync(path, "w");
  try {
    writeSync(fd, header);
    for (const block of conversation(seconds)) {
      const codes = Int16Array.from(block, (x) => Math.round(32767 * Math.max(-1, Math.min(1, x))));
      writeSync(fd, encodeSamples([codes], "pcm", 16));
    }
  } finally {
    closeSync(fd);
  }
}
