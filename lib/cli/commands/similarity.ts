import { type Command, stringOption } from "../command.ts";
import { WeSpeakerModel } from "../../model.ts";
import { MODEL_HELP, MODEL_OPTIONS, withModel } from "../model_options.ts";
import { OUTPUT_OPTION, writeOutput } from "../output.ts";

/** `wespeaker similarity A B`: the cosine similarity of two files' embeddings. */
export const similarity: Command = {
  name: "similarity",
  summary: "cosine similarity of two audio files' embeddings",
  help: `usage: wespeaker similarity [MODEL] [-o FILE] A B

Prints the cosine similarity of the two files' embeddings (in [-1, 1]).

options:
${MODEL_HELP}
  -o, --output FILE           write there (atomically) instead of stdout`,
  options: { ...MODEL_OPTIONS, ...OUTPUT_OPTION },
  positionals: { min: 2, max: 2, name: "files (A B)" },
  async run(args) {
    const [a, b] = args.positionals;
    const score = await withModel(args, async (model) => {
      return WeSpeakerModel.cosineSimilarity(await model.embedFile(a), await model.embedFile(b));
    });
    writeOutput(stringOption(args, "output"), `${score}\n`);
  },
};
