// Every format the library reads, against what it must equal: a FLAC or a 24-bit WAVE_FORMAT_EXTENSIBLE
// WAV made from a WAV gives the WAV's samples and embeddings bit for bit; G.711 gives ITU-T G.711's
// values; lossy codecs match `ffmpeg -f f32le` of the same file closely (the largest difference per codec
// is printed) and their embeddings agree to cosine >= 0.9999. Then each kind of bad input, and the
// per-channel and per-track choices. Fixtures: scripts/make_audio_fixtures.sh.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import process from "node:process";
import { after, before, describe, test } from "node:test";
import {
  decodeAudio,
  decodeWav,
  FFMPEG_ENV,
  loadAudio,
  openAudioStream,
  probeAudio,
  WeSpeakerError,
  WeSpeakerModel,
} from "../mod.ts";
import { encodeWav } from "./helpers/wav_writer.ts";
import { testWeights, writeScratch } from "./helpers/weights.ts";

const DIR = new URL("./fixtures/audio/", import.meta.url).pathname;
const fixture = (name: string) => DIR + name;
const bytesOf = (name: string) => new Uint8Array(readFileSync(fixture(name)));

const HAS_FFMPEG = spawnSync("ffmpeg", ["-version"]).status === 0;
const NO_FFMPEG = HAS_FFMPEG
  ? false
  : "ffmpeg is not on PATH (apt-get install ffmpeg): nothing to compare with";

/** What ffmpeg decodes the file to, as the mono float32 samples our decoders must approach. */
function ffmpegSamples(name: string, args: string[] = []): Float32Array {
  const out = execFileSync("ffmpeg", [
    "-v",
    "error",
    ...args,
    "-i",
    fixture(name),
    "-ac",
    "1",
    "-f",
    "f32le",
    "-",
  ], {
    maxBuffer: 1 << 28,
  });
  return new Float32Array(out.buffer, out.byteOffset, out.length / 4);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

async function rejectsWith(p: Promise<unknown>, code: string, ...fragments: (string | RegExp)[]) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof WeSpeakerError, `expected WeSpeakerError, got ${e}`);
    assert.equal(e.code, code, e.message);
    for (const f of fragments) {
      if (typeof f === "string") assert.ok(e.message.includes(f), `"${e.message}" should contain "${f}"`);
      else assert.match(e.message, f);
    }
    return true;
  });
}

let model: WeSpeakerModel;
before(async () => {
  model = await WeSpeakerModel.load(testWeights().path);
});
after(() => model.close());

describe("lossless formats decode bit for bit", () => {
  test("a FLAC made from a 16-bit WAV: same samples, same embedding", async () => {
    const wav = decodeWav(bytesOf("speech.wav"));
    const flac = await decodeAudio(bytesOf("speech.flac"));
    assert.equal(flac.sampleRate, wav.sampleRate);
    assert.deepEqual(flac.samples, wav.samples);
    assert.deepEqual(
      await model.embedFile(fixture("speech.flac")),
      await model.embedFile(fixture("speech.wav")),
    );
  });

  test("a 24-bit stereo FLAC: each channel and their average equal the 24-bit WAV's", async () => {
    for (const channel of [undefined, 0, 1]) {
      const wav = decodeWav(bytesOf("call_stereo24.wav"), "call_stereo24.wav", channel ?? -1);
      const flac = await decodeAudio(bytesOf("call_stereo24.flac"), { channel });
      assert.deepEqual(flac.samples, wav.samples, `channel ${channel}`);
    }
    assert.deepEqual(
      await model.embedFile(fixture("call_stereo24.flac"), { channel: 1 }),
      await model.embedFile(fixture("call_stereo24.wav"), { channel: 1 }),
    );
  });

  test("a 24-bit WAVE_FORMAT_EXTENSIBLE WAV made from a 16-bit WAV: same samples, same embedding", async () => {
    const wav16 = decodeWav(bytesOf("speech.wav"));
    const ints = Array.from(wav16.samples, (v) => Math.round(v * 32768) * 256);
    const path = writeScratch(
      "extensible24.wav",
      encodeWav([ints], {
        sampleRate: 16000,
        format: "pcm",
        bits: 24,
        extensible: true,
      }),
    );
    const wav24 = await loadAudio(path);
    assert.deepEqual(wav24.samples, wav16.samples);
    assert.equal(wav24.source.codec, "pcm24");
    assert.deepEqual(await model.embedFile(path), await model.embedFile(fixture("speech.wav")));
  });
});

describe("G.711 and IMA ADPCM", () => {
  // ITU-T G.711 tables 1a and 2a as formulas (segment e, step m): A-law decodes to (2m + 1) in segment 0
  // and (2m + 33) * 2^(e - 1) above, on a 13-bit scale; mu-law to (2m + 33) * 2^e - 33 on a 14-bit scale.
  // Both on the 16-bit scale (x 8 and x 4) over 32768.
  function ituALaw(code: number): number {
    const a = code ^ 0x55;
    const e = (a >> 4) & 7, m = a & 15;
    const v = (e === 0 ? 2 * m + 1 : (2 * m + 33) * 2 ** (e - 1)) * 8;
    return (a & 0x80 ? v : -v) / 32768;
  }
  function ituMuLaw(code: number): number {
    const u = 255 - code;
    const e = (u >> 4) & 7, m = u & 15;
    const v = ((2 * m + 33) * 2 ** e - 33) * 4;
    return (u & 0x80 ? -v : v) / 32768 + 0; // + 0: codes 0x7F and 0xFF both decode to 0
  }

  for (const [law, tag, reference] of [["A-law", 6, ituALaw], ["mu-law", 7, ituMuLaw]] as const) {
    test(`every ${law} code decodes to the ITU-T G.711 value`, async () => {
      const codes = Uint8Array.from({ length: 256 }, (_, i) => i);
      const fmt = new Uint8Array(18);
      const v = new DataView(fmt.buffer);
      v.setUint16(0, tag, true);
      v.setUint16(2, 1, true);
      v.setUint32(4, 8000, true);
      v.setUint32(8, 8000, true);
      v.setUint16(12, 1, true);
      v.setUint16(14, 8, true);
      const head = new TextEncoder().encode("RIFF\0\0\0\0WAVEfmt \x12\0\0\0");
      const data = new TextEncoder().encode("data\0\x01\0\0");
      const file = new Uint8Array([...head, ...fmt, ...data, ...codes]);
      const decoded = await decodeAudio(file);
      assert.deepEqual(Array.from(decoded.samples), Array.from(codes, reference));
      assert.equal(decoded.info.codec, law === "A-law" ? "a-law" : "mu-law");
    });
  }

  for (const name of ["ulaw.wav", "alaw.wav", "ima_adpcm.wav"]) {
    test(`${name} equals ffmpeg's decode`, { skip: NO_FFMPEG }, async () => {
      const ours = await decodeAudio(bytesOf(name));
      const ref = ffmpegSamples(name);
      // ffmpeg decodes IMA ADPCM's padded last block whole; the fact chunk says where the audio ends.
      assert.ok(ref.length >= ours.samples.length && ours.samples.length > 0);
      assert.equal(maxAbsDiff(ours.samples, ref), 0);
    });
  }
});

describe("lossy codecs against ffmpeg", () => {
  const cases: { name: string; codec: string; decoder: string; args?: string[]; tolerance: number }[] = [
    { name: "speech.mp3", codec: "mp3", decoder: "mpg123-decoder", tolerance: 1e-4 },
    { name: "speech.ogg", codec: "vorbis", decoder: "@wasm-audio-decoders/ogg-vorbis", tolerance: 1e-4 },
    {
      name: "speech_vorbis.webm",
      codec: "vorbis",
      decoder: "@wasm-audio-decoders/ogg-vorbis",
      tolerance: 1e-4,
    },
    // ffmpeg's native Opus decoder is not libopus; its libopus decoder is what we compare with.
    {
      name: "speech.opus",
      codec: "opus",
      decoder: "opus-decoder",
      args: ["-c:a", "libopus"],
      tolerance: 1e-3,
    },
    {
      name: "speech.webm",
      codec: "opus",
      decoder: "opus-decoder",
      args: ["-c:a", "libopus"],
      tolerance: 1e-3,
    },
    { name: "speech.m4a", codec: "aac", decoder: "ffmpeg", tolerance: 0 },
    { name: "video.mp4", codec: "aac", decoder: "ffmpeg", tolerance: 0 },
  ];
  for (const c of cases) {
    test(`${c.name} (${c.codec}, ${c.decoder})`, { skip: NO_FFMPEG }, async () => {
      const ours = await decodeAudio(bytesOf(c.name), { name: c.name });
      assert.equal(ours.info.codec, c.codec);
      assert.equal(ours.info.decoder, c.decoder);
      const ref = ffmpegSamples(c.name, c.args);
      // WebM carries no end trim that we read (DiscardPadding): up to one 20 ms Opus frame more.
      const extra = ours.samples.length - ref.length;
      assert.ok(
        extra >= 0 && extra <= (c.name.endsWith(".webm") ? 960 : 0),
        `length ${ours.samples.length} vs ${ref.length}`,
      );
      const diff = maxAbsDiff(ours.samples, ref);
      console.log(
        `  ${c.name}: ${c.codec} via ${c.decoder}: max abs difference from ffmpeg ${diff.toExponential(2)}`,
      );
      assert.ok(diff <= c.tolerance, `max abs difference ${diff}`);
      const a = model.embed(ours.samples.subarray(0, ref.length), ours.sampleRate);
      const b = model.embed(ref, ours.sampleRate);
      const cosine = WeSpeakerModel.cosineSimilarity(a, b);
      assert.ok(cosine >= 0.9999, `cosine ${cosine}`);
    });
  }

  test("bytes held in memory (stdin) go to ffmpeg through a pipe: same samples as the file", {
    skip: NO_FFMPEG,
  }, async () => {
    const fromFile = (await loadAudio(fixture("speech.m4a"))).samples;
    const fromBytes = (await loadAudio(bytesOf("speech.m4a"), { name: "-" })).samples;
    assert.deepEqual(fromBytes, fromFile);
  });
});

describe("what a file holds", () => {
  test("containers, codecs and decoders are sniffed from the bytes, never the name", async () => {
    const expected: Record<string, [string, string, string]> = {
      "speech.wav": ["WAV", "pcm16", "wespeaker"],
      "speech.flac": ["FLAC", "flac", "wespeaker"],
      "speech.mp3": ["MP3", "mp3", "mpg123-decoder"],
      "speech.ogg": ["Ogg", "vorbis", "@wasm-audio-decoders/ogg-vorbis"],
      "speech.opus": ["Ogg", "opus", "opus-decoder"],
      "speech.webm": ["WebM", "opus", "opus-decoder"],
      "ulaw.wav": ["WAV", "mu-law", "wespeaker"],
      "ima_adpcm.wav": ["WAV", "ima-adpcm", "wespeaker"],
    };
    for (const [name, [container, codec, decoder]] of Object.entries(expected)) {
      // Renamed to .bin: the name plays no part.
      const info = await probeAudio(writeScratch(`renamed-${name}.bin`, bytesOf(name)));
      assert.deepEqual([info.container, info.codec, info.decoder], [container, codec, decoder], name);
    }
  });

  test("streaming gives the same samples as decoding whole", async () => {
    for (const name of ["speech.flac", "speech.mp3", "speech.opus", "call_stereo24.wav"]) {
      const parts: Float32Array[] = [];
      for await (const chunk of await openAudioStream(fixture(name), { chunkFrames: 1000 })) {
        parts.push(chunk);
      }
      const joined = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
      parts.reduce((at, p) => (joined.set(p, at), at + p.length), 0);
      assert.deepEqual(joined, (await decodeAudio(bytesOf(name))).samples, name);
    }
  });

  test("raw float32 only when the caller says so, and checked", async () => {
    const samples = Float32Array.from({ length: 800 }, (_, i) => Math.sin(i / 10) * 0.5);
    const bytes = new Uint8Array(samples.buffer);
    const decoded = await decodeAudio(bytes, { f32le: { sampleRate: 8000 } });
    assert.deepEqual(decoded.samples, samples);
    const stereo = await decodeAudio(bytes, { f32le: { sampleRate: 8000, channels: 2 }, channel: 1 });
    assert.deepEqual(stereo.samples, samples.filter((_, i) => i % 2 === 1));
    await rejectsWith(
      decodeAudio(bytes.subarray(0, 10), { f32le: { sampleRate: 8000 } }),
      "invalid-audio",
      "10 bytes",
    );
  });

  test("a channel picks one side of a stereo call; a channel that does not exist is named", async () => {
    const left = await loadAudio(fixture("call_stereo24.flac"), { channel: 0 });
    const right = await loadAudio(fixture("call_stereo24.flac"), { channel: 1 });
    assert.notDeepEqual(left.samples, right.samples);
    await rejectsWith(
      loadAudio(fixture("call_stereo24.flac"), { channel: 2 }),
      "invalid-argument",
      "channel 2",
      "2 channel(s)",
    );
    await rejectsWith(loadAudio(fixture("speech.mp3"), { channel: 1 }), "invalid-argument", "1 channel(s)");
  });

  test("a file with several audio tracks needs a choice; each track decodes", async () => {
    await rejectsWith(
      loadAudio(fixture("two_tracks.mkv")),
      "invalid-audio",
      "two_tracks.mkv",
      "2 audio tracks (0: opus 'eng', 1: opus 'fra')",
      "--track",
    );
    const [a, b] = [
      await loadAudio(fixture("two_tracks.mkv"), { track: 0 }),
      await loadAudio(fixture("two_tracks.mkv"), { track: 1 }),
    ];
    assert.ok(a.samples.length > b.samples.length);
    await rejectsWith(loadAudio(fixture("two_tracks.mkv"), { track: 2 }), "invalid-argument", "track 2");
  });
});

describe("bad input gets an error naming the file, the format and the problem", () => {
  const truncated = (name: string, fraction: number) =>
    writeScratch(`cut-${name}`, bytesOf(name).subarray(0, Math.floor(bytesOf(name).length * fraction)));

  test("truncated files of each format", async () => {
    const cases: [string, string, string | RegExp][] = [
      ["speech.wav", "invalid-wav", "truncated data chunk"],
      ["speech.flac", "invalid-audio", /FLAC: truncated/],
      ["speech.mp3", "invalid-audio", /MP3: truncated: its Xing header declares \d+ bytes/],
      ["speech.ogg", "invalid-audio", /Ogg: truncated: the page at byte \d+ is cut short/],
      ["speech.opus", "invalid-audio", /Ogg: truncated/],
      ["speech.webm", "invalid-audio", /WebM \(opus\): no audio could be decoded/],
      ["speech.m4a", "invalid-audio", /MP4 has no audio track \(no track at all: the file is truncated/],
    ];
    for (const [name, code, fragment] of cases) {
      await rejectsWith(loadAudio(truncated(name, 0.6)), code, `cut-${name}`, fragment);
    }
  });

  test("corrupt files of each format", async () => {
    const corrupt = (name: string) => {
      const b = bytesOf(name);
      for (let i = b.length >> 1; i < (b.length >> 1) + 64; i++) b[i] ^= 0x5a;
      return writeScratch(`bad-${name}`, b);
    };
    await rejectsWith(loadAudio(corrupt("speech.flac")), "invalid-audio", /FLAC: frame at byte \d+: .*CRC/);
    await rejectsWith(
      loadAudio(corrupt("speech.ogg")),
      "invalid-audio",
      /Ogg: corrupt: the page at byte \d+ fails its CRC/,
    );
    await rejectsWith(loadAudio(corrupt("speech.opus")), "invalid-audio", /Ogg: corrupt/);
    // MP3 frames carry no checksum: bytes flipped inside a frame decode to other sound; a damaged frame
    // header makes libmpg123 skip frames, which the Xing header's frame count exposes.
    const mp3 = bytesOf("speech.mp3");
    mp3.fill(0, mp3.length >> 1, (mp3.length >> 1) + 144);
    await rejectsWith(
      loadAudio(writeScratch("bad-speech.mp3", mp3)),
      "invalid-audio",
      /bad-speech.mp3: MP3: corrupt or truncated: \d+ samples decoded, its Xing header declares 72 frames/,
    );
    // Containers without checksums: damage to their structure is caught, damage to a codec payload is not.
    const webm = bytesOf("speech.webm");
    webm.fill(0xff, 0, 40);
    await rejectsWith(
      loadAudio(writeScratch("bad-header.webm", webm)),
      "unsupported-audio",
      "bad-header.webm",
    );
  });

  test("a video without an audio track", async () => {
    await rejectsWith(
      loadAudio(fixture("video_no_audio.mp4")),
      "invalid-audio",
      "video_no_audio.mp4",
      "MP4 has no audio track (only 1 video track(s))",
    );
  });

  test("zero-length audio: an empty file, and a WAV with no frames", async () => {
    await rejectsWith(
      loadAudio(writeScratch("empty.m4a", new Uint8Array(0))),
      "invalid-audio",
      "empty.m4a",
      "empty (0 bytes)",
    );
    const path = writeScratch(
      "no-frames.wav",
      encodeWav([[]], { sampleRate: 16000, format: "pcm", bits: 16 }),
    );
    await rejectsWith(loadAudio(path), "audio-too-short", "no-frames.wav");
  });

  test("an unknown format", async () => {
    await rejectsWith(
      loadAudio(writeScratch("notes.mp3", "just some text, not audio")),
      "unsupported-audio",
      "notes.mp3",
      'unknown audio format (starts with "just som")',
    );
  });

  test("AAC without ffmpeg names the container, the codec and what to install", async () => {
    const saved = process.env[FFMPEG_ENV];
    process.env[FFMPEG_ENV] = "/nonexistent/ffmpeg";
    try {
      await rejectsWith(
        loadAudio(fixture("speech.m4a")),
        "unsupported-audio",
        "speech.m4a: MP4 with aac audio needs ffmpeg",
        "apt-get install ffmpeg",
      );
    } finally {
      if (saved === undefined) delete process.env[FFMPEG_ENV];
      else process.env[FFMPEG_ENV] = saved;
    }
  });

  test("AAC under Deno without --allow-run: a permission error that names the flag", {
    skip: "Deno" in globalThis ? false : "Deno's permissions only",
  }, () => {
    const script = writeScratch(
      "no_run.ts",
      `import { loadAudio } from ${JSON.stringify(new URL("../mod.ts", import.meta.url).href)};\n` +
        `try { await loadAudio(${JSON.stringify(fixture("speech.m4a"))}); } ` +
        `catch (e) { console.log(e.code + ": " + e.message); }\n`,
    );
    const r = spawnSync(process.execPath, ["run", "--allow-read", "--allow-env", script], {
      encoding: "utf8",
    });
    assert.match(
      r.stdout,
      /^permission-denied: .*speech\.m4a: MP4 with aac audio is decoded by ffmpeg.*--allow-run/,
    );
  });
});
