// Runs this package's CLI and scripts in a child process of the runtime running the tests (Deno, Bun
// or Node, which runs the compiled tree: there lib/cli.ts is lib/cli.js, see scripts/build_js.mjs).
import { spawn, spawnSync } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";
const isBun = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The arguments that make this runtime (`process.execPath`) run `script`, a path relative to the
 * repository root (under Node, the compiled tree's root, where the script is .js).
 */
export function scriptArgs(script: string, args: string[], options: { exposeGc?: boolean } = {}): string[] {
  if (isDeno) return ["run", "-A", ...(options.exposeGc ? ["--v8-flags=--expose-gc"] : []), script, ...args];
  if (isBun) return [script, ...args];
  return [...(options.exposeGc ? ["--expose-gc"] : []), script, ...args];
}

function cliCommand(args: string[], via: "file" | "task"): string[] {
  if (via === "task") {
    // The documented entry points: `deno task cli`, `bun run cli`, and for Node the package's bin.
    if (isDeno) return ["task", "--quiet", "cli", ...args];
    return isBun ? ["run", "--silent", "cli", ...args] : ["bin/wespeaker.js", ...args];
  }
  return isDeno
    ? [
      "run",
      "--allow-ffi",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-net",
      "--allow-sys",
      "--allow-run",
      "lib/cli.ts",
      ...args,
    ]
    : ["lib/cli.ts", ...args];
}

/**
 * Runs the CLI. `via: "task"` goes through the documented entry point instead (`deno task cli`,
 * `bun run cli`), as a user would.
 */
export function runCli(
  args: string[],
  env: Record<string, string> = {},
  via: "file" | "task" = "file",
): CliResult {
  const result = spawnSync(process.execPath, cliCommand(args, via), {
    cwd: repoRoot,
    env: { ...process.env, NO_COLOR: "1", ...env },
    encoding: "utf8",
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** {@link runCli} without blocking the event loop: for tests whose process also serves the CLI. */
export function runCliAsync(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const child = spawn(process.execPath, cliCommand(args, "file"), {
    cwd: repoRoot,
    env: { ...process.env, NO_COLOR: "1", ...env },
  });
  let stdout = "", stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => stdout += d);
  child.stderr.setEncoding("utf8").on("data", (d: string) => stderr += d);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}
