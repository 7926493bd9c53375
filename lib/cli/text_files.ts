/**
 * Text files the commands read (RTTM, UEM, trial lists, transcripts, registry exports), with the error
 * every command gives for one that cannot be read.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { WeSpeakerError } from "../errors.ts";

/** The UTF-8 text of `path`. @throws {WeSpeakerError} `io` naming the file */
export function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new WeSpeakerError("io", `cannot read ${path}: ${why}`, { cause: err });
  }
}
