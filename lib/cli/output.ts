/**
 * Where a command's result goes: stdout, or a file written atomically (a temporary file beside it,
 * renamed into place once complete), so an interrupted run never leaves half a result behind.
 *
 * @module
 */
import { renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import process from "node:process";
import { WeSpeakerError } from "../errors.ts";

/** The `-o/--output` option every command that prints a result takes. */
export const OUTPUT_OPTION = { output: { type: "string", short: "o" } } as const;

/** Writes `text` to `path` atomically, or to stdout when `path` is undefined or `-`. */
export function writeOutput(path: string | undefined, text: string): void {
  if (path === undefined || path === "-") {
    process.stdout.write(text);
    return;
  }
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(temporary, text);
    renameSync(temporary, path);
  } catch (err) {
    rmSync(temporary, { force: true });
    const why = err instanceof Error ? err.message : String(err);
    throw new WeSpeakerError("io", `cannot write ${path}: ${why}`, { cause: err });
  }
}
