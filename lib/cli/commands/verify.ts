import { SpeakerRegistry, type Verification } from "../../identity/registry.ts";
import { type Command, flag, stringOption, UsageError } from "../command.ts";
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

/** `wespeaker verify A B` or `wespeaker verify -r R --speaker NAME FILE`: same speaker or not. */
export const verify: Command = {
  name: "verify",
  summary: "same speaker or not: two audio files, or a file and an enrolled speaker",
  help: `usage: wespeaker verify [MODEL] [-t T] [--json] [-o FILE] A B
       wespeaker verify -r REGISTRY --speaker NAME [MODEL] [-t T] [--json] [-o FILE] FILE

Scores two audio files against each other, or a file against an enrolled speaker, and prints the score, a
tab and "same" or "different" (by the threshold). With --json {"score", "threshold", "same", "scorer"}.
The exit code is 0 either way.

options:
${REGISTRY_HELP} (with --speaker)
      --speaker NAME          the enrolled speaker to compare FILE with
${MODEL_HELP}
  -t, --threshold T           decision threshold (default: the scorer's, see the README)
${PLDA_HELP}
      --json                  JSON output
  -o, --output FILE           write there (atomically) instead of stdout`,
  options: {
    ...REGISTRY_OPTIONS,
    ...MODEL_OPTIONS,
    ...OUTPUT_OPTION,
    ...PLDA_OPTIONS,
    speaker: { type: "string" },
    threshold: { type: "string", short: "t" },
    json: { type: "boolean" },
  },
  positionals: { min: 1, max: 2, name: "files (A B, or FILE with --speaker)" },
  async run(args) {
    const speaker = stringOption(args, "speaker");
    const threshold = thresholdOption(args);
    const scorer = await scorerOption(args);
    const files = args.positionals;
    let result: Verification;
    if (speaker !== undefined) {
      if (files.length !== 1) throw new UsageError("verify --speaker NAME takes exactly one FILE");
      result = await withModel(
        args,
        (model) =>
          withRegistry(
            args,
            "verify --speaker",
            { model, readOnly: true, threshold, scorer },
            (registry) => registry.verify(files[0], { speaker }),
          ),
      );
    } else {
      if (files.length !== 2) {
        throw new UsageError("verify takes two files (A B), or --speaker NAME and one FILE");
      }
      if (stringOption(args, "registry") !== undefined) {
        throw new UsageError("--registry goes with --speaker NAME");
      }
      result = await withModel(args, async (model) => {
        using registry = SpeakerRegistry.inMemory({ model, threshold, scorer });
        return await registry.verify(files[0], files[1]);
      });
    }
    const text = flag(args, "json")
      ? JSON.stringify(result)
      : `${result.score}\t${result.same ? "same" : "different"}`;
    writeOutput(stringOption(args, "output"), text + "\n");
  },
};
