import { DiarizationPipeline, type DiarizeOptions } from "../../diarization/pipeline.ts";
import { SEGMENTATION_REPO } from "../../hub/pretrained.ts";
import { diarizationProgressBar, progressBar } from "../../progress.ts";
import { SegmentationModel } from "../../segmentation.ts";
import { type Command, countOption, flag, secondsOption, stringOption, UsageError } from "../command.ts";
import { MODEL_HELP, MODEL_OPTIONS, withModel } from "../model_options.ts";
import { OUTPUT_OPTION, writeOutput } from "../output.ts";

/** `wespeaker diarize FILE`: who spoke when, pyannote speaker-diarization-3.1. */
export const diarize: Command = {
  name: "diarize",
  summary: "who spoke when in an audio file (pyannote speaker-diarization-3.1)",
  help: `usage: wespeaker diarize [MODEL] [--segmentation S] [options] FILE

Prints RTTM (uri: the file name without extension), or with --json one object {"file", "duration",
"speakers", "segments", "speakerEmbeddings"}. Stage progress goes to stderr.

options:
${MODEL_HELP}
  -s, --segmentation S        segmentation model: a Hub repo, a local checkpoint or .safetensors
                              (default: ${SEGMENTATION_REPO}, gated: set HF_TOKEN)
  -n, --num-speakers N        exact number of speakers
      --min-speakers N        fewest speakers
      --max-speakers N        most speakers (also caps simultaneous speakers)
      --exclusive             one speaker at a time
      --min-duration-off S    fill gaps shorter than S seconds between one speaker's turns
      --step S                distance between 10 s chunk starts in seconds (default 1; 2 with --fast)
      --fast                  fast mode: about 4x faster, NOT pyannote's output (see the README)
      --rttm                  RTTM output (the default)
      --json                  JSON output
  -o, --output FILE           write there (atomically) instead of stdout`,
  options: {
    ...MODEL_OPTIONS,
    ...OUTPUT_OPTION,
    segmentation: { type: "string", short: "s" },
    "num-speakers": { type: "string", short: "n" },
    "min-speakers": { type: "string" },
    "max-speakers": { type: "string" },
    "min-duration-off": { type: "string" },
    step: { type: "string" },
    exclusive: { type: "boolean" },
    fast: { type: "boolean" },
    rttm: { type: "boolean" },
    json: { type: "boolean" },
  },
  positionals: { min: 1, max: 1, name: "FILE" },
  async run(args) {
    if (flag(args, "rttm") && flag(args, "json")) throw new UsageError("give --rttm or --json, not both");
    const [file] = args.positionals;
    const options: DiarizeOptions = {
      numSpeakers: countOption(args, "num-speakers"),
      minSpeakers: countOption(args, "min-speakers"),
      maxSpeakers: countOption(args, "max-speakers"),
      exclusive: flag(args, "exclusive"),
      minDurationOff: secondsOption(args, "min-duration-off"),
      step: secondsOption(args, "step"),
      fast: flag(args, "fast"),
      onProgress: diarizationProgressBar(),
    };
    using segmentation = await SegmentationModel.fromPretrained({
      repo: stringOption(args, "segmentation"),
      onProgress: progressBar(),
    });
    const result = await withModel(args, async (embedding) => {
      return await new DiarizationPipeline(segmentation, embedding).diarizeFile(file, options);
    });
    const output = stringOption(args, "output");
    if (flag(args, "json")) {
      writeOutput(output, JSON.stringify({ file, ...result.toJSON() }) + "\n");
      return;
    }
    const uri = (file.split(/[\\/]/).pop() ?? file).replace(/\.[^.]*$/, "").replace(/\s/g, "_");
    writeOutput(output, result.toRTTM(uri));
  },
};
