import { type Command, flag, stringOption } from "../command.ts";
import { MODEL_HELP, MODEL_OPTIONS, withModel } from "../model_options.ts";
import { OUTPUT_OPTION, writeOutput } from "../output.ts";

/** `wespeaker embed`: one embedding per file. */
export const embed: Command = {
  name: "embed",
  summary: "speaker embedding of each audio file",
  help: `usage: wespeaker embed [MODEL] [--json] [-o FILE] FILE...

Prints, per file, the path as given, a tab and 256 space-separated numbers; with --json one line
{"file": "<path as given>", "embedding": [256 numbers]} per file.

options:
${MODEL_HELP}
      --json                  one JSON object per line
  -o, --output FILE           write there (atomically) instead of stdout`,
  options: { ...MODEL_OPTIONS, ...OUTPUT_OPTION, json: { type: "boolean" } },
  positionals: { min: 1, max: Infinity, name: "FILE" },
  async run(args) {
    const lines: string[] = [];
    await withModel(args, async (model) => {
      for (const file of args.positionals) {
        const embedding = Array.from(await model.embedFile(file));
        lines.push(
          flag(args, "json") ? JSON.stringify({ file, embedding }) : `${file}\t${embedding.join(" ")}`,
        );
      }
    });
    writeOutput(stringOption(args, "output"), lines.map((line) => line + "\n").join(""));
  },
};
