/**
 * Transcript files: Whisper-style JSON, SRT and WebVTT read into a `Transcript` (the format told by the
 * content), and a `LabelledTranscript` written back in any of them.
 *
 * @module
 */
import { WeSpeakerError } from "../errors.ts";
import { formatSRT, formatWebVTT, parseSRT, parseWebVTT } from "./subtitles.ts";
import {
  type LabelledTranscript,
  type Transcript,
  transcriptCues,
  type TranscriptFormat,
} from "./transcript.ts";
import { formatTranscriptJSON, parseWhisperJSON } from "./transcript_json.ts";

/**
 * Reads a transcript. Without `format`, the content decides: `WEBVTT` on the first line is WebVTT, a
 * text starting with `{` or `[` is JSON, anything else SRT.
 *
 * @param source names the file in error messages
 * @throws {WeSpeakerError} `invalid-transcript` naming `source`, the line (SRT, WebVTT, JSON syntax) or
 *   the JSON path (`segments[3].words[0].start`) of the first problem
 */
export function parseTranscript(text: string, source = "transcript", format?: TranscriptFormat): Transcript {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const kind = format ??
    (/^WEBVTT(?:[ \t]|\r|\n|$)/.test(body) ? "vtt" : /^\s*[[{]/.test(body) ? "json" : "srt");
  const segments = kind === "json"
    ? parseWhisperJSON(body, source)
    : kind === "vtt"
    ? parseWebVTT(body, source)
    : parseSRT(body, source);
  return { format: kind, segments };
}

/** Writes a labelled transcript as JSON (WhisperX's shape), SRT (`Alice: text`) or WebVTT (`<v Alice>`). */
export function formatTranscript(transcript: LabelledTranscript, format: TranscriptFormat): string {
  if (format === "json") return formatTranscriptJSON(transcript);
  if (format === "srt") return formatSRT(transcriptCues(transcript));
  if (format === "vtt") return formatWebVTT(transcriptCues(transcript));
  throw new WeSpeakerError("invalid-argument", `transcript format "${format}" is not json, srt or vtt`);
}
