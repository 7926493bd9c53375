import { WeSpeakerError } from "../../errors.ts";
import { openAudioStream, probeAudio } from "../../audio/open.ts";
import { embedWindows } from "../../windows.ts";
import { type Command, flag, secondsOption, stringOption, UsageError } from "../command.ts";
import { MODEL_HELP, MODEL_OPTIONS, withModel } from "../model_options.ts";
import { OUTPUT_OPTION, writeOutput } from "../output.ts";
import { AUDIO_HELP, AUDIO_OPTIONS, audioArgs, channelChoice, eachInput } from "../inputs.ts";

/** `wespeaker embed`: one embedding per file (per channel, per window). */
export const embed: Command = {
  name: "embed",
  summary: "speaker embedding of each audio file (or of each window of it)",
  help: `usage: wespeaker embed [MODEL] [--window S [--hop S]] [--channel N|each] [--json] [-o FILE] FILE...

Prints, per file, the path as given, a tab and 256 space-separated numbers; with --json one line
{"file": "<path as given>", "embedding": [256 numbers]} per file. With --window, one line per window:
path, start and end in seconds, then the numbers ({"file", "start", "end", "embedding"}). With
--channel each, one line per channel, the path followed by '#ch<N>' ({"file", "channel", ...}).
A file that fails is reported on stderr and the others go on; the exit status is then 1.

options:
${MODEL_HELP}
      --window S              embed windows of S seconds (any length of audio; default: whole files,
                              at most about 22 minutes each)
      --hop S                 distance between window starts in seconds (default: the window)
${AUDIO_HELP}
      --json                  one JSON object per line
  -o, --output FILE           write there (atomically) instead of stdout`,
  options: {
    ...MODEL_OPTIONS,
    ...OUTPUT_OPTION,
    ...AUDIO_OPTIONS,
    window: { type: "string" },
    hop: { type: "string" },
    json: { type: "boolean" },
  },
  positionals: { min: 1, max: Infinity, name: "FILE" },
  async run(args) {
    const json = flag(args, "json");
    const windowSeconds = secondsOption(args, "window");
    const hopSeconds = secondsOption(args, "hop");
    if (hopSeconds !== undefined && windowSeconds === undefined) throw new UsageError("--hop needs --window");
    if (windowSeconds === 0 || hopSeconds === 0) {
      throw new UsageError("--window and --hop must be > 0 seconds");
    }
    const choice = channelChoice(args);
    const inputs = await audioArgs(args, args.positionals);
    const lines: string[] = [];
    const line = (
      file: string,
      channel: number | undefined,
      embedding: Float32Array,
      start?: number,
      end?: number,
    ) => {
      const values = Array.from(embedding);
      if (json) {
        const at = channel === undefined ? {} : { channel };
        const span = start === undefined ? {} : { start, end };
        lines.push(JSON.stringify({ file, ...at, ...span, embedding: values }));
        return;
      }
      const label = channel === undefined ? file : `${file}#ch${channel}`;
      const span = start === undefined ? "" : `\t${start}\t${end}`;
      lines.push(`${label}${span}\t${values.join(" ")}`);
    };
    const failed = await withModel(args, (model) =>
      eachInput(inputs, async ({ file, input, options }) => {
        const channels = choice === "each"
          ? Array.from({ length: (await probeAudio(input, options)).channels }, (_, c) => c)
          : [choice];
        const before = lines.length;
        try {
          for (const channel of channels) {
            const audio = { ...options, channel };
            const tag = choice === "each" ? channel : undefined;
            if (windowSeconds === undefined) {
              line(file, tag, await embedWhole(() => model.embedFile(input, audio)));
              continue;
            }
            const stream = await openAudioStream(input, audio);
            const windows = embedWindows(model, stream, { name: audio.name, windowSeconds, hopSeconds });
            for await (const w of windows) line(file, tag, w.embedding, w.start, w.end);
          }
        } catch (err) {
          lines.splice(before); // a file that fails contributes no lines
          throw err;
        }
      }));
    writeOutput(stringOption(args, "output"), lines.map((l) => l + "\n").join(""));
    return failed > 0 ? 1 : 0;
  },
};

/** A whole-file embedding; past the per-call limit the error says how the CLI embeds long audio. */
async function embedWhole(embed: () => Promise<Float32Array>): Promise<Float32Array> {
  try {
    return await embed();
  } catch (err) {
    if (
      err instanceof WeSpeakerError && err.code === "invalid-argument" &&
      err.message.includes("per-call limit")
    ) {
      throw new WeSpeakerError(
        err.code,
        `${err.message.replace(/:[^:]*embedWindows.*$/, "")}: embed it in windows with --window SECONDS`,
        { cause: err },
      );
    }
    throw err;
  }
}
