import { type Command, flag, stringOption } from "../command.ts";
import { MODEL_HELP, MODEL_OPTIONS, withModel } from "../model_options.ts";
import { OUTPUT_OPTION, writeOutput } from "../output.ts";
import { REGISTRY_HELP, REGISTRY_OPTIONS, withRegistry } from "../registry_options.ts";

/** `wespeaker enroll -r R NAME FILE...`: adds a speaker's clips to a registry. */
export const enroll: Command = {
  name: "enroll",
  summary: "enroll a speaker by name from audio files into a speaker registry",
  help: `usage: wespeaker enroll -r REGISTRY [MODEL] [--replace] [--json] [-o FILE] NAME FILE...

Embeds each FILE and stores the embeddings under NAME in the registry (created when absent), one clip per
file, with the model's identity: a registry holds one model's embeddings only. Prints the speaker's name and
its number of clips.

options:
${REGISTRY_HELP}
${MODEL_HELP}
      --replace               replace the speaker's earlier clips instead of adding to them
      --json                  {"name", "clips", "created"}
  -o, --output FILE           write there (atomically) instead of stdout`,
  options: {
    ...REGISTRY_OPTIONS,
    ...MODEL_OPTIONS,
    ...OUTPUT_OPTION,
    replace: { type: "boolean" },
    json: { type: "boolean" },
  },
  positionals: { min: 2, max: Infinity, name: "arguments (NAME FILE...)" },
  async run(args) {
    const [name, ...files] = args.positionals;
    const speaker = await withModel(
      args,
      (model) =>
        withRegistry(
          args,
          "enroll",
          { model, create: true },
          (registry) => registry.enroll(name, files, { replace: flag(args, "replace") }),
        ),
    );
    const text = flag(args, "json")
      ? JSON.stringify(speaker)
      : `${speaker.name}\t${speaker.clips} clip${speaker.clips === 1 ? "" : "s"}`;
    writeOutput(stringOption(args, "output"), text + "\n");
  },
};
