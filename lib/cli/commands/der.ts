import { evaluateCorpus, formatDERTable } from "../../formats/der_report.ts";
import { derSVG } from "../../formats/der_svg.ts";
import { parseRTTM, parseUEM } from "../../formats/rttm.ts";
import { type Command, flag, secondsOption, stringOption } from "../command.ts";
import { readText } from "../text_files.ts";
import { OUTPUT_OPTION, writeOutput } from "../output.ts";

/** `wespeaker der REF HYP`: diarization error rate as pyannote.metrics computes it. */
export const der: Command = {
  name: "der",
  summary: "diarization error rate of an RTTM against a reference RTTM",
  help: `usage: wespeaker der REF HYP [--uem U] [--collar S] [--skip-overlap] [--json] [--svg FILE] [-o FILE]

Diarization error rate of RTTM HYP against RTTM REF, per file and in total, as pyannote.metrics
computes it.

options:
      --uem U                 UEM file of the scored regions
      --collar S              total collar width in seconds around reference boundaries (default 0)
      --skip-overlap          do not score reference overlap
      --json                  {"files": [...], "total": {...}}, der as a fraction
      --svg FILE              also draw reference, hypothesis, missed speech, false alarm and confusion
                              per file as an SVG timeline
  -o, --output FILE           write there (atomically) instead of stdout`,
  options: {
    ...OUTPUT_OPTION,
    uem: { type: "string" },
    collar: { type: "string" },
    "skip-overlap": { type: "boolean" },
    json: { type: "boolean" },
    svg: { type: "string" },
  },
  positionals: { min: 2, max: 2, name: "RTTM files (REF HYP)" },
  run(args) {
    const [refPath, hypPath] = args.positionals;
    const uemPath = stringOption(args, "uem");
    const reference = parseRTTM(readText(refPath), refPath);
    const hypothesis = parseRTTM(readText(hypPath), hypPath);
    const options = {
      uem: uemPath === undefined ? undefined : parseUEM(readText(uemPath), uemPath),
      collar: secondsOption(args, "collar") ?? 0,
      skipOverlap: flag(args, "skip-overlap"),
    };
    const report = evaluateCorpus(reference, hypothesis, options);
    const svg = stringOption(args, "svg");
    if (svg !== undefined) writeOutput(svg, derSVG(reference, hypothesis, options));
    const output = stringOption(args, "output");
    if (!flag(args, "json")) {
      writeOutput(output, formatDERTable(report) + "\n");
      return;
    }
    const files = report.files.map(({ mapping, ...rest }) => ({
      ...rest,
      mapping: Object.fromEntries(mapping),
    }));
    writeOutput(output, JSON.stringify({ files, total: report.total }) + "\n");
  },
};
