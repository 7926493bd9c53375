/**
 * Seeded stand-ins for what the diarization pipeline hands to clustering on a long recording: one raw
 * 256-d embedding per (10 s chunk, local speaker), chunks every second, up to 3 active local speakers per
 * chunk, inactive ones NaN. Used by the long-input clustering tests and the bench, where running the
 * networks over hours of audio would take hours.
 *
 * The model, so that the numbers mean something: `speakers` speakers, each a random unit direction plus
 * a wandering voice (16 random directions of its own, mixed by an Ornstein–Uhlenbeck process with a
 * correlation time of about 30 s, so that neighbouring chunks sound alike and the same speaker an hour
 * later does not quite), plus isotropic noise per embedding. A conversation of turns of 1–8 s by a
 * Markov chain over the speakers, with short pauses and occasional overlaps, decides who is active in
 * each 10 s window (the 3 who speak most in it, in a random slot order). After normalisation, embeddings
 * of one speaker lie about 0.3–0.6 apart, neighbouring chunks' about 0.2, different speakers' about 1.3.
 *
 * @module
 */
import { Rng } from "../../scripts/generate_weights.ts";

/** What {@link conversationEmbeddings} makes. */
export interface ConversationEmbeddings {
  numChunks: number;
  /** Local speakers per chunk: 3. */
  numSpeakers: number;
  dim: number;
  /** Raw embeddings `[numChunks, 3, 256]`, NaN where the local speaker is inactive. */
  embeddings: Float32Array;
  /** 1 where the local speaker is active. */
  active: Uint8Array;
  /** The true speaker of each (chunk, local speaker), -1 where inactive. */
  truth: Int32Array;
}

const DIM = 256;
const LOCAL = 3;
const VOICE_DIRECTIONS = 16;

/**
 * Embeddings of a generated conversation of `seconds` seconds (one chunk per second, as the pipeline's
 * default step makes them).
 */
export function conversationEmbeddings(seconds: number, speakers = 6, seed = 1): ConversationEmbeddings {
  const rng = new Rng(seed, "conversation embeddings");
  const unit = (v: Float64Array) => {
    const norm = Math.hypot(...v);
    for (let i = 0; i < v.length; i++) v[i] /= norm;
    return v;
  };
  const centers = Array.from(
    { length: speakers },
    () => unit(Float64Array.from({ length: DIM }, () => rng.normal())),
  );
  const voices = Array.from(
    { length: speakers },
    () => Float64Array.from({ length: VOICE_DIRECTIONS * DIM }, () => rng.normal() / Math.sqrt(DIM)),
  );

  // Who speaks when, in 0.1 s steps: turns by a Markov chain, pauses, and overlaps.
  const steps = Math.ceil(seconds * 10);
  const speaking: Uint8Array[] = Array.from({ length: speakers }, () => new Uint8Array(steps + 100));
  let t = 0, current = 0;
  while (t < steps) {
    current = (current + 1 + Math.floor(rng.uniform() * (speakers - 1))) % speakers;
    const turn = Math.round(rng.range(1, 8) * 10);
    speaking[current].fill(1, t, t + turn);
    if (rng.uniform() < 0.2) {
      // Someone else cuts in near the end of the turn.
      const other = (current + 1 + Math.floor(rng.uniform() * (speakers - 1))) % speakers;
      const start = t + Math.floor(turn * rng.range(0.5, 0.9));
      speaking[other].fill(1, start, start + Math.round(rng.range(0.5, 2) * 10));
    }
    t += turn + Math.round(rng.range(0, 1.5) * 10);
  }

  const numChunks = Math.max(1, Math.ceil(seconds - 10) + 1);
  const embeddings = new Float32Array(numChunks * LOCAL * DIM).fill(NaN);
  const active = new Uint8Array(numChunks * LOCAL);
  const truth = new Int32Array(numChunks * LOCAL).fill(-1);
  // Each speaker's voice state, advanced one second per chunk (correlation time ~30 s).
  const rho = Math.exp(-1 / 30);
  const state = Array.from(
    { length: speakers },
    () => Float64Array.from({ length: VOICE_DIRECTIONS }, () => rng.normal()),
  );
  const e = new Float64Array(DIM);
  for (let c = 0; c < numChunks; c++) {
    for (const z of state) {
      for (let j = 0; j < z.length; j++) z[j] = rho * z[j] + Math.sqrt(1 - rho * rho) * rng.normal();
    }
    const presence = speaking.map((row, s) => {
      let n = 0;
      for (let i = c * 10; i < c * 10 + 100; i++) n += row[i];
      return { s, n };
    }).filter((p) => p.n >= 5).sort((a, b) => b.n - a.n || a.s - b.s).slice(0, LOCAL);
    const slots = [0, 1, 2];
    for (let i = LOCAL - 1; i > 0; i--) {
      const j = Math.floor(rng.uniform() * (i + 1));
      [slots[i], slots[j]] = [slots[j], slots[i]];
    }
    presence.forEach(({ s }, i) => {
      const slot = c * LOCAL + slots[i];
      const scale = rng.range(8, 20); // raw embeddings are not normalised
      for (let d = 0; d < DIM; d++) {
        let v = centers[s][d] + 0.005 * rng.normal();
        for (let j = 0; j < VOICE_DIRECTIONS; j++) v += 0.11 * state[s][j] * voices[s][j * DIM + d];
        e[d] = v;
      }
      for (let d = 0; d < DIM; d++) embeddings[slot * DIM + d] = scale * e[d];
      active[slot] = 1;
      truth[slot] = s;
    });
  }
  return { numChunks, numSpeakers: LOCAL, dim: DIM, embeddings, active, truth };
}

/** The active embeddings of `c`, L2-normalised in float32 and widened to float64, as clustering sees them. */
export function activeUnitRows(c: ConversationEmbeddings): { points: Float64Array; n: number } {
  const rows: number[] = [];
  c.active.forEach((a, p) => a && rows.push(p));
  const points = new Float64Array(rows.length * c.dim);
  rows.forEach((p, i) => {
    let s = 0;
    for (let d = 0; d < c.dim; d++) s += c.embeddings[p * c.dim + d] ** 2;
    const norm = Math.fround(Math.sqrt(s));
    for (let d = 0; d < c.dim; d++) points[i * c.dim + d] = Math.fround(c.embeddings[p * c.dim + d] / norm);
  });
  return { points, n: rows.length };
}
