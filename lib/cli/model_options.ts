/**
 * The options that choose an embedding model, shared by every command that embeds.
 *
 * @module
 */
import { DEFAULT_REPO } from "../hub/pretrained.ts";
import { WeSpeakerModel } from "../model.ts";
import { progressBar } from "../progress.ts";
import { type Args, type OptionTable, stringOption, UsageError } from "./command.ts";

/** `--weights PATH` or `--model REPO_OR_PATH [--revision R]`. */
export const MODEL_OPTIONS: OptionTable = {
  weights: { type: "string", short: "w" },
  model: { type: "string", short: "m" },
  revision: { type: "string" },
};

/** Help text for {@link MODEL_OPTIONS}. */
export const MODEL_HELP = `  -w, --weights PATH          an MLX .safetensors file
  -m, --model REPO_OR_PATH    a Hugging Face Hub repo or a local checkpoint file or directory
                              (default: ${DEFAULT_REPO})
      --revision R            Hub branch, tag or commit of --model`;

/** Loads the model the options name and runs `body` with it; the model is closed afterwards. */
export async function withModel<T>(args: Args, body: (model: WeSpeakerModel) => Promise<T>): Promise<T> {
  const weights = stringOption(args, "weights");
  const repo = stringOption(args, "model");
  const revision = stringOption(args, "revision");
  if (weights !== undefined && repo !== undefined) {
    throw new UsageError("give --weights or --model, not both");
  }
  if (revision !== undefined && repo === undefined) throw new UsageError("--revision needs --model");
  using model = weights !== undefined
    ? await WeSpeakerModel.load(weights)
    : await WeSpeakerModel.fromPretrained({ repo, revision, onProgress: progressBar() });
  return await body(model);
}
