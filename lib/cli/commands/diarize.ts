import { mkdirSync } from "node:fs";
import { basename, join } from "node:path";
import { WeSpeakerError } from "../../errors.ts";
import { DiarizationPipeline, type DiarizeOptions } from "../../diarization/pipeline.ts";
import { SEGMENTATION_REPO } from "../../hub/pretrained.ts";
import { diarizeChannels } from "../../channels.ts";
import { diarizationProgressBar, progressBar } from "../../progress.ts";
import { SegmentationModel } from "../../segmentation.ts";
import { type Command, countOption, flag, secondsOption, stringOption, UsageError } from "../command.ts";
import {
  DIARIZE_IDENTITY_HELP,
  DIARIZE_IDENTITY_OPTIONS,
  planDiarizeOutput,
  renderDiarizeOutput,
  withNamingRegistry,
} from "../diarize_identity.ts";
import { MODEL_HELP, MODEL_OPTIONS, withModel } from "../model_options.ts";
import { OUTPUT_OPTION, writeOutput } from "../output.ts";
import { AUDIO_HELP, AUDIO_OPTIONS, audioArgs, channelChoice, eachInput } from "../inputs.ts";

/** `wespeaker diarize FILE...`: who spoke when, pyannote speaker-diarization-3.1. */
export const diarize: Command = {
  name: "diarize",
  summary: "who spoke when in audio files (pyannote speaker-diarization-3.1)",
  help: `usage: wespeaker diarize [MODEL] [--segmentation S] [options] FILE...

Prints RTTM, one uri per file (the file name without extension; 'stdin' for -), or with --json one line
{"file", "duration", "speakers", "segments", "speakerEmbeddings"} per file. With --output-dir, one
file per input there instead (DIR/<uri>.rttm or .json). With --channel each, every channel is diarized
on its own and its speakers are named CH<N>_SPEAKER_<K> (JSON: {"file", "channels": [{"channel", ...}]}).
A file that fails is reported on stderr and the others go on; the exit status is then 1. Stage progress
goes to stderr.

options:
${MODEL_HELP}
  -s, --segmentation S        segmentation model: a Hub repo, a local checkpoint or .safetensors
                              (default: ${SEGMENTATION_REPO}, gated: set HF_TOKEN)
  -n, --num-speakers N        exact number of speakers
      --min-speakers N        fewest speakers
      --max-speakers N        most speakers (also caps simultaneous speakers)
      --exclusive             one speaker at a time
      --min-duration-off S    fill gaps shorter than S seconds between one speaker's turns
      --step S                distance between 10 s chunk starts in seconds (default 1)
${AUDIO_HELP}
      --rttm                  RTTM output (the default)
      --json                  JSON output
${DIARIZE_IDENTITY_HELP}
  -o, --output FILE           write there (atomically) instead of stdout
      --output-dir DIR        one output file per input in DIR`,
  options: {
    ...MODEL_OPTIONS,
    ...OUTPUT_OPTION,
    ...AUDIO_OPTIONS,
    segmentation: { type: "string", short: "s" },
    "num-speakers": { type: "string", short: "n" },
    "min-speakers": { type: "string" },
    "max-speakers": { type: "string" },
    "min-duration-off": { type: "string" },
    step: { type: "string" },
    exclusive: { type: "boolean" },
    rttm: { type: "boolean" },
    json: { type: "boolean" },
    "output-dir": { type: "string" },
    ...DIARIZE_IDENTITY_OPTIONS,
  },
  positionals: { min: 1, max: Infinity, name: "FILE" },
  async run(args) {
    if (flag(args, "rttm") && flag(args, "json")) throw new UsageError("give --rttm or --json, not both");
    const output = stringOption(args, "output");
    const outputDir = stringOption(args, "output-dir");
    if (output !== undefined && outputDir !== undefined) {
      throw new UsageError("give -o or --output-dir, not both");
    }
    const plan = planDiarizeOutput(args);
    const choice = channelChoice(args);
    if ((plan.transcript || plan.svg !== undefined) && (args.positionals.length > 1 || choice === "each")) {
      throw new UsageError("--transcript and --svg go with one FILE and one channel");
    }
    if (outputDir !== undefined) makeDirectory(outputDir);
    const options: DiarizeOptions = {
      numSpeakers: countOption(args, "num-speakers"),
      minSpeakers: countOption(args, "min-speakers"),
      maxSpeakers: countOption(args, "max-speakers"),
      exclusive: flag(args, "exclusive"),
      minDurationOff: secondsOption(args, "min-duration-off"),
      step: secondsOption(args, "step"),
    };
    const inputs = await audioArgs(args, args.positionals);
    using segmentation = await SegmentationModel.fromPretrained({
      repo: stringOption(args, "segmentation"),
      onProgress: progressBar(),
    });
    const outputs: string[] = [];
    const progress = (file: string) => diarizationProgressBar(inputs.length > 1 ? file : undefined);
    const failed = await withModel(args, (embedding) =>
      withNamingRegistry(args, embedding, (registry) => {
        const pipeline = new DiarizationPipeline(segmentation, embedding);
        return eachInput(inputs, async ({ file, input, options: audio }) => {
          const uri = file === "-" ? "stdin" : basename(file).replace(/\.[^.]*$/, "").replace(/\s/g, "_");
          const audioOptions = { ...options, ...audio, registry, onProgress: progress(file) };
          const result = choice === "each"
            ? await diarizeChannels(pipeline, input, audioOptions)
            : await pipeline.diarizeFile(input, { ...audioOptions, channel: choice });
          const text = renderDiarizeOutput(plan, file, uri, result);
          if (outputDir !== undefined) writeOutput(join(outputDir, `${uri}.${plan.format}`), text);
          else outputs.push(text);
        });
      }));
    if (outputDir === undefined) writeOutput(output, outputs.join(""));
    return failed > 0 ? 1 : 0;
  },
};

function makeDirectory(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new WeSpeakerError("io", `cannot create the output directory ${dir}: ${why}`, { cause: err });
  }
}
