import { type Command, countOption, flag, stringOption } from "../command.ts";
import { MODEL_HELP, MODEL_OPTIONS, withModel } from "../model_options.ts";
import { OUTPUT_OPTION, writeOutput } from "../output.ts";
import {
  PLDA_HELP,
  PLDA_OPTIONS,
  REGISTRY_HELP,
  REGISTRY_OPTIONS,
  scorerOption,
  thresholdOption,
  withRegistry,
} from "../registry_options.ts";

/** `wespeaker identify -r R FILE...`: who is speaking in each file. */
export const identify: Command = {
  name: "identify",
  summary: "who is speaking: each audio file against the enrolled speakers",
  help: `usage: wespeaker identify -r REGISTRY [MODEL] [-k K] [-t T] [--json] [-o FILE] FILE...

Prints, per file, the path, a tab, the best enrolled name (or "unknown" when its score is below the
threshold), a tab and its score; with -k K the K best candidates follow as name=score. With --json one
line {"file", "name" (null when unknown), "score", "threshold", "scorer", "candidates"} per file.

options:
${REGISTRY_HELP}
${MODEL_HELP}
  -k, --top-k K               how many candidates to list (default 1)
  -t, --threshold T           decision threshold (default: the scorer's, see the README)
${PLDA_HELP}
      --json                  one JSON object per line
  -o, --output FILE           write there (atomically) instead of stdout`,
  options: {
    ...REGISTRY_OPTIONS,
    ...MODEL_OPTIONS,
    ...OUTPUT_OPTION,
    ...PLDA_OPTIONS,
    "top-k": { type: "string", short: "k" },
    threshold: { type: "string", short: "t" },
    json: { type: "boolean" },
  },
  positionals: { min: 1, max: Infinity, name: "FILE" },
  async run(args) {
    const topK = countOption(args, "top-k") ?? 1;
    const threshold = thresholdOption(args);
    const scorer = await scorerOption(args);
    const lines = await withModel(
      args,
      (model) =>
        withRegistry(args, "identify", { model, readOnly: true, threshold, scorer }, async (registry) => {
          const out: string[] = [];
          for (const file of args.positionals) {
            const who = await registry.identify(file, { topK });
            if (flag(args, "json")) out.push(JSON.stringify({ file, ...who }));
            else {
              const more = topK > 1 ? who.candidates.map((c) => `\t${c.name}=${c.score}`).join("") : "";
              out.push(`${file}\t${who.name ?? "unknown"}\t${who.score}${more}`);
            }
          }
          return out;
        }),
    );
    writeOutput(stringOption(args, "output"), lines.map((l) => l + "\n").join(""));
  },
};
