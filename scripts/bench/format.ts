/**
 * The bench's text: markdown tables and the numbers in them (stdout), progress lines (stderr).
 *
 * @module
 */
import process from "node:process";
import type { Summary } from "./stats.ts";

/** A markdown table; columns whose every cell is a number are right-aligned. */
export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => /^[-\d.,×%~ –]+$/.test(r[i])));
  const cell = (text: string, i: number) => numeric[i] ? text.padStart(widths[i]) : text.padEnd(widths[i]);
  const line = (cells: string[]) => `| ${cells.map(cell).join(" | ")} |`;
  const rule = `|${
    widths.map((w, i) => numeric[i] ? `${"-".repeat(w + 1)}:` : "-".repeat(w + 2)).join("|")
  }|`;
  return [line(headers), rule, ...rows.map(line)].join("\n");
}

/** A number with about three significant digits. */
export function num(x: number): string {
  if (!Number.isFinite(x)) return "–";
  const digits = Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : Math.abs(x) >= 1 ? 2 : 3;
  return x.toFixed(digits);
}

/** Median and min–max of seconds, shown in milliseconds. */
export function msSpread(s: Summary): string[] {
  return [num(s.median * 1e3), `${num(s.min * 1e3)}–${num(s.max * 1e3)}`];
}

/** An audio duration: "10 s", "1 min". */
export function duration(seconds: number): string {
  return seconds >= 60 && seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`;
}

/** KiB as whole MiB. */
export function mib(kib: number): string {
  return `${(kib / 1024).toFixed(0)} MiB`;
}

/** A progress line on stderr. */
export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}
