import process from "node:process";
import { loadNativeLibrary, nativeVersion } from "../../native/library.ts";
import type { Command } from "../command.ts";

/** `wespeaker version`: the native library's and MLX's versions. */
export const version: Command = {
  name: "version",
  summary: "print the library and MLX versions",
  help: `usage: wespeaker version

Prints the native library's version and the MLX version it was built against.`,
  options: {},
  positionals: { min: 0, max: 0, name: "arguments" },
  async run() {
    await loadNativeLibrary();
    process.stdout.write(nativeVersion() + "\n");
  },
};
