/**
 * RTTM ("who spoke when") and UEM (scored regions) text files, read strictly and written byte for byte
 * as pyannote.core writes them.
 *
 * @module
 */
import { WeSpeakerError } from "../errors.ts";

/** One speaker turn: `speaker` talks from `start` to `end`, in seconds. */
export interface SpeakerSegment {
  /** Speaker label. */
  speaker: string;
  /** Start time in seconds. */
  start: number;
  /** End time in seconds (`>= start`). */
  end: number;
}

// Record types of the NIST RTTM specification; only SPEAKER records carry turns, the others are skipped.
const RTTM_TYPES = new Set([
  "SEGMENT",
  "NOSCORE",
  "NO_RT_METADATA",
  "LEXEME",
  "NON-LEX",
  "NON-SPEECH",
  "FILLER",
  "EDIT",
  "IP",
  "CB",
  "A/P",
  "SU",
  "SPEAKER",
  "SPKR-INFO",
]);

// Unambiguous (no nested alternatives over digits), so that a long malformed number cannot backtrack.
const DECIMAL = /^\+?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** The data lines of `text`: 1-based line number and whitespace-separated fields. */
function* records(text: string): Generator<[number, string[]]> {
  const lines = text.split(/\r?\n|\r/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line.startsWith(";;") || line.startsWith("#")) continue;
    yield [i + 1, line.split(/\s+/)];
  }
}

function time(field: string, what: string, where: string): number {
  const value = DECIMAL.test(field) ? Number(field) : NaN;
  if (!Number.isFinite(value)) {
    throw new WeSpeakerError("invalid-argument", `${where}: ${what} "${field}" is not a non-negative number`);
  }
  return value;
}

/**
 * Reads the SPEAKER records of an RTTM file: `SPEAKER uri channel onset duration <NA> <NA> speaker
 * <NA> <NA>`, ten whitespace-separated fields. Blank lines, `;;` and `#` comments and the other NIST
 * record types (SPKR-INFO, LEXEME, …) are skipped. The channel and the `<NA>` fields are not checked.
 *
 * Turns keep the order of the file; `end` is `onset + duration`, as pyannote computes it.
 *
 * @param text the file's contents
 * @param source name used in error messages (a path)
 * @returns turns by file URI, in the order the URIs first appear
 * @throws {WeSpeakerError} `invalid-argument` naming `source` and the line for an unknown record type,
 *   a SPEAKER line without exactly ten fields, or an onset or duration that is not a finite
 *   non-negative decimal number
 */
export function parseRTTM(text: string, source = "RTTM"): Map<string, SpeakerSegment[]> {
  const turns = new Map<string, SpeakerSegment[]>();
  for (const [line, fields] of records(text)) {
    const where = `${source} line ${line}`;
    if (!RTTM_TYPES.has(fields[0])) {
      throw new WeSpeakerError("invalid-argument", `${where}: unknown RTTM record type "${fields[0]}"`);
    }
    if (fields[0] !== "SPEAKER") continue;
    if (fields.length !== 10) {
      throw new WeSpeakerError(
        "invalid-argument",
        `${where}: a SPEAKER record has 10 fields (SPEAKER uri channel onset duration <NA> <NA> speaker ` +
          `<NA> <NA>), this one has ${fields.length}`,
      );
    }
    const start = time(fields[3], "onset", where);
    const end = start + time(fields[4], "duration", where);
    if (!Number.isFinite(end)) {
      throw new WeSpeakerError("invalid-argument", `${where}: onset + duration overflows (${end})`);
    }
    const uri = fields[1];
    let list = turns.get(uri);
    if (list === undefined) turns.set(uri, list = []);
    list.push({ speaker: fields[7], start, end });
  }
  return turns;
}

/**
 * Writes turns as RTTM, one line per turn in the order given, exactly as pyannote.core's
 * `Annotation.write_rttm` formats them: `SPEAKER {uri} 1 {start:.3f} {duration:.3f} <NA> <NA>
 * {speaker} <NA> <NA>\n`, with Python's rounding of the exact binary value (half to even). An empty
 * `uri` is written `<NA>`. (pyannote also sorts turns by time; sort them first for identical files.)
 *
 * @param uri file identifier (no whitespace)
 * @param segments turns to write
 * @throws {WeSpeakerError} `invalid-argument` when `uri` or a speaker contains whitespace, a speaker is
 *   empty, or a turn's times are not finite with `0 <= start <= end`
 */
export function formatRTTM(uri: string, segments: readonly SpeakerSegment[]): string {
  if (/\s/.test(uri)) throw new WeSpeakerError("invalid-argument", `RTTM URI "${uri}" contains whitespace`);
  const name = uri === "" ? "<NA>" : uri;
  let out = "";
  segments.forEach(({ speaker, start, end }, i) => {
    if (typeof speaker !== "string" || speaker === "" || /\s/.test(speaker)) {
      throw new WeSpeakerError(
        "invalid-argument",
        `segment ${i}: speaker ${JSON.stringify(speaker)} is empty or contains whitespace`,
      );
    }
    if (!Number.isFinite(start) || !Number.isFinite(end) || start < 0 || end < start) {
      throw new WeSpeakerError(
        "invalid-argument",
        `segment ${i}: start ${start}, end ${end}; need finite times with 0 <= start <= end`,
      );
    }
    // `+ 0` turns -0 into 0, which Python would print as "-0.000" and no RTTM reader accepts.
    out += `SPEAKER ${name} 1 ${pythonFixed(start + 0, 3)} ${pythonFixed(end - start, 3)} <NA> <NA> ` +
      `${speaker} <NA> <NA>\n`;
  });
  return out;
}

/**
 * Reads a UEM file: lines `uri channel start end` (channel not checked), blank lines and `;;`/`#`
 * comments skipped.
 *
 * @param text the file's contents
 * @param source name used in error messages (a path)
 * @returns scored regions `[start, end]` by file URI, in file order
 * @throws {WeSpeakerError} `invalid-argument` naming `source` and the line for a line without exactly
 *   four fields or with times that are not finite non-negative numbers with `start <= end`
 */
export function parseUEM(text: string, source = "UEM"): Map<string, Array<[number, number]>> {
  const regions = new Map<string, Array<[number, number]>>();
  for (const [line, fields] of records(text)) {
    const where = `${source} line ${line}`;
    if (fields.length !== 4) {
      throw new WeSpeakerError(
        "invalid-argument",
        `${where}: a UEM line has 4 fields (uri channel start end), this one has ${fields.length}`,
      );
    }
    const start = time(fields[2], "start", where);
    const end = time(fields[3], "end", where);
    if (end < start) {
      throw new WeSpeakerError("invalid-argument", `${where}: end ${end} is before start ${start}`);
    }
    let list = regions.get(fields[0]);
    if (list === undefined) regions.set(fields[0], list = []);
    list.push([start, end]);
  }
  return regions;
}

/**
 * `value` with `digits` decimals as Python's `'%.{digits}f'` prints it: the exact binary value rounded
 * half to even. (`Number.prototype.toFixed` rounds exact ties away from zero, e.g. 0.0625 -> "0.063"
 * where Python gives "0.062", and switches to exponent notation from 1e21.)
 */
function pythonFixed(value: number, digits: number): string {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, value);
  const bits = view.getBigUint64(0);
  const biased = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & 0xfffffffffffffn;
  // value = mantissa * 2^exponent exactly.
  const mantissa = biased === 0 ? fraction : fraction | (1n << 52n);
  const exponent = (biased === 0 ? 1 : biased) - 1075;
  const scaled = mantissa * 10n ** BigInt(digits);
  let q: bigint;
  if (exponent >= 0) q = scaled << BigInt(exponent);
  else {
    const divisor = 1n << BigInt(-exponent);
    q = scaled / divisor;
    const twice = (scaled % divisor) * 2n;
    if (twice > divisor || (twice === divisor && (q & 1n) === 1n)) q += 1n;
  }
  const text = q.toString().padStart(digits + 1, "0");
  const sign = bits >> 63n ? "-" : "";
  return `${sign}${text.slice(0, text.length - digits)}.${text.slice(text.length - digits)}`;
}
