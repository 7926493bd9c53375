import { dirname } from "node:path";
import { cosineScorer } from "../../identity/scoring.ts";
import { evaluateTrials, parseTrials, type TrialsReport } from "../../identity/trials.ts";
import { diarizationProgressBar } from "../../progress.ts";
import { type Command, flag, stringOption } from "../command.ts";
import { readText } from "../text_files.ts";
import { MODEL_HELP, MODEL_OPTIONS, withModel } from "../model_options.ts";
import { OUTPUT_OPTION, writeOutput } from "../output.ts";
import { thresholdOption } from "../registry_options.ts";

/** `wespeaker eval-trials LIST`: EER and minDCF of the model on a trial list. */
export const evalTrials: Command = {
  name: "eval-trials",
  summary: "EER, minDCF and thresholds on a trial list (label path1 path2), to calibrate",
  help: `usage: wespeaker eval-trials [MODEL] [--root DIR] [-t T] [--scores FILE] [--json] [-o FILE] LIST

Reads a VoxCeleb-style trial list (one trial per line: "1 a.wav b.wav" for the same speaker, "0 a.wav
c.wav" for different ones; target/nontarget also work), embeds every file once, scores each pair (cosine)
and prints the equal error rate, the minimum normalised detection cost at p_target 0.01 and 0.05, the
thresholds reaching them, and the miss and false-alarm rates at the decision threshold (-t, default the
registry's default). Relative paths are taken from --root (default: the list's directory).

options:
${MODEL_HELP}
      --root DIR              directory of the list's relative paths (default: the list's directory)
  -t, --threshold T           report the error rates at this threshold (default: the default threshold)
      --scores FILE           also write each trial's "label score path1 path2" to FILE
      --json                  {"trials", "targets", "nontargets", "scorer", "eer", "eerThreshold",
                              "minDCF": [{"pTarget", "value", "threshold", "pMiss", "pFa"}], "at"};
                              a threshold of null means "accept nothing"
  -o, --output FILE           write there (atomically) instead of stdout`,
  options: {
    ...MODEL_OPTIONS,
    ...OUTPUT_OPTION,
    root: { type: "string" },
    threshold: { type: "string", short: "t" },
    scores: { type: "string" },
    json: { type: "boolean" },
  },
  positionals: { min: 1, max: 1, name: "LIST" },
  async run(args) {
    const [list] = args.positionals;
    const trials = parseTrials(readText(list), list);
    const threshold = thresholdOption(args) ?? cosineScorer().threshold;
    const progress = diarizationProgressBar();
    const report = await withModel(args, (model) =>
      evaluateTrials(model, trials, {
        root: stringOption(args, "root") ?? dirname(list),
        threshold,
        onProgress: ({ done, total }) => progress({ stage: "embeddings", done, total }),
      }));
    const scoresPath = stringOption(args, "scores");
    if (scoresPath !== undefined) {
      const lines = trials.map((t, i) =>
        `${t.target ? 1 : 0} ${report.scores[i]} ${t.enrollment} ${t.test}\n`
      );
      writeOutput(scoresPath, lines.join(""));
    }
    const { scores: _, ...metrics } = report;
    writeOutput(
      stringOption(args, "output"),
      flag(args, "json")
        ? JSON.stringify({ trials: trials.length, ...metrics }, (_, v) => v === Infinity ? null : v) + "\n"
        : formatReport(report, trials.length),
    );
  },
};

function percent(x: number): string {
  return `${(100 * x).toFixed(3)}%`;
}

function thresholdText(t: number): string {
  return t === Infinity ? "none (accept nothing)" : String(Number(t.toPrecision(6)));
}

function formatReport(r: TrialsReport, trials: number): string {
  const lines = [
    `trials       ${trials} (${r.targets} target, ${r.nontargets} non-target), ${r.scorer} scores`,
    `EER          ${percent(r.eer)} at threshold ${thresholdText(r.eerThreshold)}`,
    ...r.minDCF.map((d) =>
      `minDCF ${String(d.pTarget).padEnd(5)} ${d.value.toFixed(4)} at threshold ${
        thresholdText(d.threshold)
      } ` +
      `(miss ${percent(d.pMiss)}, false alarm ${percent(d.pFa)})`
    ),
  ];
  if (r.at) {
    lines.push(
      `at threshold ${thresholdText(r.at.threshold)}: miss ${percent(r.at.pMiss)}, false alarm ${
        percent(r.at.pFa)
      }`,
    );
  }
  return lines.join("\n") + "\n";
}
