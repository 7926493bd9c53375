// Hostile audio files: seeded mutations (bytes overwritten, runs zeroed, cut short) of every fixture
// format through decodeAudio. Each input decodes to finite samples or is rejected with a WeSpeakerError:
// no other exception, no hang, no non-finite sample. AAC goes to "needs ffmpeg" (ffmpeg is switched off
// here), so the MP4 demuxer is what gets fuzzed there, not a process per mutation.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import process from "node:process";
import { after, before, describe, test } from "node:test";
import { decodeAudio, FFMPEG_ENV, WeSpeakerError } from "../mod.ts";

function rng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

function mutate(bytes: Uint8Array, next: (n: number) => number): Uint8Array {
  const out = bytes.slice(0, next(5) === 0 ? next(bytes.length) : bytes.length);
  if (out.length === 0) return out;
  // Headers and indexes are where parsers trust sizes: mutate the first 512 bytes more often.
  const region = next(2) === 0 ? Math.min(512, out.length) : out.length;
  for (let k = 1 + next(6); k > 0; k--) {
    const at = next(region);
    if (next(4) === 0) out.fill(next(2) ? 0 : 0xff, at, at + 1 + next(64));
    else out[at] = next(256);
  }
  return out;
}

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still decoding after 20 s`)), 20_000);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const FIXTURES: [string, number][] = [
  ["speech.flac", 200],
  ["speech.mp3", 150],
  ["speech.ogg", 150],
  ["speech.opus", 150],
  ["speech.webm", 150],
  ["speech_vorbis.webm", 100],
  ["two_tracks.mkv", 100],
  ["speech.m4a", 150],
  ["ulaw.wav", 100],
  ["ima_adpcm.wav", 150],
];

describe("hostile audio files", () => {
  let saved: string | undefined;
  before(() => {
    saved = process.env[FFMPEG_ENV];
    process.env[FFMPEG_ENV] = "/nonexistent/ffmpeg";
  });
  after(() => {
    if (saved === undefined) delete process.env[FFMPEG_ENV];
    else process.env[FFMPEG_ENV] = saved;
  });

  for (const [name, count] of FIXTURES) {
    test(`${count} mutated ${name}`, async () => {
      const original = new Uint8Array(readFileSync(new URL(`./fixtures/audio/${name}`, import.meta.url)));
      const next = rng(name.length * 7919 + count);
      let rejected = 0;
      for (let i = 0; i < count; i++) {
        const bytes = mutate(original, next);
        try {
          const decoded = await withTimeout(
            decodeAudio(bytes, { name: `${name}#${i}`, track: 0 }),
            `${name}#${i}`,
          );
          for (const v of decoded.samples) assert.ok(Number.isFinite(v), `${name}#${i}: sample ${v}`);
        } catch (err) {
          assert.ok(err instanceof WeSpeakerError, `${name}#${i}: ${err instanceof Error ? err.stack : err}`);
          assert.ok(
            err.message.includes(`${name}#${i}`),
            `${name}#${i}: message does not name the file: ${err.message}`,
          );
          rejected++;
        }
      }
      assert.ok(rejected > 0, `${name}: no mutation was rejected`);
    });
  }
});
