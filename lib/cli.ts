#!/usr/bin/env -S deno run --allow-ffi --allow-read --allow-write --allow-env --allow-net --allow-sys --allow-run
/**
 * The `wespeaker` command line, identical under Deno (`deno task cli …`), Bun (`bun run cli …`) and
 * as an installed executable. `wespeaker --help` lists the commands.
 *
 * @module
 */
import process from "node:process";
import { main } from "./cli/main.ts";

export { main };

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
