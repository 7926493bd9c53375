/**
 * SRT and WebVTT subtitles: read strictly (errors name the line), written with speakers (`Alice: text` in
 * SRT, `<v Alice>` voice tags in WebVTT).
 *
 * @module
 */
import { WeSpeakerError } from "../errors.ts";
import type { Cue, TranscriptSegment, TranscriptWord } from "./transcript.ts";

function fail(source: string, line: number, why: string): WeSpeakerError {
  return new WeSpeakerError("invalid-transcript", `${source} line ${line}: ${why}`);
}

function quote(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text);
}

/** SRT's `h…:mm:ss,f…` (1 to 3 decimals, `.` also taken), or WebVTT's `[h…:]mm:ss.fff`; null if neither. */
function timestamp(text: string, comma: boolean): number | null {
  const m = (comma ? /^(\d+):(\d{2}):(\d{2})[,.](\d{1,3})$/ : /^(?:(\d+):)?(\d{2}):(\d{2})\.(\d{3})$/).exec(
    text,
  );
  if (!m) return null;
  const [h, min, s] = [Number(m[1] ?? 0), Number(m[2]), Number(m[3])];
  if (min > 59 || s > 59) return null;
  return h * 3600 + min * 60 + s + Number(m[4].padEnd(3, "0")) / 1000;
}

function timing(
  line: string,
  comma: boolean,
  source: string,
  at: number,
): { start: number; end: number; rest: string } {
  const example = comma ? "00:00:01,000 --> 00:00:02,500" : "00:01.000 --> 00:02.500";
  const m = /^(\S+)[ \t]+-->[ \t]+(\S+)(.*)$/.exec(line);
  if (!m) throw fail(source, at, `expected a timing line such as "${example}", found ${quote(line)}`);
  const start = timestamp(m[1], comma);
  const end = timestamp(m[2], comma);
  if (start === null) {
    throw fail(source, at, `start ${quote(m[1])} is not a time like ${example.split(" ")[0]}`);
  }
  if (end === null) throw fail(source, at, `end ${quote(m[2])} is not a time like ${example.split(" ")[2]}`);
  if (end < start) throw fail(source, at, `end ${m[2]} is before start ${m[1]}`);
  if (m[3] !== "" && !/^[ \t]/.test(m[3])) {
    throw fail(source, at, `unexpected ${quote(m[3])} after the end time`);
  }
  return { start, end, rest: m[3].trim() };
}

/** The lines of `text` (any line ending), with their 1-based numbers. */
function linesOf(text: string): string[] {
  return text.split(/\r\n|\r|\n/);
}

/**
 * Reads SRT: blocks separated by blank lines, each an index, a timing line `00:00:01,000 --> 00:00:02,500`
 * (a `.` is accepted for the `,`, and 1 to 3 decimals; screen coordinates after it are ignored) and text
 * lines. A block whose index line is missing is accepted.
 *
 * @throws {WeSpeakerError} `invalid-transcript` naming `source` and the line
 */
export function parseSRT(text: string, source = "transcript"): TranscriptSegment[] {
  const lines = linesOf(text);
  const segments: TranscriptSegment[] = [];
  let i = 0;
  while (i < lines.length) {
    if (lines[i].trim() === "") {
      i++;
      continue;
    }
    // The index line, unless the block starts with its timing.
    if (!lines[i].includes("-->")) {
      if (!/^\s*\d+\s*$/.test(lines[i])) {
        throw fail(source, i + 1, `expected a cue number or a timing line, found ${quote(lines[i])}`);
      }
      i++;
      if (i >= lines.length || lines[i].trim() === "") {
        throw fail(source, i + 1, "expected the timing line of the cue numbered on the line before");
      }
    }
    const { start, end } = timing(lines[i].trim(), true, source, i + 1);
    i++;
    const body: string[] = [];
    for (; i < lines.length && lines[i].trim() !== ""; i++) {
      if (lines[i].includes("-->")) {
        throw fail(source, i + 1, 'a cue\'s text cannot contain "-->" (a blank line is missing?)');
      }
      body.push(lines[i]);
    }
    segments.push({ start, end, text: body.join("\n") });
  }
  return segments;
}

const ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  nbsp: "\u00a0",
  lrm: "\u200e",
  rlm: "\u200f",
  quot: '"',
  apos: "'",
};

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]{1,6}|#\d{1,7}|[a-zA-Z]+);/g, (whole, name: string) => {
    if (name.startsWith("#")) {
      const code = name[1] === "x" || name[1] === "X"
        ? parseInt(name.slice(2), 16)
        : parseInt(name.slice(1), 10);
      return code > 0 && code <= 0x10ffff && (code < 0xd800 || code > 0xdfff)
        ? String.fromCodePoint(code)
        : whole;
    }
    return ENTITIES[name] ?? whole;
  });
}

/**
 * A cue payload as text: tags (voice, class, styling) removed, character references decoded; inline
 * timestamps (`<00:00:01.500>`) cut it into timed pieces.
 */
function payload(lines: string[], start: number, end: number, source: string, first: number) {
  const pieces: { text: string; at: number }[] = [{ text: "", at: start }];
  lines.forEach((line, k) => {
    if (k > 0) pieces[pieces.length - 1].text += "\n";
    // Tags by scanning (a regular expression would go quadratic on a line of unclosed "<").
    for (let at = 0; at < line.length;) {
      const open = line.indexOf("<", at);
      if (open < 0) {
        pieces[pieces.length - 1].text += decodeEntities(line.slice(at));
        break;
      }
      pieces[pieces.length - 1].text += decodeEntities(line.slice(at, open));
      const close = line.indexOf(">", open);
      if (close < 0) throw fail(source, first + k, `unclosed tag ${quote(line.slice(open))}`);
      at = close + 1;
      const t = timestamp(line.slice(open + 1, close), false);
      if (t === null) continue;
      if (t < pieces[pieces.length - 1].at || t > end) {
        throw fail(
          source,
          first + k,
          `inline time ${line.slice(open, at)} is outside its cue or before the previous one`,
        );
      }
      pieces.push({ text: "", at: t });
    }
  });
  const text = pieces.map((p) => p.text).join("");
  if (pieces.length === 1) return { text };
  const words: TranscriptWord[] = pieces
    .map((p, k) => ({ text: p.text.replace(/\s+/g, " "), start: p.at, end: pieces[k + 1]?.at ?? end }))
    .filter((w) => w.text.trim() !== "");
  return { text, words };
}

/**
 * Reads WebVTT: the `WEBVTT` line and header, then cues (an optional identifier, a timing line
 * `00:01.000 --> 00:02.500` with optional settings, payload lines); NOTE, STYLE and REGION blocks are
 * skipped. Payload tags are dropped (voice `<v …>` included) and character references decoded; inline
 * timestamps give the cue timed words.
 *
 * @throws {WeSpeakerError} `invalid-transcript` naming `source` and the line
 */
export function parseWebVTT(text: string, source = "transcript"): TranscriptSegment[] {
  const lines = linesOf(text);
  if (!/^WEBVTT(?:[ \t].*)?$/.test(lines[0] ?? "")) {
    throw fail(source, 1, `a WebVTT file starts with "WEBVTT", found ${quote(lines[0] ?? "")}`);
  }
  let i = 1;
  while (i < lines.length && lines[i].trim() !== "") {
    if (lines[i].includes("-->")) {
      throw fail(source, i + 1, "a blank line must separate the header from the first cue");
    }
    i++;
  }
  const segments: TranscriptSegment[] = [];
  while (i < lines.length) {
    if (lines[i].trim() === "") {
      i++;
      continue;
    }
    if (/^(?:NOTE|STYLE|REGION)(?:[ \t]|$)/.test(lines[i])) {
      while (i < lines.length && lines[i].trim() !== "") i++;
      continue;
    }
    if (!lines[i].includes("-->")) {
      i++; // the cue identifier
      if (i >= lines.length || !lines[i].includes("-->")) {
        throw fail(
          source,
          i + 1,
          `expected the timing line of the cue named on the line before, found ${quote(lines[i] ?? "")}`,
        );
      }
    }
    const { start, end } = timing(lines[i].trim(), false, source, i + 1);
    i++;
    const first = i + 1;
    const body: string[] = [];
    for (; i < lines.length && lines[i].trim() !== ""; i++) {
      if (lines[i].includes("-->")) {
        throw fail(source, i + 1, 'a cue\'s text cannot contain "-->" (a blank line is missing?)');
      }
      body.push(lines[i]);
    }
    segments.push({ start, end, ...payload(body, start, end, source, first) });
  }
  return segments;
}

function clock(seconds: number, separator: string): string {
  const ms = Math.round(seconds * 1000);
  const h = Math.floor(ms / 3600000), m = Math.floor(ms / 60000) % 60, s = Math.floor(ms / 1000) % 60;
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${pad(h)}:${pad(m)}:${pad(s)}${separator}${pad(ms % 1000, 3)}`;
}

/** Cues as SRT, numbered from 1; a cue with a speaker starts `Speaker: `; blank lines and `-->` are dropped. */
export function formatSRT(cues: readonly Cue[]): string {
  return cues.map((c, k) => {
    // "-->" in the text would read as a timing line; SRT has no escape for it.
    const text = (c.speaker === null ? c.text : `${c.speaker}: ${c.text}`).replaceAll("-->", "->");
    // A blank line would end the cue early.
    const body = text.split("\n").filter((l) => l.trim() !== "").join("\n");
    return `${k + 1}\n${clock(c.start, ",")} --> ${clock(c.end, ",")}\n${body}\n`;
  }).join("\n");
}

function escapeVTT(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Cues as WebVTT; a cue with a speaker starts with its voice tag `<v Speaker>`. Text is escaped. */
export function formatWebVTT(cues: readonly Cue[]): string {
  const blocks = cues.map((c) => {
    const lines = c.text.split("\n").filter((l) => l.trim() !== "").map(escapeVTT);
    if (lines.length === 0) lines.push("");
    if (c.speaker !== null) lines[0] = `<v ${escapeVTT(c.speaker)}>${lines[0]}`;
    return `${clock(c.start, ".")} --> ${clock(c.end, ".")}\n${lines.join("\n")}\n`;
  });
  return ["WEBVTT\n", ...blocks].join("\n");
}
