/**
 * Every measurement runs in a fresh child process of the same runtime (scripts/bench.ts with
 * `--child JOB`), so contenders never share a process, a thread pool or an allocator, the thread
 * settings take effect before any library loads, and peak RSS is the job's own.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** The repository root, where children run. */
export const REPO: string = fileURLToPath(new URL("../../", import.meta.url));
const SCRIPT = fileURLToPath(new URL("../bench.ts", import.meta.url));
const RESULT_MARK = "BENCH-RESULT ";

function runtimeArgs(): string[] {
  const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";
  return isDeno ? ["run", "-A", SCRIPT] : [SCRIPT];
}

/** This environment with libwespeaker's convolutions, OpenBLAS (and OpenMP) limited to `threads` threads. */
export function threadEnv(threads: number): Record<string, string> {
  const n = String(threads);
  return {
    ...process.env as Record<string, string>,
    WESPEAKER_NUM_THREADS: n,
    OPENBLAS_NUM_THREADS: n,
    OMP_NUM_THREADS: n,
  };
}

/**
 * Runs `job` (of the job type `J`, which the child understands) in a fresh process of this runtime and
 * returns its result of type `T` (see {@link printResult}); `env` adds to (or overrides) its environment.
 */
export function runChild<J extends { kind: string }, T>(
  job: J,
  threads: number,
  env: Record<string, string> = {},
): T {
  const child = spawnSync(process.execPath, [...runtimeArgs(), "--child", JSON.stringify(job)], {
    cwd: REPO,
    env: { ...threadEnv(threads), ...env },
    stdio: ["ignore", "pipe", "inherit"],
    encoding: "utf8",
    maxBuffer: 256 << 20,
  });
  const line = (child.stdout ?? "").split("\n").find((l) => l.startsWith(RESULT_MARK));
  if (child.status !== 0 || !line) {
    throw new Error(
      `${job.kind} job failed (exit ${child.status ?? child.signal}${child.error ? `, ${child.error}` : ""})`,
    );
  }
  return JSON.parse(line.slice(RESULT_MARK.length)) as T;
}

/** The child side of {@link runChild}: hands a job's result to the parent. */
export function printResult(result: unknown): void {
  process.stdout.write(`${RESULT_MARK}${JSON.stringify(result)}\n`);
}

/** What a wespeaker child actually loaded. */
export interface NativeInfo {
  /** `nativeVersion()`. */
  version: string;
  /** The libwespeaker file and its sha256 when loaded: a rebuild during a run shows up here. */
  library: string;
  sha256: string;
  /** File names of the BLAS libraries mapped into the process. */
  blas: string[];
}

/** The libwespeaker this (child) process loaded, loading it if it has not yet. */
export async function nativeInfo(): Promise<NativeInfo> {
  const { nativeLibrary, nativeVersion } = await import("../../lib/native/library.ts");
  const version = nativeVersion();
  const library = nativeLibrary().path;
  let sha256 = "unreadable";
  try {
    sha256 = createHash("sha256").update(readFileSync(library)).digest("hex");
  } catch { /* found by the system loader, not as a file path */ }
  const mapped = readFileSync("/proc/self/maps", "utf8").split("\n").map((l) => l.split(/\s+/)[5] ?? "");
  const blas = [...new Set(mapped.filter((p) => /blas/i.test(p)).map((p) => p.split("/").pop()!))];
  return { version, library, sha256, blas };
}
