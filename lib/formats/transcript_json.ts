/**
 * Whisper-style JSON transcripts: the `segments` (with optional `words`) that openai-whisper,
 * faster-whisper and WhisperX write, whisper.cpp's `transcription` (`-oj`), or a bare array of segments;
 * and the speaker-labelled JSON written back (WhisperX's shape).
 *
 * @module
 */
import { WeSpeakerError } from "../errors.ts";
import { jsonPath, parseJSONText } from "./json_text.ts";
import type { LabelledTranscript, TranscriptSegment, TranscriptWord } from "./transcript.ts";

function fail(where: string, why: string): WeSpeakerError {
  return new WeSpeakerError("invalid-transcript", `${where}: ${why}`);
}

function describe(value: unknown): string {
  if (value === undefined) return "missing";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function seconds(value: unknown, where: string, scale = 1): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw fail(where, `${describe(value)} is not a time >= 0 in ${scale === 1 ? "seconds" : "milliseconds"}`);
  }
  return value / scale;
}

function span(record: Record<string, unknown>, where: string, keys: [string, string], scale = 1) {
  const start = seconds(record[keys[0]], jsonPath(where, keys[0]), scale);
  const end = seconds(record[keys[1]], jsonPath(where, keys[1]), scale);
  if (end < start) throw fail(where, `end ${end} s is before start ${start} s`);
  return { start, end };
}

function text(value: unknown, where: string): string {
  if (typeof value !== "string") throw fail(where, `${describe(value)} is not a string`);
  return value;
}

function words(value: unknown, where: string): TranscriptWord[] {
  if (!Array.isArray(value)) throw fail(where, `${describe(value)} is not an array of words`);
  return value.map((w, k) => {
    const at = jsonPath(where, k);
    if (!isObject(w)) throw fail(at, `${describe(w)} is not a word object`);
    const key = "word" in w ? "word" : "text";
    const word = text(w[key], jsonPath(at, key));
    // WhisperX leaves words it could not align (numbers, symbols) without times.
    if (w.start === undefined && w.end === undefined) return { text: word, start: null, end: null };
    return { text: word, ...span(w, at, ["start", "end"]) };
  });
}

/**
 * Reads Whisper-style JSON: an object with `segments` (each `start`, `end` in seconds, `text`, optional
 * `words` of `word` or `text`, `start`, `end`), an object with whisper.cpp's `transcription` (`offsets`
 * in milliseconds, `text`), or an array of segments. Other keys are ignored.
 *
 * @throws {WeSpeakerError} `invalid-transcript` naming `source` and the line and column of a syntax error,
 *   or the JSON path of a value that is missing or wrong
 */
export function parseWhisperJSON(textContent: string, source = "transcript"): TranscriptSegment[] {
  const data = parseJSONText(textContent, source, "invalid-transcript");
  if (isObject(data) && Array.isArray(data.transcription)) {
    return data.transcription.map((item, i) => {
      const where = `${source}: transcription[${i}]`;
      if (!isObject(item)) throw fail(where, `${describe(item)} is not a segment object`);
      if (!isObject(item.offsets)) {
        throw fail(jsonPath(where, "offsets"), `${describe(item.offsets)} is not {from, to}`);
      }
      return {
        ...span(item.offsets, jsonPath(where, "offsets"), ["from", "to"], 1000),
        text: text(item.text, jsonPath(where, "text")),
      };
    });
  }
  const list = Array.isArray(data) ? data : isObject(data) ? data.segments : undefined;
  if (!Array.isArray(list)) {
    throw fail(
      source,
      'expected Whisper JSON: an object with "segments" (openai-whisper, faster-whisper, WhisperX) or ' +
        '"transcription" (whisper.cpp), or an array of segments',
    );
  }
  const base = Array.isArray(data) ? `${source}: ` : `${source}: segments`;
  return list.map((item, i) => {
    const where = `${base}[${i}]`;
    if (!isObject(item)) throw fail(where, `${describe(item)} is not a segment object`);
    const segment: TranscriptSegment = { ...span(item, where, ["start", "end"]), text: "" };
    if (item.words !== undefined) segment.words = words(item.words, jsonPath(where, "words"));
    segment.text = item.text === undefined && segment.words
      ? segment.words.map((w) => w.text).join("")
      : text(item.text, jsonPath(where, "text"));
    return segment;
  });
}

/**
 * Writes a labelled transcript as JSON in WhisperX's shape: `{"speakers": [...], "segments": [{"start",
 * "end", "text", "speaker", "words": [{"word", "start", "end", "speaker"}]}]}`; untimed words have no
 * `start`/`end`, a speaker that could not be given is null.
 */
export function formatTranscriptJSON(transcript: LabelledTranscript): string {
  return JSON.stringify({
    speakers: transcript.speakers,
    segments: transcript.segments.map((s) => ({
      start: s.start,
      end: s.end,
      text: s.text,
      speaker: s.speaker,
      ...(s.words
        ? {
          words: s.words.map((w) => ({
            word: w.text,
            ...(w.start === null ? {} : { start: w.start, end: w.end }),
            speaker: w.speaker,
          })),
        }
        : {}),
    })),
  }) + "\n";
}
