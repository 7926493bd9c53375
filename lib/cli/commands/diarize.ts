import { DiarizationPipeline, type DiarizeOptions } from "../../diarization/pipeline.ts";
import { COMMUNITY_1_PIPELINE } from "../../diarization/pretrained.ts";
import type { WeSpeakerModel } from "../../model.ts";
import { diarizationProgressBar, progressBar } from "../../progress.ts";
import { type Command, countOption, flag, secondsOption, stringOption, UsageError } from "../command.ts";
import { MODEL_HELP, MODEL_OPTIONS, withModel } from "../model_options.ts";
import { OUTPUT_OPTION, writeOutput } from "../output.ts";

/** `wespeaker diarize FILE`: who spoke when, with a pyannote pipeline (community-1 or 3.1). */
export const diarize: Command = {
  name: "diarize",
  summary: "who spoke when in an audio file (pyannote speaker-diarization-community-1 or -3.1)",
  help: `usage: wespeaker diarize [--pipeline P] [MODEL] [--segmentation S] [options] FILE

Prints RTTM (uri: the file name without extension), or with --json one object {"file", "duration",
"speakers", "segments", "exclusiveSegments", "speakerEmbeddings"}. Stage progress goes to stderr.

options:
  -p, --pipeline P            a pipeline: Hub repo id or local directory with its config.yaml
                              (default: ${COMMUNITY_1_PIPELINE}, gated: set HF_TOKEN;
                              pyannote/speaker-diarization-3.1 is the other published one)
${MODEL_HELP.replace(/\(default: [^)]*\)/, "(default: the pipeline's)")}
  -s, --segmentation S        segmentation model instead of the pipeline's: a Hub repo, a local
                              checkpoint or .safetensors
  -n, --num-speakers N        exact number of speakers
      --min-speakers N        fewest speakers
      --max-speakers N        most speakers (also caps simultaneous speakers)
      --exclusive             the exclusive diarization (one speaker at a time)
      --min-duration-off S    fill gaps shorter than S seconds between one speaker's turns
      --step S                distance between 10 s chunk starts in seconds (default: the
                              pipeline's, 1)
      --rttm                  RTTM output (the default)
      --json                  JSON output
  -o, --output FILE           write there (atomically) instead of stdout`,
  options: {
    ...MODEL_OPTIONS,
    ...OUTPUT_OPTION,
    pipeline: { type: "string", short: "p" },
    segmentation: { type: "string", short: "s" },
    "num-speakers": { type: "string", short: "n" },
    "min-speakers": { type: "string" },
    "max-speakers": { type: "string" },
    "min-duration-off": { type: "string" },
    step: { type: "string" },
    exclusive: { type: "boolean" },
    rttm: { type: "boolean" },
    json: { type: "boolean" },
  },
  positionals: { min: 1, max: 1, name: "FILE" },
  async run(args) {
    if (flag(args, "rttm") && flag(args, "json")) throw new UsageError("give --rttm or --json, not both");
    if (flag(args, "exclusive") && flag(args, "json")) {
      throw new UsageError("--exclusive chooses the RTTM's turns; the JSON holds both diarizations");
    }
    const [file] = args.positionals;
    const options: DiarizeOptions = {
      numSpeakers: countOption(args, "num-speakers"),
      minSpeakers: countOption(args, "min-speakers"),
      maxSpeakers: countOption(args, "max-speakers"),
      minDurationOff: secondsOption(args, "min-duration-off"),
      step: secondsOption(args, "step"),
      onProgress: diarizationProgressBar(),
    };
    const run = async (embedding?: WeSpeakerModel) => {
      using pipeline = await DiarizationPipeline.fromPretrained(
        stringOption(args, "pipeline") ?? COMMUNITY_1_PIPELINE,
        {
          segmentation: stringOption(args, "segmentation"),
          embedding,
          onProgress: progressBar(),
        },
      );
      return await pipeline.diarizeFile(file, options);
    };
    const ownModel = stringOption(args, "weights") !== undefined || stringOption(args, "model") !== undefined;
    const result = ownModel ? await withModel(args, run) : await run();
    const output = stringOption(args, "output");
    if (flag(args, "json")) {
      writeOutput(output, JSON.stringify({ file, ...result.toJSON() }) + "\n");
      return;
    }
    const uri = (file.split(/[\\/]/).pop() ?? file).replace(/\.[^.]*$/, "").replace(/\s/g, "_");
    writeOutput(output, result.toRTTM(uri, { exclusive: flag(args, "exclusive") }));
  },
};
