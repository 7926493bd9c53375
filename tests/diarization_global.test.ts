// The file-level half of the pipeline (diarizeLocalResults: clustering, count, reconstruction, turns) on
// generated segmentations and embeddings: a hand-made tie case, then goldens made by pyannote.audio
// 3.3.2's own SpeakerDiarization.apply with its two networks replaced by the same arrays
// (scripts/reference/make_pipeline_goldens.py).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import type { TieOrder } from "../lib/diarization/argsort.ts";
import { DIARIZATION_31_CLUSTERING } from "../lib/diarization/clustering.ts";
import { diarizeLocalResults, type GlobalOptions } from "../lib/diarization/global.ts";
import type { LocalResults } from "../lib/diarization/local.ts";
import { LOCAL_SPEAKERS } from "../lib/diarization/powerset.ts";
import { EMBEDDING_DIM } from "../lib/native/symbols.ts";

const FRAMES = 589;

function options(tieOrder: TieOrder, more: Partial<GlobalOptions> = {}): GlobalOptions {
  return {
    chunkDuration: 10,
    chunkStep: 1,
    numSpeakers: undefined,
    minSpeakers: 1,
    maxSpeakers: Infinity,
    minDurationOff: 0,
    clustering: {
      method: "AgglomerativeClustering",
      threshold: DIARIZATION_31_CLUSTERING.threshold,
      minClusterSize: DIARIZATION_31_CLUSTERING.minClusterSize,
    },
    tieOrder,
    label: "test",
    ...more,
  };
}

describe("diarizeLocalResults: tie order", () => {
  // Two chunks a second apart. Chunk 0: local speaker 0 on frames [0, 200), speaker 1 on [200, 400), then
  // silence. Chunk 1: speaker 0 on [0, 400), speaker 1 on [341, 589). Each active (chunk, speaker) has its
  // own one-hot embedding, so clustering gives 4 clusters, numbered 0-3 in (chunk, speaker) order. On
  // chunk 1's overlap [341, 400), grid frames [400, 459), chunk 0 is silent: the count is
  // round(2 / 2) = 1, and clusters 2 and 3 tie at activation 1 among the 4. numpy's argsort of
  // -[0, 0, 1, 1] puts 2 first with its generic introsort (arm64) and 3 first with the AVX2/AVX-512
  // networks (x86-64), so pyannote gives those frames to cluster 2 on one machine and 3 on the other.
  const binarized = new Uint8Array(2 * FRAMES * LOCAL_SPEAKERS);
  const speak = (chunk: number, speaker: number, from: number, to: number) => {
    for (let f = from; f < to; f++) binarized[(chunk * FRAMES + f) * LOCAL_SPEAKERS + speaker] = 1;
  };
  speak(0, 0, 0, 200);
  speak(0, 1, 200, 400);
  speak(1, 0, 0, 400);
  speak(1, 1, 341, FRAMES);
  const embeddings = new Float32Array(2 * LOCAL_SPEAKERS * EMBEDDING_DIM);
  [[0, 0], [0, 1], [1, 0], [1, 1]].forEach(([chunk, speaker], i) => {
    embeddings[(chunk * LOCAL_SPEAKERS + speaker) * EMBEDDING_DIM + i] = 1;
  });
  const local: LocalResults = {
    numSamples: 11 * 16000,
    numChunks: 2,
    numFrames: FRAMES,
    binarized,
    embeddings,
  };
  // The tied frames' turn, and the last turn (chunk 1's speaker 1 alone, cluster 3).
  const tied = [6.7809687499999995, 7.77659375];
  const last = [9.970343750000001, 10.965968750000002];

  const turns = (tieOrder: TieOrder) => {
    const result = diarizeLocalResults(local, options(tieOrder));
    const at = ([start, end]: number[]) => {
      const found = result.segments.filter((s) => s.start === start && s.end === end);
      assert.equal(found.length, 1, `one turn [${start}, ${end}] in ${JSON.stringify(result.segments)}`);
      return found[0].speaker;
    };
    return { speakers: result.speakers.length, tied: at(tied), last: at(last) };
  };

  test("numpy-generic: the tie goes to cluster 2, which speaks nowhere else", () => {
    const got = turns("numpy-generic");
    assert.equal(got.speakers, 4);
    assert.notEqual(got.tied, got.last);
  });

  test("numpy-x86-simd: the tie goes to cluster 3, the speaker of the last turn", () => {
    const got = turns("numpy-x86-simd");
    assert.equal(got.speakers, 3);
    assert.equal(got.tied, got.last);
  });
});

// ---------------------------------------------------------------------------------------------
// Goldens: pyannote.audio 3.3.2's SpeakerDiarization.apply on the same arrays.

interface Output {
  /** [label, start, end] in pyannote's itertracks order. */
  segments: [string, number, number][];
  labels: string[];
  /** Per label (pyannote's order), the first 32 float32 values as base64; the rest are zero. */
  centroids: string[];
}

interface PipelineCase {
  name: string;
  numSamples: number;
  numChunks: number;
  /** Per chunk, (powerset class, run length) pairs. */
  chunks: [number, number][][];
  scale: number;
  /** int8 [numChunks, 3, 32], base64; dimensions 32-255 are zero. */
  embeddings: string;
  runs: {
    options: { num_speakers?: number; min_speakers?: number; max_speakers?: number };
    generic: Output;
    /** Where numpy's x86-64 argsort gives another output. */
    x86?: Output;
  }[];
}

const USED = 32;
const POWERSET = [[], [0], [1], [2], [0, 1], [0, 2], [1, 2]];
const bytes = (b64: string) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));

const golden: { threshold: number; minClusterSize: number; cases: PipelineCase[] } = JSON.parse(
  readFileSync(fileURLToPath(new URL("./fixtures/pipeline/cases.json", import.meta.url)), "utf8"),
);

function localResults(c: PipelineCase): LocalResults {
  const binarized = new Uint8Array(c.numChunks * FRAMES * LOCAL_SPEAKERS);
  c.chunks.forEach((pairs, chunk) => {
    let f = 0;
    for (const [cls, n] of pairs) {
      for (let i = 0; i < n; i++, f++) {
        for (const s of POWERSET[cls]) binarized[(chunk * FRAMES + f) * LOCAL_SPEAKERS + s] = 1;
      }
    }
    assert.equal(f, FRAMES);
  });
  const q = new Int8Array(bytes(c.embeddings).buffer);
  const embeddings = new Float32Array(c.numChunks * LOCAL_SPEAKERS * EMBEDDING_DIM);
  q.forEach((v, i) => {
    embeddings[Math.floor(i / USED) * EMBEDDING_DIM + (i % USED)] = v * c.scale;
  });
  return { numSamples: c.numSamples, numChunks: c.numChunks, numFrames: FRAMES, binarized, embeddings };
}

/** pipeline.ts's reading of the speaker counts, which is pyannote's set_num_speakers. */
function countOptions(o: PipelineCase["runs"][number]["options"]): Partial<GlobalOptions> {
  const minSpeakers = o.num_speakers ?? o.min_speakers ?? 1;
  const maxSpeakers = o.num_speakers ?? o.max_speakers ?? Infinity;
  return { minSpeakers, maxSpeakers, numSpeakers: minSpeakers === maxSpeakers ? minSpeakers : undefined };
}

function assertSame(c: PipelineCase, options: GlobalOptions, want: Output): void {
  const local = localResults(c);
  const got = diarizeLocalResults(local, options);
  const duration = c.numSamples / 16000;
  // Documented difference: turns are clipped to the audio (pyannote's can run into the last chunk's padding).
  const wanted = want.segments.filter(([, start]) => start < duration)
    .map(([label, start, end]): [string, number, number] => [label, start, Math.min(end, duration)]);
  assert.equal(got.segments.length, wanted.length, "number of turns");
  // Speakers are named differently (first appearance here, sorted cluster index there): match them by
  // their turns, which must be the same float64 values.
  const turnsBy = (rows: [string, number, number][]) => {
    const out = new Map<string, string>();
    for (const [label, start, end] of rows) out.set(label, `${out.get(label) ?? ""}${start}-${end};`);
    return out;
  };
  const ours = turnsBy(got.segments.map((s) => [s.speaker, s.start, s.end]));
  const theirs = turnsBy(wanted);
  const byTurns = new Map([...theirs].map(([label, turns]) => [turns, label]));
  assert.equal(ours.size, theirs.size, "number of speakers");
  const mapping = new Map<string, string>();
  for (const [speaker, turns] of ours) {
    const label = byTurns.get(turns);
    assert.ok(label !== undefined, `${speaker}'s turns ${turns} are no pyannote speaker's`);
    mapping.set(speaker, label);
  }
  assert.equal(new Set(mapping.values()).size, mapping.size, "one pyannote speaker per speaker");
  // Centroids: pyannote pads zeros for the speakers beyond the clusters, we give null.
  got.speakers.forEach((speaker, i) => {
    const row = new Float32Array(bytes(want.centroids[want.labels.indexOf(mapping.get(speaker)!)]).buffer);
    const ours = got.speakerEmbeddings[i];
    if (ours === null) {
      assert.ok(row.every((v) => v === 0), `${speaker}: pyannote has a centroid, we have none`);
      return;
    }
    assert.deepEqual(ours.subarray(0, USED), row, `${speaker}'s centroid`);
    assert.ok(ours.subarray(USED).every((v) => v === 0));
  });
}

describe("diarizeLocalResults vs pyannote.audio 3.3.2's SpeakerDiarization.apply", () => {
  assert.equal(golden.threshold, DIARIZATION_31_CLUSTERING.threshold);
  assert.equal(golden.minClusterSize, DIARIZATION_31_CLUSTERING.minClusterSize);
  for (const c of golden.cases) {
    for (const run of c.runs) {
      const name = `${c.name} ${JSON.stringify(run.options)}`;
      test(`${name}, numpy-generic`, () => {
        assertSame(c, options("numpy-generic", countOptions(run.options)), run.generic);
      });
      test(`${name}, numpy-x86-simd${run.x86 ? " (differs)" : ""}`, () => {
        assertSame(c, options("numpy-x86-simd", countOptions(run.options)), run.x86 ?? run.generic);
      });
    }
  }
});
