import { type Command, stringOption, UsageError } from "../command.ts";
import { WeSpeakerModel } from "../../model.ts";
import { MODEL_HELP, MODEL_OPTIONS, withModel } from "../model_options.ts";
import { OUTPUT_OPTION, writeOutput } from "../output.ts";
import { AUDIO_HELP, AUDIO_OPTIONS, audioArgs, channelChoice } from "../inputs.ts";

/** `wespeaker similarity A B`: the cosine similarity of two files' embeddings. */
export const similarity: Command = {
  name: "similarity",
  summary: "cosine similarity of two audio files' embeddings",
  help: `usage: wespeaker similarity [MODEL] [--channel N] [-o FILE] A B

Prints the cosine similarity of the two files' embeddings (in [-1, 1]).

options:
${MODEL_HELP}
${AUDIO_HELP.replace("N|each", "N     ").replace(/\n.*'each'.*/, "")}
  -o, --output FILE           write there (atomically) instead of stdout`,
  options: { ...MODEL_OPTIONS, ...OUTPUT_OPTION, ...AUDIO_OPTIONS },
  positionals: { min: 2, max: 2, name: "files (A B)" },
  async run(args) {
    const channel = channelChoice(args);
    if (channel === "each") {
      throw new UsageError("similarity compares two files: --channel each does not apply");
    }
    const [a, b] = await audioArgs(args, args.positionals);
    const score = await withModel(args, async (model) => {
      return WeSpeakerModel.cosineSimilarity(
        await model.embedFile(a.input, { ...a.options, channel }),
        await model.embedFile(b.input, { ...b.options, channel }),
      );
    });
    writeOutput(stringOption(args, "output"), `${score}\n`);
  },
};
