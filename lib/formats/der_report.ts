/**
 * Diarization error rate over a corpus of files (RTTM contents keyed by URI), and its report as text.
 *
 * @module
 */
import {
  DERAccumulator,
  type DERComponents,
  type DEROptions,
  type DERResult,
  diarizationErrorRate,
} from "./der.ts";
import { WeSpeakerError } from "../errors.ts";
import type { SpeakerSegment } from "./rttm.ts";

/** Options of {@link evaluateCorpus}. */
export interface CorpusOptions {
  /** Scored regions by URI (see `parseUEM`); when given, every scored file needs an entry. */
  uem?: ReadonlyMap<string, ReadonlyArray<readonly [number, number]>>;
  /** Total collar width in seconds, see {@link DEROptions}. */
  collar?: DEROptions["collar"];
  /** Leave out reference overlap, see {@link DEROptions}. */
  skipOverlap?: DEROptions["skipOverlap"];
}

/** One file of a {@link CorpusDER}. */
export interface FileDER extends DERResult {
  /** The file's URI. */
  uri: string;
}

/** Per-file and corpus diarization error rates. */
export interface CorpusDER {
  /** One entry per file: the reference's files in order, then those only the hypothesis has. */
  files: FileDER[];
  /** Components summed over the files, and their rate. */
  total: DERComponents & { der: number };
}

/**
 * Scores every file of `reference` and `hypothesis` (for instance from `parseRTTM`): a file the
 * hypothesis lacks is all missed speech, one the reference lacks all false alarm.
 *
 * @throws {WeSpeakerError} `invalid-argument` when `uem` is given without an entry for a scored file, or
 *   for invalid turns or options (see {@link diarizationErrorRate})
 */
export function evaluateCorpus(
  reference: ReadonlyMap<string, readonly SpeakerSegment[]>,
  hypothesis: ReadonlyMap<string, readonly SpeakerSegment[]>,
  options: CorpusOptions = {},
): CorpusDER {
  const uris = [...new Set([...reference.keys(), ...hypothesis.keys()])];
  const corpus = new DERAccumulator();
  const files = uris.map((uri) => {
    const uem = options.uem?.get(uri);
    if (options.uem !== undefined && uem === undefined) {
      throw new WeSpeakerError("invalid-argument", `the UEM has no entry for file "${uri}"`);
    }
    const result = diarizationErrorRate(reference.get(uri) ?? [], hypothesis.get(uri) ?? [], {
      uem,
      collar: options.collar,
      skipOverlap: options.skipOverlap,
    });
    corpus.add(result);
    return { uri, ...result };
  });
  return { files, total: corpus.components };
}

/**
 * The report as an aligned text table: one row per file and a final `TOTAL` row, with the error rate
 * in percent and the missed, false-alarm, confusion and reference durations in seconds.
 */
export function formatDERTable(report: CorpusDER): string {
  const row = (uri: string, c: DERComponents & { der: number }) => [
    uri,
    (100 * c.der).toFixed(2),
    c.missedDetection.toFixed(3),
    c.falseAlarm.toFixed(3),
    c.confusion.toFixed(3),
    c.total.toFixed(3),
  ];
  const rows = [
    ["uri", "DER%", "miss", "false alarm", "confusion", "total"],
    ...report.files.map((f) => row(f.uri, f)),
    row("TOTAL", report.total),
  ];
  const widths = rows[0].map((_, k) => rows.reduce((w, r) => Math.max(w, r[k].length), 0));
  return rows.map((r) =>
    r.map((cell, k) => k === 0 ? cell.padEnd(widths[k]) : cell.padStart(widths[k])).join("  ")
  )
    .join("\n");
}
