import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { decodeWav } from "../lib/audio/wav.ts";
import { loadAudio, MODEL_SAMPLE_RATE, toModelRate } from "../lib/audio/load.ts";
import { WeSpeakerError } from "../lib/errors.ts";
import { chunk, concat, encodeWav, fmtBody, randomInts, rf64Pcm16, riff } from "./helpers/wav_writer.ts";

const N = 97; // odd on purpose, so 8-bit mono data chunks need a pad byte

function assertWavError(fn: () => unknown, fragment: string | RegExp, source = "test.wav") {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof WeSpeakerError, `expected WeSpeakerError, got ${e}`);
    assert.equal(e.code, "invalid-wav");
    assert.ok(e.message.includes(source), `message should name the file: ${e.message}`);
    if (typeof fragment === "string") {
      assert.ok(e.message.includes(fragment), `message "${e.message}" should contain "${fragment}"`);
    } else assert.match(e.message, fragment);
    return true;
  });
}

/** Per-format: random stored codes, and how each decodes. */
const FORMATS = [
  {
    name: "PCM 8",
    format: "pcm",
    bits: 8,
    codes: () => [0, 128, 255, ...randomInts(N - 3, 0, 255)],
    dec: (v: number) => (v - 128) / 128,
  },
  {
    name: "PCM 16",
    format: "pcm",
    bits: 16,
    codes: () => [-32768, 0, 32767, ...randomInts(N - 3, -32768, 32767)],
    dec: (v: number) => v / 32768,
  },
  {
    name: "PCM 24",
    format: "pcm",
    bits: 24,
    codes: () => [-8388608, 0, 8388607, ...randomInts(N - 3, -8388608, 8388607)],
    dec: (v: number) => v / 8388608,
  },
  {
    name: "PCM 32",
    format: "pcm",
    bits: 32,
    codes: () => [-2147483648, 0, 2147483647, ...randomInts(N - 3, -2147483648, 2147483647)],
    dec: (v: number) => v / 2147483648,
  },
  {
    name: "float 32",
    format: "float",
    bits: 32,
    codes: () => [-1, 0, 1, ...randomInts(N - 3, -1e6, 1e6).map((v) => Math.fround(v / 1e6))],
    dec: (v: number) => v,
  },
  {
    name: "float 64",
    format: "float",
    bits: 64,
    codes: () => [-1, 0, 1, ...randomInts(N - 3, -1e6, 1e6).map((v) => v / 1e6 + 1e-12)],
    dec: (v: number) => v,
  },
] as const;

function channelsOf(codes: () => readonly number[], n: number): number[][] {
  const base = codes();
  // Distinct content per channel: rotate the same set of valid codes.
  return Array.from({ length: n }, (_, c) => base.map((_, i) => base[(i + 7 * c) % base.length]));
}

describe("decodeWav round trip", () => {
  for (const f of FORMATS) {
    for (const extensible of [false, true]) {
      for (const nch of [1, 2, 6]) {
        test(`${f.name}${extensible ? " EXTENSIBLE" : ""} ${nch}ch`, () => {
          const chans = channelsOf(f.codes, nch);
          const bytes = encodeWav(chans, { sampleRate: 22050, format: f.format, bits: f.bits, extensible });
          const out = decodeWav(bytes, "test.wav");
          assert.equal(out.sampleRate, 22050);
          assert.deepEqual(out.info, {
            sampleRate: 22050,
            channels: nch,
            bitsPerSample: f.bits,
            format: f.format,
            frames: N,
          });
          assert.equal(out.samples.length, N);
          for (let i = 0; i < N; i++) {
            let sum = 0;
            for (let c = 0; c < nch; c++) sum += f.dec(chans[c][i]);
            const want = Math.fround(sum / nch);
            assert.equal(out.samples[i], want, `sample ${i}`);
          }
        });
      }
    }
  }

  test("16-bit mono equals int16 / 32768 exactly", () => {
    const codes = randomInts(4000, -32768, 32767, 99);
    const out = decodeWav(encodeWav([codes], { sampleRate: 16000, format: "pcm", bits: 16 }));
    const ref = Float32Array.from(codes, (v) => v / 32768);
    assert.deepEqual(out.samples, ref);
  });

  test("18-byte fmt chunk (cbSize = 0)", () => {
    const codes = randomInts(N, -32768, 32767);
    const out = decodeWav(encodeWav([codes], { sampleRate: 8000, format: "float", bits: 32, fmtSize: 18 }));
    assert.equal(out.info.frames, N);
  });

  test("LIST / JUNK / fact chunks are skipped, odd-sized chunks padded", () => {
    const codes = randomInts(N, -32768, 32767, 7);
    const bytes = encodeWav([codes], {
      sampleRate: 16000,
      format: "pcm",
      bits: 16,
      beforeFmt: [{ id: "JUNK", body: new Uint8Array(27) }],
      beforeData: [
        { id: "LIST", body: new TextEncoder().encode("INFOISFTodd-sized!") }, // 18 bytes
        { id: "fact", body: new Uint8Array(5).fill(0xff) }, // odd: pad byte follows
        { id: "odd ", body: new Uint8Array(3).fill(0x20) },
      ],
      afterData: [{ id: "LIST", body: new Uint8Array(13).fill(0x41) }],
    });
    const out = decodeWav(bytes, "test.wav");
    assert.deepEqual(out.samples, Float32Array.from(codes, (v) => v / 32768));
  });

  test("odd-sized chunk whose writer forgot the pad byte", () => {
    const codes = randomInts(N, -32768, 32767, 8);
    const fmt = chunk("fmt ", fmtBody({ tag: 1, channels: 1, sampleRate: 16000, bits: 16 }));
    const list = chunk("LIST", new Uint8Array(5).fill(0x7a), undefined, false);
    const data = chunk("data", new Uint8Array(new Int16Array(codes).buffer));
    const out = decodeWav(riff([fmt, list, data]));
    assert.deepEqual(out.samples, Float32Array.from(codes, (v) => v / 32768));
  });

  test("data chunk before fmt chunk", () => {
    const codes = randomInts(10, -32768, 32767, 9);
    const fmt = chunk("fmt ", fmtBody({ tag: 1, channels: 1, sampleRate: 16000, bits: 16 }));
    const data = chunk("data", new Uint8Array(new Int16Array(codes).buffer));
    const out = decodeWav(riff([data, fmt]));
    assert.deepEqual(out.samples, Float32Array.from(codes, (v) => v / 32768));
  });

  test("data size not a whole number of frames keeps complete frames", () => {
    const codes = randomInts(2 * N, -32768, 32767, 10);
    const chans = [codes.slice(0, N), codes.slice(N)];
    const good = encodeWav(chans, { sampleRate: 16000, format: "pcm", bits: 16 });
    // Declare 4*N - 3 bytes: the last stereo frame is incomplete.
    const bytes = encodeWav(chans, { sampleRate: 16000, format: "pcm", bits: 16, dataSizeField: 4 * N - 3 });
    const out = decodeWav(bytes);
    assert.equal(out.info.frames, N - 1);
    assert.deepEqual(out.samples, decodeWav(good).samples.subarray(0, N - 1));
  });

  test("streaming placeholders (0xFFFFFFFF / 0) take what is there, whole frames only", () => {
    const codes = randomInts(N, -32768, 32767, 11);
    const want = Float32Array.from(codes, (v) => v / 32768);
    for (const size of [0xffffffff, 0]) {
      const bytes = encodeWav([codes], {
        sampleRate: 16000,
        format: "pcm",
        bits: 16,
        dataSizeField: size,
        riffSizeField: size,
      });
      assert.deepEqual(decodeWav(bytes).samples, want, `size field ${size}`);
      // A trailing odd byte (a frame cut in half) is dropped.
      assert.deepEqual(decodeWav(concat([bytes, new Uint8Array([1])])).samples, want);
    }
  });

  test("a finalized file with an empty data chunk decodes to no samples", () => {
    const bytes = encodeWav([[]], {
      sampleRate: 16000,
      format: "pcm",
      bits: 16,
      afterData: [{ id: "LIST", body: new Uint8Array(10) }],
    });
    const out = decodeWav(bytes);
    assert.equal(out.samples.length, 0);
    assert.equal(out.info.frames, 0);
  });

  test("RF64 with ds64 sizes", () => {
    const codes = randomInts(N, -32768, 32767, 12);
    const pcm = new Uint8Array(new Int16Array(codes).buffer);
    const bytes = rf64Pcm16(pcm);
    const out = decodeWav(bytes);
    assert.deepEqual(out.samples, Float32Array.from(codes, (x) => x / 32768));
  });

  test("bytes that are a view into a larger buffer", () => {
    const codes = randomInts(N, -32768, 32767, 13);
    const wav = encodeWav([codes], { sampleRate: 16000, format: "pcm", bits: 16 });
    const big = new Uint8Array(wav.length + 11);
    big.set(wav, 3);
    const out = decodeWav(big.subarray(3, 3 + wav.length));
    assert.deepEqual(out.samples, Float32Array.from(codes, (x) => x / 32768));
  });
});

describe("decodeWav errors", () => {
  const fmt16 = () => chunk("fmt ", fmtBody({ tag: 1, channels: 1, sampleRate: 16000, bits: 16 }));
  const data = () => chunk("data", new Uint8Array(64));
  const withFmt = (f: Parameters<typeof fmtBody>[0]) => riff([chunk("fmt ", fmtBody(f)), data()]);

  test("not RIFF", () => {
    const b = riff([fmt16(), data()], { magic: "RIFX" });
    assertWavError(() => decodeWav(b, "test.wav"), "not a RIFF file");
  });
  test("not WAVE", () => {
    const b = riff([fmt16(), data()], { form: "AVI " });
    assertWavError(() => decodeWav(b, "test.wav"), "not a WAVE file");
  });
  test("missing fmt chunk", () => {
    assertWavError(() => decodeWav(riff([data()]), "test.wav"), "missing fmt chunk");
  });
  test("missing data chunk", () => {
    assertWavError(
      () => decodeWav(riff([fmt16(), chunk("LIST", new Uint8Array(4))]), "test.wav"),
      "missing data chunk",
    );
  });
  test("unsupported format tag is named", () => {
    const b = withFmt({ tag: 0x31, channels: 1, sampleRate: 8000, bits: 0, blockAlign: 65 });
    assertWavError(() => decodeWav(b, "test.wav"), "unsupported format tag 0x0031 (GSM 6.10)");
    const mp3 = withFmt({ tag: 0x55, channels: 1, sampleRate: 8000, bits: 0, blockAlign: 1 });
    assertWavError(() => decodeWav(mp3, "test.wav"), "MPEG Layer 3");
  });
  test("unsupported EXTENSIBLE subformat", () => {
    const b = withFmt({ tag: 0xfffe, channels: 1, sampleRate: 8000, bits: 16, subFormat: 2 });
    assertWavError(() => decodeWav(b, "test.wav"), "subformat 0x0002");
  });
  test("unsupported bits per sample", () => {
    assertWavError(
      () =>
        decodeWav(withFmt({ tag: 1, channels: 1, sampleRate: 8000, bits: 12, blockAlign: 2 }), "test.wav"),
      "unsupported bits per sample 12",
    );
    assertWavError(
      () => decodeWav(withFmt({ tag: 3, channels: 1, sampleRate: 8000, bits: 16 }), "test.wav"),
      "unsupported bits per sample 16",
    );
  });
  test("zero channels", () => {
    assertWavError(
      () =>
        decodeWav(withFmt({ tag: 1, channels: 0, sampleRate: 8000, bits: 16, blockAlign: 2 }), "test.wav"),
      "zero channels",
    );
  });
  test("zero or absurd sample rate", () => {
    assertWavError(
      () => decodeWav(withFmt({ tag: 1, channels: 1, sampleRate: 0, bits: 16 }), "test.wav"),
      "sample rate 0",
    );
    assertWavError(
      () => decodeWav(withFmt({ tag: 1, channels: 1, sampleRate: 4_000_000_000, bits: 16 }), "test.wav"),
      "sample rate 4000000000",
    );
  });
  test("block align inconsistent with channels * bits / 8", () => {
    assertWavError(
      () =>
        decodeWav(withFmt({ tag: 1, channels: 2, sampleRate: 8000, bits: 16, blockAlign: 2 }), "test.wav"),
      "block align 2",
    );
  });
  test("truncated header", () => {
    const full = riff([fmt16(), data()]);
    assertWavError(() => decodeWav(full.subarray(0, 8), "test.wav"), "truncated header");
    assertWavError(() => decodeWav(full.subarray(0, 30), "test.wav"), "truncated header");
    const short = riff([
      chunk("fmt ", fmtBody({ tag: 1, channels: 1, sampleRate: 8000, bits: 16, size: 14 })),
      data(),
    ]);
    assertWavError(() => decodeWav(short, "test.wav"), "fmt chunk is 14 bytes");
    const ext = riff([
      chunk("fmt ", fmtBody({ tag: 0xfffe, channels: 1, sampleRate: 8000, bits: 16, size: 18 })),
      data(),
    ]);
    assertWavError(() => decodeWav(ext, "test.wav"), "needs 40");
  });
  test("data size larger than the file", () => {
    const b = riff([fmt16(), chunk("data", new Uint8Array(100), 1000)]);
    assertWavError(() => decodeWav(b, "test.wav"), "declares 1000 bytes but only 100 are present");
  });
  test("message names the source file", () => {
    assertWavError(
      () => decodeWav(new Uint8Array(4), "/some/dir/meeting.wav"),
      "truncated header",
      "/some/dir/meeting.wav",
    );
  });

  test("truncation at every header offset and in the data: decodes or throws WeSpeakerError", () => {
    const codes = randomInts(2 * 50, -32768, 32767, 14);
    const file = encodeWav([codes.slice(0, 50), codes.slice(50)], {
      sampleRate: 44100,
      format: "pcm",
      bits: 16,
      extensible: true,
      beforeFmt: [{ id: "JUNK", body: new Uint8Array(9) }],
      beforeData: [{ id: "LIST", body: new Uint8Array(21) }],
    });
    const headerEnd = file.length - 200;
    const cuts = [];
    for (let k = 0; k <= headerEnd + 10; k++) cuts.push(k);
    cuts.push(headerEnd + 51, headerEnd + 100, headerEnd + 199, file.length);
    let decoded = 0;
    for (const k of cuts) {
      try {
        const out = decodeWav(file.subarray(0, k), "cut.wav");
        assert.ok(out.samples.length <= 50);
        decoded++;
      } catch (e) {
        assert.ok(e instanceof WeSpeakerError, `cut at ${k}: ${e}`);
        assert.equal(e.code, "invalid-wav");
      }
    }
    assert.ok(decoded >= 1); // at least the untruncated file
  });

  test("random byte corruption never escapes as a non-WeSpeakerError", () => {
    const codes = randomInts(64, -32768, 32767, 15);
    const file = encodeWav([codes], {
      sampleRate: 16000,
      format: "pcm",
      bits: 16,
      beforeData: [{ id: "LIST", body: new Uint8Array(6) }],
    });
    const rnd = randomInts(3 * 3000, 0, 0x7fffffff, 16);
    for (let it = 0; it < 3000; it++) {
      const bad = file.slice();
      const pos = rnd[3 * it] % 64;
      bad[pos] = rnd[3 * it + 1] & 0xff;
      if (rnd[3 * it + 2] % 2) bad[(pos + 4) % 64] = 0xff;
      try {
        decodeWav(bad, "fuzz.wav");
      } catch (e) {
        assert.ok(e instanceof WeSpeakerError, `iteration ${it}: ${e}`);
      }
    }
  });
});

const speechDir = new URL("../../shared/data/speech/", import.meta.url);
const speechPath = (name: string) => fileURLToPath(new URL(name, speechDir));
const noData = existsSync(fileURLToPath(speechDir)) ? false : "shared/data/speech is not present";

describe("real files", () => {
  test("sample.wav: 16 kHz 16-bit mono, 30 s", { skip: noData }, () => {
    const out = decodeWav(readFileSync(speechPath("sample.wav")), "sample.wav");
    assert.equal(out.sampleRate, 16000);
    assert.equal(out.info.channels, 1);
    assert.equal(out.info.bitsPerSample, 16);
    assert.equal(out.info.format, "pcm");
    assert.ok(Math.abs(out.samples.length / 16000 - 30) < 0.01, `duration ${out.samples.length / 16000}`);
    checkRange(out.samples);
  });
  test("ami_dev00.wav: 16 kHz float32 mono", { skip: noData }, () => {
    const out = decodeWav(readFileSync(speechPath("ami_dev00.wav")), "ami_dev00.wav");
    assert.equal(out.sampleRate, 16000);
    assert.equal(out.info.channels, 1);
    assert.equal(out.info.bitsPerSample, 32);
    assert.equal(out.info.format, "float");
    assert.ok(Math.abs(out.samples.length / 16000 - 30) < 0.01, `duration ${out.samples.length / 16000}`);
    checkRange(out.samples);
  });
  test("loadAudio(sample.wav) returns the decoded samples unchanged", { skip: noData }, async () => {
    const loaded = await loadAudio(speechPath("sample.wav"));
    const decoded = decodeWav(readFileSync(speechPath("sample.wav")));
    assert.equal(loaded.sampleRate, 16000);
    assert.deepEqual(loaded.samples, decoded.samples);
  });
});

function checkRange(s: Float32Array) {
  let nonzero = 0;
  for (let i = 0; i < s.length; i++) {
    assert.ok(s[i] >= -1 && s[i] <= 1, `sample ${i} = ${s[i]}`);
    if (s[i] !== 0) nonzero++;
  }
  assert.ok(nonzero > s.length / 10, "audio is (nearly) all zero");
}

describe("loadAudio", () => {
  test("missing file -> io error naming the path, with cause", async () => {
    const path = join(tmpdir(), "wespeaker-no-such-dir", "missing.wav");
    await assert.rejects(loadAudio(path), (e: unknown) => {
      assert.ok(e instanceof WeSpeakerError);
      assert.equal(e.code, "io");
      assert.ok(e.message.includes(path));
      assert.ok(e.cause !== undefined);
      return true;
    });
  });

  test("44.1 kHz stereo file equals toModelRate(mono, 44100)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wespeaker-wav-"));
    try {
      const n = 44100 / 2;
      const left = Array.from(
        { length: n },
        (_, i) => Math.round(12000 * Math.sin((2 * Math.PI * 440 * i) / 44100)),
      );
      const right = randomInts(n, -3000, 3000, 17);
      const path = join(dir, "stereo.wav");
      writeFileSync(path, encodeWav([left, right], { sampleRate: 44100, format: "pcm", bits: 16 }));
      const loaded = await loadAudio(path);
      const mono = Float32Array.from(left, (l, i) => (l / 32768 + right[i] / 32768) / 2);
      assert.equal(loaded.sampleRate, MODEL_SAMPLE_RATE);
      assert.deepEqual(loaded.source, {
        container: "WAV",
        codec: "pcm16",
        decoder: "wespeaker",
        sampleRate: 44100,
        channels: 2,
        frames: n,
      });
      assert.equal(loaded.samples.length, Math.ceil((n * 160) / 441));
      assert.deepEqual(loaded.samples, toModelRate(mono, 44100));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("corrupt file -> invalid-wav naming the path; NaN samples -> invalid-argument naming the path", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wespeaker-wav-"));
    try {
      const bad = join(dir, "bad.wav");
      writeFileSync(bad, new TextEncoder().encode("RIFF\x10\0\0\0WAVEthis is not a wav file at all"));
      await assert.rejects(loadAudio(bad), (e: unknown) => {
        assert.ok(e instanceof WeSpeakerError && e.code === "invalid-wav" && e.message.includes(bad));
        return true;
      });
      const nan = join(dir, "nan.wav");
      writeFileSync(nan, encodeWav([[0, 0.5, NaN, 1]], { sampleRate: 16000, format: "float", bits: 32 }));
      await assert.rejects(loadAudio(nan), (e: unknown) => {
        assert.ok(e instanceof WeSpeakerError && e.code === "invalid-argument");
        assert.ok(e.message.includes(nan) && e.message.includes("sample 2"), e.message);
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
