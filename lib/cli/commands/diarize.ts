import { mkdirSync } from "node:fs";
import { basename, join } from "node:path";
import { WeSpeakerError } from "../../errors.ts";
import { DiarizationPipeline, type DiarizeOptions } from "../../diarization/pipeline.ts";
import { COMMUNITY_1_PIPELINE } from "../../diarization/pretrained.ts";
import { diarizeChannels } from "../../channels.ts";
import type { WeSpeakerModel } from "../../model.ts";
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

/** `wespeaker diarize FILE...`: who spoke when, with a pyannote pipeline (community-1 or 3.1). */
export const diarize: Command = {
  name: "diarize",
  summary: "who spoke when in audio files (pyannote speaker-diarization-community-1 or -3.1)",
  help: `usage: wespeaker diarize [--pipeline P] [MODEL] [--segmentation S] [options] FILE...

Prints RTTM, one uri per file (the file name without extension; 'stdin' for -), or with --json one line
{"file", "duration", "speakers", "segments", "exclusiveSegments", "speakerEmbeddings"} per file. With
--output-dir, one file per input there instead (DIR/<uri>.rttm or .json). With --channel each, every
channel is diarized on its own and its speakers are named CH<N>_SPEAKER_<K> (JSON: {"file", "channels":
[{"channel", ...}]}). A file that fails is reported on stderr and the others go on; the exit status is
then 1. Stage progress goes to stderr.

options:
  -p, --pipeline P            a pipeline: Hub repo id or local directory with its config.yaml
                              (default: ${COMMUNITY_1_PIPELINE}, gated: set HF_TOKEN;
                              pyannote/speaker-diarization-3.1 is the other published one; with
                              both MODEL and -s given and no -p: speaker-diarization-3.1 over them)
${MODEL_HELP.replace(/\(default: [^)]*\)/, "(default: the pipeline's)")}
  -s, --segmentation S        segmentation model instead of the pipeline's: a Hub repo, a local
                              checkpoint or .safetensors
  -n, --num-speakers N        exact number of speakers
      --min-speakers N        fewest speakers
      --max-speakers N        most speakers (also caps simultaneous speakers)
      --exclusive             the exclusive diarization (one speaker at a time)
      --min-duration-off S    fill gaps shorter than S seconds between one speaker's turns
      --step S                distance between 10 s chunk starts in seconds (default: the
                              pipeline's, 1; 2 with --fast)
      --fast                  fast mode: about 4x faster, NOT pyannote's output (see the README)
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
    pipeline: { type: "string", short: "p" },
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
      minDurationOff: secondsOption(args, "min-duration-off"),
      step: secondsOption(args, "step"),
      fast: flag(args, "fast"),
    };
    const inputs = await audioArgs(args, args.positionals);
    const outputs: string[] = [];
    const progress = (file: string) => diarizationProgressBar(inputs.length > 1 ? file : undefined);
    const pipelineId = stringOption(args, "pipeline");
    const segmentationRepo = stringOption(args, "segmentation");
    const open = async (embedding?: WeSpeakerModel) => {
      // Both networks given and no pipeline: speaker-diarization-3.1 over them, which needs nothing else
      // (community-1 also needs its PLDA, which only its repository or directory holds).
      if (pipelineId === undefined && segmentationRepo !== undefined && embedding !== undefined) {
        const segmentation = await SegmentationModel.fromPretrained({
          repo: segmentationRepo,
          onProgress: progressBar(),
        });
        return new DiarizationPipeline(segmentation, embedding);
      }
      return await DiarizationPipeline.fromPretrained(
        pipelineId ?? COMMUNITY_1_PIPELINE,
        { segmentation: segmentationRepo, embedding, onProgress: progressBar() },
      );
    };
    const diarizeAll = async (embedding?: WeSpeakerModel) => {
      using pipeline = await open(embedding);
      return await withNamingRegistry(
        args,
        pipeline.embedding,
        (registry) =>
          eachInput(inputs, async ({ file, input, options: audio }) => {
            const uri = file === "-" ? "stdin" : basename(file).replace(/\.[^.]*$/, "").replace(/\s/g, "_");
            const audioOptions = { ...options, ...audio, registry, onProgress: progress(file) };
            const result = choice === "each"
              ? await diarizeChannels(pipeline, input, audioOptions)
              : await pipeline.diarizeFile(input, { ...audioOptions, channel: choice });
            const text = renderDiarizeOutput(plan, file, uri, result);
            if (outputDir !== undefined) writeOutput(join(outputDir, `${uri}.${plan.format}`), text);
            else outputs.push(text);
          }),
      );
    };
    const ownModel = stringOption(args, "weights") !== undefined || stringOption(args, "model") !== undefined;
    const failed = ownModel ? await withModel(args, diarizeAll) : await diarizeAll();
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
