/**
 * The bench's measurements: timed calls under a {@link Policy}, their summary statistics, and peak
 * memory from /proc. The one place where anything is timed.
 *
 * @module
 */
import { readFileSync } from "node:fs";

/** How one thing is timed: warm-up calls, then timed calls until both minimums are met. */
export interface Policy {
  /** Untimed calls first. */
  warmup: number;
  /** Fewest timed calls. */
  minRuns: number;
  /** Fewest seconds of timed calls in all. */
  minSeconds: number;
  /** Most timed calls, whatever `minSeconds` says. */
  maxRuns: number;
}

/** The timed calls of one measurement. */
export interface Timed<T> {
  /** Seconds of each timed call (warm-up excluded). */
  seconds: number[];
  /** What each timed call returned. */
  results: T[];
}

/** Calls `fn` as `policy` says and times each call after the warm-up. */
export async function measure<T>(fn: () => T | Promise<T>, policy: Policy): Promise<Timed<T>> {
  for (let i = 0; i < policy.warmup; i++) await fn();
  const seconds: number[] = [];
  const results: T[] = [];
  let total = 0;
  while (
    seconds.length < policy.maxRuns && (seconds.length < policy.minRuns || total < policy.minSeconds)
  ) {
    const t0 = performance.now();
    results.push(await fn());
    const dt = (performance.now() - t0) / 1000;
    seconds.push(dt);
    total += dt;
  }
  return { seconds, results };
}

/** Order statistics of a set of measurements. */
export interface Summary {
  /** How many. */
  n: number;
  median: number;
  min: number;
  max: number;
  /** First and third quartiles (linear interpolation, as numpy's default). */
  q1: number;
  q3: number;
}

function quantile(sorted: number[], q: number): number {
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}

/** The {@link Summary} of `values`. */
export function summarize(values: number[]): Summary {
  const s = [...values].sort((a, b) => a - b);
  return {
    n: s.length,
    median: quantile(s, 0.5),
    min: s[0],
    max: s[s.length - 1],
    q1: quantile(s, 0.25),
    q3: quantile(s, 0.75),
  };
}

/** A field of /proc/self/status in KiB (`VmRSS`, `VmHWM`, …); Linux only. */
export function readStatusKiB(field: string): number {
  const match = readFileSync("/proc/self/status", "utf8").match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
  if (!match) throw new Error(`/proc/self/status has no ${field}`);
  return Number(match[1]);
}

/** This process's memory around one call, the models already loaded. */
export interface PeakMemory {
  /** Resident set size before the call. */
  rssAfterLoadKiB: number;
  /** Peak resident set size (VmHWM) before the call: what loading took. */
  peakAfterLoadKiB: number;
  /** Peak resident set size after the call. */
  peakKiB: number;
  /** Duration of the call. */
  seconds: number;
}

/** Runs `fn` once and reports this process's peak memory before and after it. */
export async function peakMemoryOf<T>(fn: () => T | Promise<T>): Promise<PeakMemory & { result: T }> {
  const rssAfterLoadKiB = readStatusKiB("VmRSS");
  const peakAfterLoadKiB = readStatusKiB("VmHWM");
  const t0 = performance.now();
  const result = await fn();
  const seconds = (performance.now() - t0) / 1000;
  return { rssAfterLoadKiB, peakAfterLoadKiB, peakKiB: readStatusKiB("VmHWM"), seconds, result };
}
