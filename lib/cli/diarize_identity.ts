/**
 * What `wespeaker diarize` adds for identity, transcripts and pictures: `--registry` (names for the
 * speakers found), `--transcript` with `--format` (a speaker-labelled transcript instead of RTTM) and
 * `--svg` (a timeline). Kept apart from the diarize command so that its file stays about diarization.
 *
 * @module
 */
import type { ChannelDiarization } from "../channels.ts";
import { DiarizationResult } from "../diarization/result.ts";
import { assignSpeakers, type Transcript, type TranscriptFormat } from "../formats/transcript.ts";
import { formatTranscript, parseTranscript } from "../formats/transcript_files.ts";
import { SpeakerRegistry } from "../identity/registry.ts";
import type { WeSpeakerModel } from "../model.ts";
import { type Args, flag, type OptionTable, secondsOption, stringOption, UsageError } from "./command.ts";
import { readText } from "./text_files.ts";
import { writeOutput } from "./output.ts";
import { PLDA_HELP, PLDA_OPTIONS, scorerOption, thresholdOption } from "./registry_options.ts";

/** The options. */
export const DIARIZE_IDENTITY_OPTIONS: OptionTable = {
  registry: { type: "string" },
  "name-threshold": { type: "string" },
  transcript: { type: "string" },
  format: { type: "string" },
  "transcript-tolerance": { type: "string" },
  svg: { type: "string" },
  ...PLDA_OPTIONS,
};

/** Their help lines. */
export const DIARIZE_IDENTITY_HELP =
  `      --registry FILE         name the speakers found after the speakers enrolled in FILE
      --name-threshold T      decision threshold for names (default: the scorer's, see the README)
${PLDA_HELP}
      --transcript FILE       a transcript (Whisper JSON, SRT, WebVTT) to label with the speakers
      --format F              rttm, json, srt or vtt (default: rttm; with --transcript, its own format)
      --transcript-tolerance S
                              a word that overlaps no turn goes to the nearest turn within S seconds
                              (default 0.5)
      --svg FILE              also draw the speakers' timeline as SVG`;

const FORMATS = ["rttm", "json", "srt", "vtt"] as const;
type OutputFormat = typeof FORMATS[number];

/** The output, decided (and the transcript read) before any audio is processed. */
export interface DiarizeOutput {
  format: OutputFormat;
  /** RTTM of the exclusive diarization (`--exclusive`). */
  exclusive: boolean;
  transcript?: Transcript;
  tolerance?: number;
  svg?: string;
}

/** Checks the output options and reads the transcript, so that a mistake is found before diarizing. */
export function planDiarizeOutput(args: Args): DiarizeOutput {
  const asked = stringOption(args, "format");
  if (asked !== undefined && !(FORMATS as readonly string[]).includes(asked)) {
    throw new UsageError(`--format is one of ${FORMATS.join(", ")}, got '${asked}'`);
  }
  const legacy = flag(args, "json") ? "json" : flag(args, "rttm") ? "rttm" : undefined;
  if (asked !== undefined && legacy !== undefined && asked !== legacy) {
    throw new UsageError(`--${legacy} and --format ${asked} disagree`);
  }
  const exclusive = flag(args, "exclusive");
  const path = stringOption(args, "transcript");
  const tolerance = secondsOption(args, "transcript-tolerance");
  if (path === undefined) {
    if (asked === "srt" || asked === "vtt") throw new UsageError(`--format ${asked} needs --transcript FILE`);
    if (tolerance !== undefined) throw new UsageError("--transcript-tolerance goes with --transcript");
    const format = (asked ?? legacy ?? "rttm") as OutputFormat;
    if (exclusive && format !== "rttm") {
      throw new UsageError("--exclusive chooses the RTTM's turns; the JSON holds both diarizations");
    }
    return { format, exclusive, svg: stringOption(args, "svg") };
  }
  if ((asked ?? legacy) === "rttm") {
    throw new UsageError("a labelled transcript is written as json, srt or vtt, not rttm");
  }
  const transcript = parseTranscript(readText(path), path);
  return {
    format: (asked ?? legacy ?? transcript.format) as OutputFormat,
    exclusive,
    transcript,
    tolerance,
    svg: stringOption(args, "svg"),
  };
}

/**
 * Runs `body` with the registry of `--registry` opened read-only for `model` (or none without the
 * option).
 */
export async function withNamingRegistry<T>(
  args: Args,
  model: WeSpeakerModel,
  body: (registry: SpeakerRegistry | undefined) => Promise<T>,
): Promise<T> {
  const path = stringOption(args, "registry");
  const threshold = thresholdOption(args, "name-threshold");
  if (path === undefined) {
    if (threshold !== undefined) throw new UsageError("--name-threshold goes with --registry");
    if (stringOption(args, "plda") !== undefined) throw new UsageError("--plda goes with --registry");
    return await body(undefined);
  }
  const scorer = await scorerOption(args);
  using registry = await SpeakerRegistry.open(path, { model, readOnly: true, threshold, scorer });
  // A registry of another model is found now, not after the whole recording is diarized.
  await registry.checkModel();
  return await body(registry);
}

/**
 * The result as planned: RTTM, JSON or the labelled transcript (a transcript or an SVG only for one
 * channel's result, as {@link planDiarizeOutput}'s caller checks); the SVG is written to its file.
 */
export function renderDiarizeOutput(
  plan: DiarizeOutput,
  file: string,
  uri: string,
  result: DiarizationResult | ChannelDiarization,
): string {
  if (result instanceof DiarizationResult) {
    if (plan.svg !== undefined) {
      const name = file.split(/[\\/]/).pop() ?? file;
      writeOutput(plan.svg, result.toSVG({ title: `${name}: ${result.speakers.length} speakers` }));
    }
    if (plan.transcript) {
      const turns = {
        segments: plan.exclusive ? result.exclusiveSegments : result.segments,
        speakers: result.speakers,
      };
      const labelled = assignSpeakers(plan.transcript, turns, { tolerance: plan.tolerance });
      return formatTranscript(labelled, plan.format as TranscriptFormat);
    }
  }
  return plan.format === "json"
    ? JSON.stringify({ file, ...result.toJSON() }) + "\n"
    : result.toRTTM(uri, { exclusive: plan.exclusive });
}
