// Runs this package's CLI in a child process of the runtime running the tests (Deno or Bun).
import { spawnSync } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
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
  const runtimeArgs = via === "task"
    ? (isDeno ? ["task", "--quiet", "cli"] : ["run", "--silent", "cli"])
    : isDeno
    ? ["run", "--allow-ffi", "--allow-read", "--allow-env", "lib/cli.ts"]
    : ["lib/cli.ts"];
  const result = spawnSync(process.execPath, [...runtimeArgs, ...args], {
    cwd: repoRoot,
    env: { ...process.env, NO_COLOR: "1", ...env },
    encoding: "utf8",
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
