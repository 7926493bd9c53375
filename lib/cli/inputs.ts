/**
 * How commands read their audio arguments: files or `-` (stdin), which channel and track, raw float32
 * when asked; and many files processed one after another, a failure reported as one line on stderr
 * without stopping the rest.
 *
 * @module
 */
import process from "node:process";
import type { AudioInput, FileOptions } from "../audio/open.ts";
import { type Args, type OptionTable, stringOption, UsageError } from "./command.ts";

/** `--channel`, `--track`, `--f32le`. */
export const AUDIO_OPTIONS: OptionTable = {
  channel: { type: "string", short: "c" },
  track: { type: "string" },
  f32le: { type: "string" },
};

/** Help text for {@link AUDIO_OPTIONS}. */
export const AUDIO_HELP =
  `  -c, --channel N|each        use channel N (0-based) instead of the average of all channels;
                              'each': every channel on its own (stereo calls), labelled by channel
      --track N               the audio track of a file holding several (0-based)
      --f32le RATE[:CHANNELS] the input is headerless float32 (ffmpeg -f f32le), at RATE Hz
FILE may be '-' to read the audio from stdin (once).`;

/** One audio argument, opened as the library takes it. */
export interface AudioArg {
  /** The argument as given (`-` for stdin). */
  file: string;
  /** What to decode: the path, or stdin's bytes. */
  input: AudioInput;
  /** How to read it (channel excluded: see {@link channelChoice}). */
  options: FileOptions;
}

/** The `--channel` choice: the average (undefined), one channel, or each channel. */
export function channelChoice(args: Args): number | "each" | undefined {
  const value = stringOption(args, "channel");
  if (value === undefined) return undefined;
  if (value === "each") return "each";
  if (!/^\d+$/.test(value)) {
    throw new UsageError(`--channel must be a channel number (from 0) or 'each', got '${value}'`);
  }
  return Number(value);
}

function fileOptions(args: Args, name: string): FileOptions {
  const track = stringOption(args, "track");
  if (track !== undefined && !/^\d+$/.test(track)) {
    throw new UsageError(`--track must be a track number (from 0), got '${track}'`);
  }
  const raw = stringOption(args, "f32le");
  let f32le: FileOptions["f32le"];
  if (raw !== undefined) {
    const match = /^(\d+)(?::(\d+))?$/.exec(raw);
    if (!match) {
      throw new UsageError(`--f32le must be RATE or RATE:CHANNELS (e.g. 16000 or 44100:2), got '${raw}'`);
    }
    f32le = { sampleRate: Number(match[1]), channels: match[2] === undefined ? 1 : Number(match[2]) };
  }
  return { track: track === undefined ? undefined : Number(track), f32le, name };
}

async function readStdin(): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of process.stdin) parts.push(part as Uint8Array);
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (bytes.set(p, at), at + p.length), 0);
  return bytes;
}

/** The audio arguments as inputs; `-` (at most once) is stdin, read whole. */
export async function audioArgs(args: Args, files: string[]): Promise<AudioArg[]> {
  if (files.filter((f) => f === "-").length > 1) throw new UsageError("'-' (stdin) can be given only once");
  const out: AudioArg[] = [];
  for (const file of files) {
    const input = file === "-" ? await readStdin() : file;
    out.push({ file, input, options: fileOptions(args, file === "-" ? "stdin" : file) });
  }
  return out;
}

/**
 * Runs `body` for each item, in order. A failure is one line on stderr naming the item, and the rest go
 * on; resolves to the number that failed. Usage errors stop everything (they concern every item).
 */
export async function eachInput<T extends { file: string }>(
  items: T[],
  body: (item: T) => Promise<void>,
): Promise<number> {
  let failed = 0;
  for (const item of items) {
    try {
      await body(item);
    } catch (err) {
      if (err instanceof UsageError || items.length === 1) throw err;
      const message = err instanceof Error ? err.message : String(err);
      const named = message.includes(item.file) ? message : `${item.file}: ${message}`;
      process.stderr.write(`wespeaker: ${named.replace(/\s*\n\s*/g, "; ")}\n`);
      failed++;
    }
  }
  if (failed > 0) process.stderr.write(`wespeaker: ${failed} of ${items.length} inputs failed\n`);
  return failed;
}
