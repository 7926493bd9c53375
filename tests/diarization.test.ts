// The diarization pipeline end to end on generated weights: trunk sharing against one network pass per
// speaker, options, progress, cancellation, bad input, the CLI, and real speech from ../shared/data
// (skipped when absent). No accuracy claim is possible without the pretrained weights.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, test } from "node:test";
import { loadAudio } from "../lib/audio/load.ts";
import { diarizationErrorRate } from "../lib/formats/der.ts";
import { diarizeLocalResults } from "../lib/diarization/global.ts";
import { DiarizationPipeline } from "../lib/diarization/pipeline.ts";
import type { DiarizationResult } from "../lib/diarization/result.ts";
import type { WeSpeakerError } from "../lib/errors.ts";
import { fbank } from "../lib/audio/fbank.ts";
import { WeSpeakerModel } from "../lib/model.ts";
import { parseRTTM } from "../lib/formats/rttm.ts";
import { segmentationWaveform } from "./helpers/segmentation_inputs.ts";
import { runCliAsync } from "./helpers/runtime.ts";
import { tensorsOf, testSegmentationWeights, testWeights } from "./helpers/weights.ts";

const speech = fileURLToPath(new URL("../../shared/data/speech/", import.meta.url));
const haveSpeech = existsSync(`${speech}sample.wav`);

async function pipeline(): Promise<DiarizationPipeline> {
  return await DiarizationPipeline.load(await testSegmentationWeights(), testWeights().path);
}

// 12 s of deterministic speech-like audio: 3 chunks at a 1 s step, 2 at a 5 s step (the second padded).
const audio = segmentationWaveform({ kind: "speech", seed: 7 }, 12 * 16000);

function checkResult(result: DiarizationResult, duration: number): void {
  assert.equal(result.duration, duration);
  for (const s of result.segments) {
    assert.ok(s.start >= 0 && s.start <= s.end && s.end <= duration, JSON.stringify(s));
    assert.ok(result.speakers.includes(s.speaker));
  }
  // Labels number speakers in order of first appearance.
  const firsts = result.speakers.map((sp) => result.segments.find((s) => s.speaker === sp)!.start);
  assert.deepEqual(firsts, [...firsts].sort((a, b) => a - b));
  result.speakers.forEach((sp, i) => assert.equal(sp, `SPEAKER_${String(i).padStart(2, "0")}`));
  assert.equal(result.speakerEmbeddings.length, result.speakers.length);
  const rttm = parseRTTM(result.toRTTM("clip"), "toRTTM").get("clip") ?? [];
  assert.equal(rttm.length, result.segments.length);
  const json = JSON.parse(JSON.stringify(result));
  assert.deepEqual(json.speakers, result.speakers);
  assert.equal(json.segments.length, result.segments.length);
}

describe("diarization pipeline", () => {
  test("shared trunk: per-speaker embeddings equal separate full passes (cosine >= 0.99999)", async () => {
    using p = await pipeline();
    const features = fbank(segmentationWaveform({ kind: "speech", seed: 3 }));
    const frames = 589;
    const masks = new Float32Array(3 * frames);
    for (let f = 0; f < frames; f++) {
      masks[f] = f % 7 < 4 ? 1 : 0; // speaker 0: scattered frames
      masks[frames + f] = f >= 100 && f < 400 ? 1 : 0; // speaker 1: one turn
    }
    // Speaker 2 speaks in one frame that no trunk frame samples (589 → 125 by nearest neighbour).
    masks[2 * frames + 2] = 1;
    const options = { raw: true, allowEmptyMasks: true };
    const shared = p.embedding.embedMasked([features], masks, 3, options);
    for (let s = 0; s < 3; s++) {
      const alone = p.embedding.embedMasked(
        [features],
        masks.subarray(s * frames, (s + 1) * frames),
        1,
        options,
      );
      const row = shared.subarray(s * 256, (s + 1) * 256);
      assert.ok(
        WeSpeakerModel.cosineSimilarity(row, alone) >= 0.99999,
        `speaker ${s}: cosine ${WeSpeakerModel.cosineSimilarity(row, alone)}`,
      );
      for (let i = 0; i < 256; i++) assert.ok(Math.abs(row[i] - alone[i]) <= 1e-5 * (1 + Math.abs(alone[i])));
    }
    // pyannote's StatsPool on a mask with no weight left: zero statistics, so the last layer's bias.
    const bias = tensorsOf(testWeights().bytes)["embedding.bias"].data;
    assert.deepEqual(shared.subarray(512, 768), bias);
    assert.throws(
      () => p.embedding.embedMasked([features], masks, 3, { raw: true }),
      (e: WeSpeakerError) => e.code === "invalid-argument" && /weights\[0, 2\] are zero/.test(e.message),
    );
    const shorter = fbank(segmentationWaveform({ kind: "speech", seed: 3 }, 5 * 16000));
    assert.throws(
      () => p.embedding.embedMasked([features, shorter], new Float32Array(2 * frames), 1, options),
      (e: WeSpeakerError) =>
        e.code === "invalid-argument" &&
        /clip 1 has 498 frames, clip 0 has 998: embedMasked needs equal lengths/
          .test(e.message),
    );
    assert.throws(
      () => p.embedding.embedMasked([features], new Float32Array(3 * frames + 1), 3, options),
      (e: WeSpeakerError) =>
        e.code === "invalid-argument" &&
        /weights hold 1768 values, not 1 clips x 3 masks x W frames/.test(e.message),
    );
    assert.throws(
      () => p.embedding.embedMasked([], masks, 3, options),
      (e: WeSpeakerError) => e.code === "invalid-argument" && /at least one clip/.test(e.message),
    );
  });

  test("shareTrunk: false (one pass per speaker, as pyannote) gives the same diarization", async () => {
    using p = await pipeline();
    const shared = await p.diarize(audio, 16000, { step: 5 });
    const separate = await p.diarize(audio, 16000, { step: 5, shareTrunk: false });
    assert.deepEqual(separate.segments, shared.segments);
    assert.deepEqual(separate.speakers, shared.speakers);
    shared.speakerEmbeddings.forEach((e, i) =>
      assert.ok(WeSpeakerModel.cosineSimilarity(e!, separate.speakerEmbeddings[i]!) >= 0.99999)
    );
    checkResult(shared, 12);
  });

  test("chunks where nobody speaks get no trunk pass, and the output is pyannote's all the same", async () => {
    using p = await pipeline();
    // 10 s of speech, 13 s of digital silence (the test model finds nobody there), 10 s of speech: the
    // chunks starting at 10, 11, 12 and 13 s hear nothing at all.
    const gap = new Float32Array(33 * 16000);
    gap.set(segmentationWaveform({ kind: "speech", seed: 7 }, 10 * 16000));
    gap.set(segmentationWaveform({ kind: "speech", seed: 8 }, 10 * 16000), 23 * 16000);
    const embedded: number[] = [];
    const original = p.embedding.embedMaskedAsync.bind(p.embedding);
    p.embedding.embedMaskedAsync = (fbanks, ...rest) => {
      embedded.push(fbanks.length);
      return original(fbanks, ...rest);
    };
    const shared = await p.diarize(gap, 16000, { batchSize: 5 });
    const trunkPasses = embedded.reduce((a, b) => a + b, 0);
    assert.equal(trunkPasses, 24 - 4, `${embedded.join(" + ")} trunk passes for 24 chunks, 4 of them silent`);
    const separate = await p.diarize(gap, 16000, { batchSize: 5, shareTrunk: false });
    assert.deepEqual(separate.segments, shared.segments);
    assert.deepEqual(separate.speakers, shared.speakers);
    // Pooling once per speaker from the shared trunk rounds differently from separate passes (test above);
    // a speaker the count adds beyond the clusters has no embedding in either.
    shared.speakerEmbeddings.forEach((e, i) => {
      const other = separate.speakerEmbeddings[i];
      if (e === null || other === null) assert.equal(e, other);
      else assert.ok(WeSpeakerModel.cosineSimilarity(e, other) >= 0.99999);
    });
    checkResult(shared, 33);
  });

  test("fast mode, off by default: chunks every 2 s, one trunk pass per batch over its stretch of audio", async () => {
    using p = await pipeline();
    const calls: { clips: number; frames: number; rows: number }[] = [];
    const original = p.embedding.embedMaskedAsync.bind(p.embedding);
    p.embedding.embedMaskedAsync = (fbanks, weights, numMasks, ...rest) => {
      calls.push({ clips: fbanks.length, frames: fbanks[0].frames, rows: numMasks });
      return original(fbanks, weights, numMasks, ...rest);
    };
    // 12 s at a 2 s step: chunks at 0 and 2 s, one batch, so one pass over the 12 s and 2 x 3 poolings.
    const fast = await p.diarize(audio, 16000, { fast: true });
    assert.deepEqual(calls, [{ clips: 1, frames: fbank(audio).frames, rows: 6 }]);
    checkResult(fast, 12);
    calls.length = 0;
    await p.diarize(audio, 16000); // exact mode: a 1 s step, a pass per chunk
    assert.deepEqual(calls.map((c) => c.clips), [3]);
    await assert.rejects(
      p.diarize(audio, 16000, { fast: true, shareTrunk: false }),
      (e: WeSpeakerError) => e.code === "invalid-argument" && /fast mode shares the trunk/.test(e.message),
    );
  });

  test("turns never run past the end of the audio (the last chunk's zero padding is cut off)", async () => {
    using p = await pipeline();
    // One sample past 10 s: the second chunk is almost all padding.
    const result = await p.diarize(segmentationWaveform({ kind: "speech", seed: 9 }, 160001), 16000);
    checkResult(result, 160001 / 16000);
  });

  test("progress stages in order, the event loop keeps running, an AbortSignal stops it with 'aborted'", async () => {
    using p = await pipeline();
    const stages: string[] = [];
    // The models run off the JavaScript thread: timers keep firing while it works.
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    await p.diarize(audio, 16000, {
      batchSize: 1,
      onProgress: ({ stage, done, total }) => {
        assert.ok(total === undefined || done <= total);
        if (stages.at(-1) !== stage) stages.push(stage);
      },
    });
    clearInterval(timer);
    assert.ok(ticks >= 10, `only ${ticks} timer ticks while diarizing`);
    assert.deepEqual(stages.slice(0, 2), ["segmentation", "embeddings"]);
    assert.deepEqual(stages.slice(-2), ["clustering", "reconstruction"]);
    const controller = new AbortController();
    await assert.rejects(
      p.diarize(audio, 16000, {
        batchSize: 1,
        signal: controller.signal,
        onProgress: () => controller.abort(),
      }),
      (e: WeSpeakerError) => e.code === "aborted",
    );
  });

  test("bad input and options are named", async () => {
    using p = await pipeline();
    const rejects = (promise: Promise<unknown>, pattern: RegExp) =>
      assert.rejects(
        promise,
        (e: WeSpeakerError) => e.code === "invalid-argument" && pattern.test(e.message),
      );
    await rejects(p.diarize(audio, 16000, { minSpeakers: 3, maxSpeakers: 2 }), /minSpeakers must be smaller/);
    await rejects(p.diarize(audio, 16000, { numSpeakers: 0 }), /numSpeakers must be a positive integer/);
    await rejects(p.diarize(audio, 16000, { step: 0 }), /step must be in/);
    await rejects(p.diarize(audio, 16000, { minDurationOff: -1 }), /minDurationOff/);
    await assert.rejects(
      p.diarize(new Float32Array(0), 16000),
      (e: WeSpeakerError) => /empty/.test(e.message),
    );
    const bad = audio.slice();
    bad[40000] = NaN;
    await rejects(p.diarize(bad, 16000), /sample 40000.*NaN/);
    await assert.rejects(p.diarizeFile("/nonexistent.wav"), (e: WeSpeakerError) => e.code === "io");
    p.close();
    await assert.rejects(p.diarize(audio, 16000), (e: WeSpeakerError) => e.code === "closed");
  });

  test("past SciPy's limit (46,344 active pairs, 4.3 hours): clusters in linear memory, with progress", {
    timeout: 600_000,
  }, () => {
    // Every pair active with the same embedding: ties everywhere, the hardest input for the linkage's tree.
    const numChunks = 15448, numFrames = 589;
    const local = {
      numSamples: (numChunks + 9) * 16000,
      numChunks,
      numFrames,
      binarized: new Uint8Array(numChunks * numFrames * 3).fill(1),
      embeddings: new Float32Array(numChunks * 3 * 256).fill(1),
    };
    const clustering: [number, number | undefined][] = [];
    const result = diarizeLocalResults(local, {
      chunkDuration: 10,
      chunkStep: 1,
      numSpeakers: undefined,
      minSpeakers: 1,
      maxSpeakers: Infinity,
      minDurationOff: 0,
      clustering: { method: "AgglomerativeClustering", threshold: 0.7, minClusterSize: 12 },
      tieOrder: "numpy-generic",
      label: "long.wav",
      onProgress: ({ stage, done, total }) => stage === "clustering" && clustering.push([done, total]),
    });
    // One cluster (the count asks for 3 speakers at once: the other two are the count's, without embedding).
    assert.equal(result.speakerEmbeddings.filter((e) => e !== null).length, 1);
    assert.ok(result.segments.length > 0);
    assert.deepEqual(clustering[0], [0, 2 * 46344]);
    assert.deepEqual(clustering.at(-1), [2 * 46344, 2 * 46344]);
    assert.ok(clustering.length > 10, `${clustering.length} clustering reports`);
  });

  test("real speech (../shared/data): valid RTTM, speaker counts honoured, file = memory, scorer runs", {
    skip: !haveSpeech && "../shared/data/speech is absent",
  }, async () => {
    using p = await pipeline();
    const file = `${speech}sample.wav`;
    const { samples, sampleRate } = await loadAudio(file);
    const duration = samples.length / sampleRate;
    const two = await p.diarizeFile(file, { numSpeakers: 2 });
    checkResult(two, duration);
    assert.equal(two.speakers.length, 2);
    assert.deepEqual((await p.diarize(samples, sampleRate, { numSpeakers: 2 })).segments, two.segments);
    const one = await p.diarizeFile(file, { maxSpeakers: 1 });
    assert.ok(one.speakers.length <= 1);
    const exclusive = two.exclusiveSegments;
    assert.ok(exclusive.length > 0 && exclusive.every((s) => two.speakers.includes(s.speaker)));
    for (let i = 1; i < exclusive.length; i++) {
      assert.ok(exclusive[i].start >= exclusive[i - 1].end - 1e-9, "exclusive turns overlap");
    }
    const reference = parseRTTM(readFileSync(`${speech}sample.rttm`, "utf8")).values().next().value!;
    const der = diarizationErrorRate(reference, two.segments);
    assert.ok(Number.isFinite(der.der) && der.der >= 0 && der.total > 0);
  });

  test("CLI: diarize --json and RTTM output under this runtime", {
    skip: !haveSpeech && "../shared/data/speech is absent",
  }, async () => {
    const seg = await testSegmentationWeights();
    // speaker-diarization-3.1's config in a directory, its two models given instead of the Hub's.
    const dir = mkdtempSync(join(tmpdir(), "wespeaker-3.1-"));
    writeFileSync(
      join(dir, "config.yaml"),
      readFileSync(new URL("./fixtures/pipelines/3.1.config.yaml", import.meta.url)),
    );
    const args = [
      "diarize",
      "--pipeline",
      dir,
      "--segmentation",
      seg,
      "--weights",
      testWeights().path,
      `${speech}ami_dev00.wav`,
    ];
    const rttm = await runCliAsync([...args, "--num-speakers", "2"]);
    assert.equal(rttm.status, 0, rttm.stderr);
    const turns = parseRTTM(rttm.stdout, "stdout").get("ami_dev00") ?? [];
    assert.ok(turns.length > 0);
    assert.equal(new Set(turns.map((t) => t.speaker)).size, 2);
    const json = await runCliAsync([...args, "--json", "--max-speakers", "3", "--fast"]);
    assert.equal(json.status, 0, json.stderr);
    const parsed = JSON.parse(json.stdout);
    assert.equal(parsed.file, `${speech}ami_dev00.wav`);
    assert.ok(parsed.speakers.length <= 3 && parsed.speakerEmbeddings.length === parsed.speakers.length);
    assert.ok(Array.isArray(parsed.exclusiveSegments));
    const usage = await runCliAsync(["diarize", `${speech}ami_dev00.wav`, "--num-speakers", "two"]);
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /--num-speakers must be a positive integer/);
    for (
      const [args, message] of [
        [["diarize"], /diarize takes at least 1 FILE, got 0/],
        [["diarize", "a.wav", "--rttm", "--json"], /give --rttm or --json, not both/],
        [["diarize", "a.wav", "--step=-1"], /--step must be a number of seconds >= 0, got '-1'/],
        [
          ["diarize", "a.wav", "--min-duration-off", "x"],
          /--min-duration-off must be a number of seconds >= 0/,
        ],
      ] as const
    ) {
      const bad = await runCliAsync([...args]);
      assert.equal(bad.status, 2, bad.stderr);
      assert.match(bad.stderr, message);
    }
  });
});
