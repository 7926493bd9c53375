// Long audio with bounded memory: openWavStream against decodeWav, StreamingResampler against resample,
// embedWindows against per-window embed, and peak RSS of child processes streaming generated files far
// larger than what they may hold.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";

import { loadAudio } from "../lib/audio/load.ts";
import { WeSpeakerError } from "../lib/errors.ts";
import { WeSpeakerModel } from "../lib/model.ts";
import { resample, StreamingResampler } from "../lib/audio/resample.ts";
import { decodeWav } from "../lib/audio/wav.ts";
import { openWavStream, type WavStream } from "../lib/audio/wav_stream.ts";
import { embedWindows, type WindowEmbedding, type WindowOptions } from "../lib/windows.ts";
import { hashCodes } from "./helpers/long_audio_child.ts";
import { repoRoot, scriptArgs } from "./helpers/runtime.ts";
import { chunk, concat, encodeWav, fmtBody, randomInts, rf64Pcm16, riff } from "./helpers/wav_writer.ts";
import { testWeights } from "./helpers/weights.ts";

const noProcStatus = existsSync("/proc/self/status")
  ? false
  : "peak RSS is read from /proc/self/status (Linux)";

async function withTempDir<T>(fn: (dir: string) => T | Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "wespeaker-long-"));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function concatF32(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Bit-for-bit equality (so -0 vs 0 and NaN payloads count), naming the first difference. */
function assertSameBits(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  const a = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const b = new Uint32Array(want.buffer, want.byteOffset, want.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) assert.fail(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
  }
}

async function readAll(stream: WavStream): Promise<Float32Array> {
  const parts: Float32Array[] = [];
  for await (const part of stream) parts.push(part);
  return concatF32(parts);
}

/** openWavStream on the file agrees with decodeWav on its bytes: same samples and info, or same error. */
async function assertStreamMatches(dir: string, name: string, bytes: Uint8Array, chunkFrames?: number) {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  let want;
  try {
    want = decodeWav(bytes, path);
  } catch (err) {
    assert.ok(err instanceof WeSpeakerError, `${name}: decodeWav threw ${err}`);
    await assert.rejects(openWavStream(path, { chunkFrames }), (e: unknown) => {
      assert.ok(e instanceof WeSpeakerError, `${name}: expected WeSpeakerError, got ${e}`);
      assert.equal(e.code, err.code, name);
      assert.equal(e.message, err.message, name);
      return true;
    });
    return;
  }
  const stream = await openWavStream(path, { chunkFrames });
  assert.deepEqual(stream.info, want.info, name);
  assert.equal(stream.sampleRate, want.sampleRate, name);
  assertSameBits(await readAll(stream), want.samples, `${name}, chunks of ${chunkFrames ?? "default"}`);
}

const FRAMES = 301;
const FORMATS = [
  { format: "pcm", bits: 8, values: (seed: number) => randomInts(FRAMES, 0, 255, seed) },
  { format: "pcm", bits: 16, values: (seed: number) => randomInts(FRAMES, -32768, 32767, seed) },
  { format: "pcm", bits: 24, values: (seed: number) => randomInts(FRAMES, -8388608, 8388607, seed) },
  { format: "pcm", bits: 32, values: (seed: number) => randomInts(FRAMES, -2147483648, 2147483647, seed) },
  {
    format: "float",
    bits: 32,
    values: (seed: number) => randomInts(FRAMES, -1e6, 1e6, seed).map((v) => v / 1e6),
  },
  {
    format: "float",
    bits: 64,
    values: (seed: number) => randomInts(FRAMES, -1e6, 1e6, seed).map((v) => v / 3e5),
  },
] as const;

describe("openWavStream equals decodeWav", () => {
  test("every encoding, EXTENSIBLE or not, 1/2/6 channels, chunks of 1, 7, 97 frames and the default", async () => {
    await withTempDir(async (dir) => {
      for (const f of FORMATS) {
        for (const extensible of [false, true]) {
          for (const nch of [1, 2, 6]) {
            const chans = Array.from({ length: nch }, (_, c) => f.values(100 + c));
            const bytes = encodeWav(chans, { sampleRate: 22050, format: f.format, bits: f.bits, extensible });
            for (const chunkFrames of [1, 7, 97, undefined]) {
              await assertStreamMatches(
                dir,
                `${f.format}${f.bits}-${extensible}-${nch}.wav`,
                bytes,
                chunkFrames,
              );
            }
          }
        }
      }
    });
  });

  test("layouts: extra and odd-sized chunks, missing pad byte, data before fmt, partial frames, RF64", async () => {
    const codes = randomInts(FRAMES, -32768, 32767, 7);
    const pcm = new Uint8Array(new Int16Array(codes).buffer);
    const fmt = chunk("fmt ", fmtBody({ tag: 1, channels: 1, sampleRate: 16000, bits: 16 }));
    const spec = { sampleRate: 16000, format: "pcm", bits: 16 } as const;
    const files: Record<string, Uint8Array> = {
      "fmt18": encodeWav([codes], { ...spec, format: "float", bits: 32, fmtSize: 18 }),
      "extra chunks": encodeWav([codes], {
        ...spec,
        beforeFmt: [{ id: "JUNK", body: new Uint8Array(27) }],
        beforeData: [{ id: "LIST", body: new Uint8Array(18) }, {
          id: "fact",
          body: new Uint8Array(5).fill(0xff),
        }],
        afterData: [{ id: "LIST", body: new Uint8Array(13).fill(0x41) }],
      }),
      "no pad byte": riff([
        fmt,
        chunk("LIST", new Uint8Array(5).fill(0x7a), undefined, false),
        chunk("data", pcm),
      ]),
      "data before fmt": riff([chunk("data", pcm), fmt]),
      "partial last frame": encodeWav([codes.slice(0, 150), codes.slice(150, 300)], {
        ...spec,
        dataSizeField: 4 * 150 - 3,
      }),
      "streaming 0xFFFFFFFF": encodeWav([codes], {
        ...spec,
        dataSizeField: 0xffffffff,
        riffSizeField: 0xffffffff,
      }),
      "streaming 0": encodeWav([codes], { ...spec, dataSizeField: 0, riffSizeField: 0 }),
      "streaming 0, half frame": concat([
        encodeWav([codes], { ...spec, dataSizeField: 0, riffSizeField: 0 }),
        new Uint8Array(1),
      ]),
      "empty data": encodeWav([[]], { ...spec, afterData: [{ id: "LIST", body: new Uint8Array(10) }] }),
      "RF64": rf64Pcm16(pcm),
    };
    await withTempDir(async (dir) => {
      for (const [name, bytes] of Object.entries(files)) {
        for (const chunkFrames of [1, 7, 97]) {
          await assertStreamMatches(dir, `${name}.wav`, bytes, chunkFrames);
        }
      }
    });
  });

  test("errors: same code and message as decodeWav (bad headers, truncation at every offset, corruption)", async () => {
    const fmt16 = chunk("fmt ", fmtBody({ tag: 1, channels: 1, sampleRate: 16000, bits: 16 }));
    const data = chunk("data", new Uint8Array(64));
    const withFmt = (f: Parameters<typeof fmtBody>[0]) => riff([chunk("fmt ", fmtBody(f)), data]);
    const bad: Record<string, Uint8Array> = {
      "not RIFF": riff([fmt16, data], { magic: "RIFX" }),
      "not WAVE": riff([fmt16, data], { form: "AVI " }),
      "no fmt": riff([data]),
      "no data": riff([fmt16, chunk("LIST", new Uint8Array(4))]),
      "A-law": withFmt({ tag: 6, channels: 1, sampleRate: 8000, bits: 8 }),
      "EXTENSIBLE ADPCM": withFmt({ tag: 0xfffe, channels: 1, sampleRate: 8000, bits: 16, subFormat: 2 }),
      "12 bits": withFmt({ tag: 1, channels: 1, sampleRate: 8000, bits: 12, blockAlign: 2 }),
      "no channels": withFmt({ tag: 1, channels: 0, sampleRate: 8000, bits: 16, blockAlign: 2 }),
      "rate 0": withFmt({ tag: 1, channels: 1, sampleRate: 0, bits: 16 }),
      "block align": withFmt({ tag: 1, channels: 2, sampleRate: 8000, bits: 16, blockAlign: 2 }),
      "short fmt": riff([
        chunk("fmt ", fmtBody({ tag: 1, channels: 1, sampleRate: 8000, bits: 16, size: 14 })),
        data,
      ]),
      "truncated data": riff([fmt16, chunk("data", new Uint8Array(100), 1000)]),
      "100 GB claim": riff([fmt16, chunk("data", new Uint8Array(8), 0xfffffff0)]),
      "4 bytes": new Uint8Array(4),
    };
    const file = encodeWav([randomInts(50, -32768, 32767, 14), randomInts(50, -32768, 32767, 15)], {
      sampleRate: 44100,
      format: "pcm",
      bits: 16,
      extensible: true,
      beforeFmt: [{ id: "JUNK", body: new Uint8Array(9) }],
      beforeData: [{ id: "LIST", body: new Uint8Array(21) }],
    });
    await withTempDir(async (dir) => {
      for (const [name, bytes] of Object.entries(bad)) {
        await assertStreamMatches(dir, `${name}.wav`, bytes, 7);
      }
      // Every cut through the header and a few through the data: each decodes or fails identically.
      for (let k = 0; k <= file.length - 190; k++) {
        await assertStreamMatches(dir, "cut.wav", file.subarray(0, k), 7);
      }
      const rnd = randomInts(3 * 200, 0, 0x7fffffff, 16);
      for (let it = 0; it < 200; it++) {
        const mutated = file.slice();
        mutated[rnd[3 * it] % 120] = rnd[3 * it + 1] & 0xff;
        if (rnd[3 * it + 2] % 2) mutated[(rnd[3 * it] + 4) % 120] = 0xff;
        await assertStreamMatches(dir, "mutated.wav", mutated, 7);
      }
    });
  });

  test("a missing file is an io error naming the path; chunkFrames must be a positive integer", async () => {
    const path = join(tmpdir(), "wespeaker-no-such-dir", "missing.wav");
    await assert.rejects(openWavStream(path), (e: unknown) => {
      assert.ok(e instanceof WeSpeakerError && e.code === "io" && e.message.includes(path), String(e));
      return true;
    });
    for (const chunkFrames of [0, -1, 1.5, NaN]) {
      await assert.rejects(openWavStream(path, { chunkFrames }), (e: unknown) => {
        assert.ok(e instanceof WeSpeakerError && e.code === "invalid-argument", String(e));
        return true;
      });
    }
  });

  test("read once: the file closes when iteration ends or breaks; close() is idempotent", async () => {
    const bytes = encodeWav([randomInts(FRAMES, -32768, 32767, 3)], {
      sampleRate: 16000,
      format: "pcm",
      bits: 16,
    });
    await withTempDir(async (dir) => {
      const path = join(dir, "once.wav");
      writeFileSync(path, bytes);
      const openFds = () => existsSync("/proc/self/fd") ? readdirSync("/proc/self/fd").length : 0;
      const before = openFds();
      for (let i = 0; i < 20; i++) {
        const stream = await openWavStream(path, { chunkFrames: 10 });
        for await (const _ of stream) break;
        assert.throws(
          () => stream[Symbol.asyncIterator](),
          (e: unknown) => e instanceof WeSpeakerError && e.code === "closed",
        );
        await stream.close();
      }
      for (let i = 0; i < 20; i++) await (await openWavStream(path)).close();
      assert.equal(openFds(), before, "file descriptors leaked");
    });
  });
});

describe("StreamingResampler equals resample", () => {
  const sizes = [0, 1, 2, 3, 17, 160, 441, 1000, 4099, 20000];
  for (const from of [8000, 22050, 44100, 48000, 16000]) {
    test(`${from} -> 16000 in random chunks`, () => {
      const resampler = new StreamingResampler(from, 16000);
      // Twice through one resampler: flush readies it for a new signal.
      for (const [n, seed] of [[Math.round(from * 2.3) + 7, 1], [1234, 2]]) {
        const x = Float32Array.from(randomInts(n, -1e6, 1e6, seed), (v) => v / 1e6);
        const cuts = randomInts(n, 0, sizes.length - 1, seed + 10);
        const parts: Float32Array[] = [];
        for (let i = 0, c = 0; i < n; c++) {
          const size = sizes[cuts[c]];
          parts.push(resampler.push(x.subarray(i, i + size)));
          i += size;
        }
        parts.push(resampler.flush());
        assertSameBits(concatF32(parts), resample(x, from, 16000), `${from} Hz, ${n} samples`);
      }
    });
  }

  test("short and empty signals; bad rates and chunks", () => {
    for (const n of [0, 1, 2, 5]) {
      const x = Float32Array.from({ length: n }, (_, i) => i + 1);
      const r = new StreamingResampler(44100, 16000);
      assertSameBits(
        concatF32([...Array.from(x, (_, i) => r.push(x.subarray(i, i + 1))), r.flush()]),
        resample(x, 44100, 16000),
        `n=${n}`,
      );
    }
    for (const rate of [0, -1, 1.5, NaN]) {
      assert.throws(
        () => new StreamingResampler(rate, 16000),
        (e: unknown) => e instanceof WeSpeakerError && e.code === "invalid-argument",
      );
    }
    const r = new StreamingResampler(8000, 16000);
    assert.throws(
      () => r.push([1, 2] as unknown as Float32Array),
      (e: unknown) => e instanceof WeSpeakerError && e.code === "invalid-argument",
    );
  });
});

describe("embedWindows equals per-window embed", () => {
  async function collect(
    model: WeSpeakerModel,
    source: Parameters<typeof embedWindows>[1],
    options: WindowOptions,
  ): Promise<WindowEmbedding[]> {
    const out: WindowEmbedding[] = [];
    for await (const w of embedWindows(model, source, options)) out.push(w);
    return out;
  }

  function assertWindows(
    got: WindowEmbedding[],
    samples: Float32Array,
    model: WeSpeakerModel,
    spans: number[][],
  ) {
    assert.deepEqual(got.map((w) => [w.start, w.end]), spans);
    for (const w of got) {
      const clip = samples.subarray(Math.round(w.start * 16000), Math.round(w.end * 16000));
      assertSameBits(w.embedding, model.embed(clip, 16000), `window ${w.start}-${w.end} s`);
    }
  }

  test("a 24.3 s 22.05 kHz stereo file, windows of 10 s every 5 s", async () => {
    using model = await WeSpeakerModel.load(testWeights().path);
    const frames = Math.round(24.3 * 22050);
    const left = Array.from(
      { length: frames },
      (_, i) => Math.round(9000 * Math.sin(i / 11) + 3000 * Math.sin(i / 3.7)),
    );
    const right = randomInts(frames, -4000, 4000, 21);
    await withTempDir(async (dir) => {
      const path = join(dir, "stereo.wav");
      writeFileSync(path, encodeWav([left, right], { sampleRate: 22050, format: "pcm", bits: 16 }));
      const got = await collect(model, path, { windowSeconds: 10, hopSeconds: 5, batchSize: 3 });
      assertWindows(got, (await loadAudio(path)).samples, model, [[0, 10], [5, 15], [10, 20], [15, 24.3]]);
    });
  });

  test("Float32Array and chunked sources agree; the tail is kept from 1680 samples (0.105 s)", async () => {
    using model = await WeSpeakerModel.load(testWeights().path);
    const x = Float32Array.from(randomInts(Math.round(9.3 * 16000), -1e6, 1e6, 31), (v) => v / 4e6);
    const spans = [[0, 2], [1.5, 3.5], [3, 5], [4.5, 6.5], [6, 8], [7.5, 9.3]];
    const whole = await collect(model, x, { windowSeconds: 2, hopSeconds: 1.5, batchSize: 4 });
    assertWindows(whole, x, model, spans);
    const sizes = randomInts(200, 0, 9000, 32);
    async function* chunks() {
      for (let i = 0, c = 0; i < x.length; i += sizes[c++]) yield x.slice(i, i + sizes[c]);
    }
    const chunked = await collect(model, chunks(), { windowSeconds: 2, hopSeconds: 1.5, batchSize: 5 });
    assert.deepEqual(chunked, whole);

    const tail = (n: number, options: WindowOptions) =>
      collect(model, x.subarray(0, n), options).then((ws) => ws.map((w) => [w.start, w.end]));
    assert.deepEqual(await tail(2 * 16000 + 1679, { windowSeconds: 1 }), [[0, 1], [1, 2]]);
    assert.deepEqual(await tail(2 * 16000 + 1680, { windowSeconds: 1 }), [[0, 1], [1, 2], [2, 2.105]]);
    assert.deepEqual(await tail(1679, {}), []);
    // Overlapping windows: a tail the last full window already covers is not embedded again.
    assert.deepEqual(await tail(3 * 16000, { windowSeconds: 2, hopSeconds: 1 }), [[0, 2], [1, 3]]);
    // Gaps (hop > window): the skipped audio is never part of a window.
    assert.deepEqual(await tail(Math.round(3.3 * 16000), { windowSeconds: 0.5, hopSeconds: 1.25 }), [
      [0, 0.5],
      [1.25, 1.75],
      [2.5, 3],
    ]);
    const gaps = await collect(model, x.subarray(0, 4 * 16000), { windowSeconds: 0.5, hopSeconds: 1.25 });
    assertWindows(gaps, x, model, [[0, 0.5], [1.25, 1.75], [2.5, 3], [3.75, 4]]);
  });

  test("errors: bad options, NaN samples, abort, closed model", async () => {
    const model = await WeSpeakerModel.load(testWeights().path);
    const x = new Float32Array(3 * 16000);
    const rejects = (options: WindowOptions, code: string, source: Parameters<typeof embedWindows>[1] = x) =>
      assert.rejects(collect(model, source, options), (e: unknown) => {
        assert.ok(e instanceof WeSpeakerError, String(e));
        assert.equal(e.code, code, e.message);
        return true;
      });
    await rejects({ windowSeconds: 0.1 }, "invalid-argument"); // 8 fbank frames, the model needs 9
    await rejects({ hopSeconds: 0 }, "invalid-argument");
    await rejects({ batchSize: 0 }, "invalid-argument");
    await rejects({ signal: AbortSignal.abort() }, "aborted");
    const nan = x.slice();
    nan[20000] = NaN;
    await rejects({ windowSeconds: 1 }, "invalid-argument", nan);
    await rejects({}, "invalid-argument", [[1, 2]] as unknown as Iterable<Float32Array>);

    const controller = new AbortController();
    const windows = embedWindows(model, x, { windowSeconds: 1, batchSize: 1, signal: controller.signal });
    assert.equal((await windows.next()).value?.start, 0);
    controller.abort();
    await assert.rejects(windows.next(), (e: unknown) => e instanceof WeSpeakerError && e.code === "aborted");
    model.close();
    await rejects({ windowSeconds: 1 }, "closed");
  });
});

/**
 * Writes a 16-bit WAV of pseudo-random noise one second at a time, never holding the file. Returns the
 * hash of the codes (hashCodes over every sample of every channel, in file order).
 */
function writeNoiseWav(path: string, sampleRate: number, channels: number, seconds: number): number {
  const frames = sampleRate * seconds;
  const dataBytes = frames * channels * 2;
  const fmt = chunk("fmt ", fmtBody({ tag: 1, channels, sampleRate, bits: 16 }));
  const header = riff([fmt, chunk("data", new Uint8Array(0), dataBytes)], {
    sizeField: 4 + fmt.length + 8 + dataBytes,
  });
  const fd = openSync(path, "w");
  try {
    writeSync(fd, header);
    const block = new Uint8Array(sampleRate * channels * 2);
    const view = new DataView(block.buffer);
    let state = 1, hash = 0;
    for (let s = 0; s < seconds; s++) {
      for (let p = 0; p < block.length; p += 2) {
        state = (Math.imul(state, 1664525) + 1013904223) | 0;
        const code = state >> 16;
        view.setInt16(p, code, true);
        hash = hashCodes(hash, code);
      }
      writeSync(fd, block);
    }
    return hash;
  } finally {
    closeSync(fd);
  }
}

function child(...args: string[]): Record<string, number> {
  const script = "tests/helpers/long_audio_child.ts";
  const r = spawnSync(process.execPath, scriptArgs(script, args), {
    cwd: repoRoot,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").pop()!);
}

const MB = 1024 * 1024;

describe("bounded memory (child processes)", () => {
  test("a 2-hour 16 kHz 16-bit WAV read through openWavStream: every sample, peak RSS < 300 MB", {
    skip: noProcStatus,
  }, async () => {
    await withTempDir((dir) => {
      const path = join(dir, "two-hours.wav");
      const seconds = 2 * 3600;
      const hash = writeNoiseWav(path, 16000, 1, seconds);
      const r = child("read", path);
      // Holding it whole: 230 MB of file bytes + 460 MB of float32 samples, beside the runtime itself.
      const wholeFileMB = (seconds * 16000 * (2 + 4)) / MB;
      console.log(
        `2 h file read in chunks: peak RSS ${r.peakMB.toFixed(1)} MB (whole file: + ${
          wholeFileMB.toFixed(0)
        } MB)`,
      );
      assert.equal(r.frames, seconds * 16000);
      assert.equal(r.hash, hash, "checksum of the samples read differs from the one written");
      assert.ok(r.peakMB < 300, `peak RSS ${r.peakMB} MB`);
    });
  });

  test("a 30-minute 44.1 kHz stereo WAV through embedWindows: RSS grows < 200 MB past the warm model", {
    skip: noProcStatus,
  }, async () => {
    await withTempDir((dir) => {
      const path = join(dir, "half-hour.wav");
      const seconds = 1800;
      writeNoiseWav(path, 44100, 2, seconds);
      // 1 s windows every 30 s: the whole file is read and resampled, a thirtieth of it embedded (CPU time).
      const r = child("embed", testWeights().path, path, "1", "30");
      const growth = r.peakMB - r.warmPeakMB;
      // Holding it whole: file bytes, mono float32 at 44.1 kHz, then at 16 kHz.
      const wholeFileMB = (seconds * (44100 * 2 * 2 + 44100 * 4 + 16000 * 4)) / MB;
      console.log(
        `30 min 44.1 kHz stereo through embedWindows: peak RSS ${r.peakMB.toFixed(1)} MB, ` +
          `${r.warmPeakMB.toFixed(1)} MB after warm-up, growth ${growth.toFixed(1)} MB ` +
          `(whole file: + ${wholeFileMB.toFixed(0)} MB)`,
      );
      assert.equal(r.windows, 60);
      assert.equal(r.lastStart, 1770);
      // The allowance is for what does not grow with the file: chunks the garbage collector lets pile up
      // before collecting (V8 waits for tens of MB of ArrayBuffers) and MLX's buffer cache.
      assert.ok(growth < 200, `RSS grew by ${growth} MB while embedding`);
    });
  });
});
