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

function clock(ms: number): string {
  const seconds = Math.round(ms / 1000);
  const m = Math.floor(seconds / 60);
  return `${m}:${String(seconds % 60).padStart(2, "0")}`;
}

/**
 * Returns an `onProgress` callback for the diarization pipeline: on a terminal one line redrawn with the
 * stage running now, its bar, the time elapsed and an estimate of the time left; otherwise one line per
 * stage as it starts (so logs stay readable). `label` (the file) prefixes the line when several files run.
 */
export function diarizationProgressBar(label?: string): (p: DiarizationProgress) => void {
  const tty = Boolean(process.stderr.isTTY);
  const prefix = label === undefined ? "" : `${label}: `;
  const start = Date.now();
  // Segmentation and embeddings alternate batch by batch: one phase, timed by the chunks fully done.
  const inChunkPhase = (stage: string) => stage === "segmentation" || stage === "embeddings";
  let phase = "";
  let phaseStart = start;
  let chunksDone = 0;
  const announced = new Set<string>();
  return ({ stage, done, total }) => {
    const now = Date.now();
    const stagePhase = inChunkPhase(stage) ? "chunks" : stage;
    if (stagePhase !== phase) {
      phase = stagePhase;
      phaseStart = now;
    }
    if (stage === "embeddings") chunksDone = done;
    const progress = inChunkPhase(stage) ? chunksDone : done;
    const elapsed = `elapsed ${clock(now - start)}`;
    if (!tty) {
      if (!announced.has(stage)) process.stderr.write(`${prefix}${stage} (${elapsed})\n`);
      announced.add(stage);
      return;
    }
    const width = 30;
    const fraction = total ? Math.min(1, done / total) : 0;
    const bar = "#".repeat(Math.round(fraction * width)).padEnd(width, " ");
    const of = total === undefined ? `${done}` : `${done}/${total}`;
    const left = total !== undefined && progress > 0 && progress < total
      ? `, about ${clock(((now - phaseStart) * (total - progress)) / progress)} left`
      : "";
    const end = stage === "reconstruction" && total !== undefined && done >= total ? "\n" : "";
    process.stderr.write(`\r${prefix}${stage.padEnd(14)} [${bar}] ${of} ${elapsed}${left}\x1b[K${end}`);
  };
}
