/**
 * A download progress bar on stderr for the CLI: redrawn in place on a terminal, one line per
 * file otherwise (so logs stay readable).
 *
 * @module
 */
import process from "node:process";
import type { DiarizationProgress } from "./diarization/local.ts";
import type { HubProgress } from "./hub/hub.ts";

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

/** Returns an `onProgress` callback drawing a bar per file on stderr. */
export function progressBar(): (p: HubProgress) => void {
  const tty = Boolean(process.stderr.isTTY);
  let current = "";
  return ({ file, downloaded, total }) => {
    const done = total !== undefined && downloaded >= total;
    if (!tty) {
      if (file !== current) process.stderr.write(`downloading ${file}${total ? ` (${mb(total)} MB)` : ""}\n`);
      current = file;
      return;
    }
    current = file;
    const width = 30;
    const fraction = total ? Math.min(1, downloaded / total) : 0;
    const bar = "#".repeat(Math.round(fraction * width)).padEnd(width, " ");
    const size = total ? `${mb(downloaded)}/${mb(total)} MB` : `${mb(downloaded)} MB`;
    process.stderr.write(`\r${file} [${bar}] ${Math.round(fraction * 100)}% ${size}${done ? "\n" : ""}`);
  };
}

/** Returns an `onProgress` callback for the diarization pipeline drawing its stages on stderr. */
export function diarizationProgressBar(): (p: DiarizationProgress) => void {
  const tty = Boolean(process.stderr.isTTY);
  // Segmentation and embedding alternate batch by batch: a log gets each stage once.
  const started = new Set<string>();
  return ({ stage, done, total }) => {
    if (!tty) {
      if (!started.has(stage)) process.stderr.write(`${stage}\n`);
      started.add(stage);
      return;
    }
    const width = 30;
    const fraction = total ? Math.min(1, done / total) : 0;
    const bar = "#".repeat(Math.round(fraction * width)).padEnd(width, " ");
    const of = total === undefined ? `${done}` : `${done}/${total}`;
    const end = total !== undefined && done >= total ? "\n" : "";
    process.stderr.write(`\r${stage.padEnd(14)} [${bar}] ${of}${end}`);
  };
}
