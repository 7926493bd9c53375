/**
 * The fallback for codecs no npm decoder serves in every runtime (AAC above all): `ffmpeg`, when it is on
 * PATH (or `WESPEAKER_FFMPEG` names it), spawned with the file as input and its audio streamed out of its
 * stdout as 32-bit float WAV: no temporary files, memory flat however long the recording. Without it, an
 * error names the container and codec and says what to install.
 *
 * @module
 */
import { spawn } from "node:child_process";
import process from "node:process";
import { WeSpeakerError } from "../errors.ts";
import type { ByteSource } from "./byte_source.ts";
import { type AudioInfo, interleavedFloat32, type Opened, type Selection } from "./audio_stream.ts";
import { parseFmt } from "./wav.ts";

/** The environment variable naming the ffmpeg executable (default: `ffmpeg` on PATH). */
export const FFMPEG_ENV = "WESPEAKER_FFMPEG";

/** What the container said about the audio that ffmpeg is to decode. */
export interface FfmpegTarget {
  container: string;
  codec: string;
  /** Frames, when the container says. */
  frames?: number;
}

function ffmpegPath(): string {
  return process.env[FFMPEG_ENV] || "ffmpeg";
}

/** The error when ffmpeg is needed and cannot be started: absent, or Deno not allowed to run it. */
function missing(name: string, target: FfmpegTarget, cause: unknown): WeSpeakerError {
  const denied = cause instanceof Error && (cause.name === "NotCapable" || cause.name === "PermissionDenied");
  if (denied) {
    return new WeSpeakerError(
      "permission-denied",
      `${name}: ${target.container} with ${target.codec} audio is decoded by ffmpeg, which Deno may run only ` +
        `with --allow-run (or --allow-run=${ffmpegPath()}); or convert the file to WAV or FLAC first`,
      { cause },
    );
  }
  return new WeSpeakerError(
    "unsupported-audio",
    `${name}: ${target.container} with ${target.codec} audio needs ffmpeg, which was not found ` +
      `(tried '${ffmpegPath()}'): install ffmpeg (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew ` +
      `install ffmpeg; Windows: winget install ffmpeg) or set ${FFMPEG_ENV} to its path, or convert the file ` +
      `to WAV or FLAC first`,
    { cause },
  );
}

/**
 * Decodes the source's audio with ffmpeg. A file is read by ffmpeg itself; bytes held in memory (stdin)
 * are piped to it.
 */
export async function openFfmpeg(
  source: ByteSource,
  selection: Selection,
  target: FfmpegTarget,
): Promise<Opened> {
  const name = source.name;
  const what = `${name}: ${target.container} (${target.codec}) through ffmpeg`;
  const args = [
    "-nostdin",
    "-hide_banner",
    "-loglevel",
    "error",
    "-i",
    source.path ?? "pipe:0",
    "-map",
    `0:a:${selection.track ?? 0}`,
    "-map_metadata",
    "-1",
    "-fflags",
    "+bitexact",
    "-c:a",
    "pcm_f32le",
    "-f",
    "wav",
    "pipe:1",
  ];
  if (source.path === undefined) args.shift(); // stdin is the input
  const child = spawn(ffmpegPath(), args, {
    stdio: [source.path === undefined ? "pipe" : "ignore", "pipe", "pipe"],
  });
  await new Promise<void>((resolve, reject) => {
    child.once("spawn", () => resolve());
    child.once("error", (err) => reject(missing(name, target, err)));
  });
  let stderr = "";
  child.stderr!.on("data", (d: Uint8Array) => {
    if (stderr.length < 8192) stderr += new TextDecoder().decode(d);
  });
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  if (source.path === undefined) {
    const stdin = child.stdin!;
    stdin.on("error", () => {}); // ffmpeg may stop reading early; its exit status tells.
    (async () => {
      for (let at = 0; at < source.size; at += 1 << 20) {
        const piece = await source.read(at, 1 << 20);
        if (!stdin.write(piece)) await new Promise((r) => stdin.once("drain", r));
      }
      stdin.end();
    })().catch(() => stdin.destroy());
  }
  const failed = async (): Promise<never> => {
    const code = await exited;
    const why = stderr.trim().split("\n").filter((l) => l.trim()).slice(-2).join("; ") ||
      `exit status ${code}`;
    throw new WeSpeakerError("invalid-audio", `${what}: ffmpeg could not decode it: ${why}`);
  };

  // ffmpeg's WAV header on a pipe: RIFF/WAVE, a fmt chunk, maybe others, then data of unknown size.
  const reader = child.stdout![Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
  let pending = new Uint8Array(0);
  const fill = async (n: number): Promise<boolean> => {
    while (pending.length < n) {
      const next = await reader.next();
      if (next.done) return false;
      const grown = new Uint8Array(pending.length + next.value.length);
      grown.set(pending);
      grown.set(next.value, pending.length);
      pending = grown;
    }
    return true;
  };
  if (!(await fill(12))) await failed();
  let at = 12;
  let fmt: ReturnType<typeof parseFmt> | undefined;
  for (;;) {
    if (!(await fill(at + 8))) await failed();
    const view = new DataView(pending.buffer, pending.byteOffset, pending.byteLength);
    const id = new TextDecoder().decode(pending.subarray(at, at + 4));
    const size = view.getUint32(at + 4, true);
    if (id === "data") {
      at += 8;
      break;
    }
    if (!(await fill(at + 8 + size))) await failed();
    if (id === "fmt ") fmt = parseFmt(new DataView(pending.buffer, pending.byteOffset), at + 8, size, what);
    at += 8 + size + (size & 1);
  }
  if (fmt === undefined || fmt.format !== "float" || fmt.bitsPerSample !== 32) {
    throw new WeSpeakerError("invalid-audio", `${what}: unexpected output format from ffmpeg`);
  }
  const { channels, sampleRate } = fmt;
  const { channel } = selection;
  if (channel >= channels) {
    child.kill();
    throw new WeSpeakerError(
      "invalid-argument",
      `${name}: channel ${channel} does not exist; the audio has ${channels} channel(s), numbered from 0`,
    );
  }
  pending = pending.slice(at);
  const frameBytes = 4 * channels;
  return {
    info: {
      container: target.container,
      codec: target.codec,
      decoder: "ffmpeg",
      sampleRate,
      channels,
      frames: target.frames,
    } satisfies AudioInfo,
    async *chunks() {
      for (;;) {
        const whole = pending.length - (pending.length % frameBytes);
        if (whole > 0) {
          yield interleavedFloat32(pending.subarray(0, whole), channels, channel);
          pending = pending.slice(whole);
        }
        const next = await reader.next();
        if (next.done) break;
        const grown = new Uint8Array(pending.length + next.value.length);
        grown.set(pending);
        grown.set(next.value, pending.length);
        pending = grown;
      }
      if ((await exited) !== 0) await failed();
    },
    release() {
      if (child.exitCode === null) child.kill();
    },
  };
}
