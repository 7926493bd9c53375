/**
 * Command-line interface, identical under Deno (`deno task cli …`) and Bun (`bun run cli …`).
 *
 * @module
 */
import { readFileSync } from "node:fs";
import process from "node:process";
import { convertCheckpoint, readCheckpoint, writeConverted } from "./convert/mod.ts";
import { evaluateCorpus, formatDERTable } from "./der_report.ts";
import { WeSpeakerError } from "./errors.ts";
import { DiarizationPipeline, type DiarizeOptions } from "./diarization/pipeline.ts";
import { nativeVersion } from "./ffi/library.ts";
import { WeSpeakerModel } from "./model.ts";
import { DEFAULT_REPO, SEGMENTATION_REPO } from "./pretrained.ts";
import { diarizationProgressBar, progressBar } from "./progress.ts";
import { SegmentationModel } from "./segmentation.ts";
import { parseRTTM, parseUEM } from "./rttm.ts";

const USAGE = `usage: wespeaker <command> [options]

commands:
  embed [MODEL] [--json] FILE...     embed each WAV file; with --json, one JSON object per line:
                                     {"file": "<path as given>", "embedding": [256 numbers]}
                                     (otherwise: the path, a tab, then 256 space-separated numbers)
  similarity [MODEL] A B             print the cosine similarity of two WAV files' embeddings
  convert IN OUT                     convert a checkpoint (pyannote/WeSpeaker .bin/.pt, .onnx) to
                                     MLX safetensors OUT, with config.json beside it
  der REF HYP [--uem U] [--collar S] [--skip-overlap] [--json]
                                     diarization error rate of RTTM HYP against RTTM REF, per file
                                     and in total, as pyannote.metrics computes it; U: UEM file of
                                     scored regions; S: total collar width in seconds around reference
                                     boundaries (default 0); --skip-overlap: do not score reference
                                     overlap; --json: {"files": [...], "total": {...}}, der a fraction
  diarize [MODEL] [--segmentation S] FILE [--num-speakers N] [--min-speakers N] [--max-speakers N]
          [--exclusive] [--rttm | --json] [--min-duration-off SECONDS] [--step SECONDS]
                                     who spoke when in a WAV file (pyannote speaker-diarization-3.1):
                                     RTTM on stdout (uri: the file name without extension), or with
                                     --json {"file", "duration", "speakers", "segments",
                                     "speakerEmbeddings"}; --exclusive: one speaker at a time.
                                     S: segmentation model, a Hub repo or local checkpoint or
                                     .safetensors (default: ${SEGMENTATION_REPO}, gated: set HF_TOKEN)
  version                            print the library and MLX versions

MODEL is one of:
  --weights PATH                     an MLX .safetensors file
  --model REPO_OR_PATH [--revision R]  a Hugging Face Hub repo or a local checkpoint file or
                                     directory (default: ${DEFAULT_REPO})`;

class UsageError extends Error {}

interface Parsed {
  flags: Map<string, string | true>;
  positional: string[];
}

function parse(args: string[], valued: string[], switches: string[]): Parsed {
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      positional.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("--")) {
      positional.push(arg);
      continue;
    }
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2);
    if (switches.includes(name) && inline === undefined) flags.set(name, true);
    else if (valued.includes(name)) {
      const value = inline ?? args[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      flags.set(name, value);
    } else throw new UsageError(`unknown option ${arg}`);
  }
  return { flags, positional };
}

const MODEL_FLAGS = ["weights", "model", "revision"];

async function withModel<T>(parsed: Parsed, body: (model: WeSpeakerModel) => Promise<T>): Promise<T> {
  const weights = parsed.flags.get("weights");
  const repo = parsed.flags.get("model");
  if (typeof weights === "string" && repo !== undefined) {
    throw new UsageError("give --weights or --model, not both");
  }
  const revision = parsed.flags.get("revision");
  using model = typeof weights === "string"
    ? await WeSpeakerModel.load(weights)
    : await WeSpeakerModel.fromPretrained({
      repo: repo as string | undefined,
      revision: revision as string | undefined,
      onProgress: progressBar(),
    });
  return await body(model);
}

async function convert(input: string, output: string): Promise<void> {
  const converted = await convertCheckpoint(await readCheckpoint(input), input);
  await writeConverted(output, converted);
  print(
    `wrote ${output}: ${
      Object.keys(converted.tensors).length
    } tensors, ${converted.safetensors.length} bytes`,
  );
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new WeSpeakerError("io", `cannot read ${path}: ${err instanceof Error ? err.message : err}`, {
      cause: err,
    });
  }
}

function der(parsed: Parsed): void {
  if (parsed.positional.length !== 2) throw new UsageError("der needs exactly two RTTM files: REF HYP");
  const [refPath, hypPath] = parsed.positional;
  const collar = seconds(parsed, "collar") ?? 0;
  const uemPath = parsed.flags.get("uem");
  const report = evaluateCorpus(
    parseRTTM(readText(refPath), refPath),
    parseRTTM(readText(hypPath), hypPath),
    {
      uem: typeof uemPath === "string" ? parseUEM(readText(uemPath), uemPath) : undefined,
      collar,
      skipOverlap: parsed.flags.has("skip-overlap"),
    },
  );
  if (!parsed.flags.has("json")) {
    print(formatDERTable(report));
    return;
  }
  const files = report.files.map(({ mapping, ...rest }) => ({
    ...rest,
    mapping: Object.fromEntries(mapping),
  }));
  print(JSON.stringify({ files, total: report.total }));
}

function count(parsed: Parsed, name: string): number | undefined {
  const flag = parsed.flags.get(name);
  if (flag === undefined) return undefined;
  const n = Number(flag);
  if (typeof flag !== "string" || !/^\d+$/.test(flag) || n < 1) {
    throw new UsageError(`--${name} must be a positive integer, got '${flag}'`);
  }
  return n;
}

function seconds(parsed: Parsed, name: string): number | undefined {
  const flag = parsed.flags.get(name);
  if (flag === undefined) return undefined;
  const n = Number(flag);
  if (typeof flag !== "string" || !/\S/.test(flag) || !(Number.isFinite(n) && n >= 0)) {
    throw new UsageError(`--${name} must be a number of seconds >= 0, got '${flag}'`);
  }
  return n;
}

async function diarize(parsed: Parsed): Promise<void> {
  if (parsed.positional.length !== 1) throw new UsageError("diarize needs exactly one FILE");
  if (parsed.flags.has("rttm") && parsed.flags.has("json")) {
    throw new UsageError("give --rttm or --json, not both");
  }
  const [file] = parsed.positional;
  const options: DiarizeOptions = {
    numSpeakers: count(parsed, "num-speakers"),
    minSpeakers: count(parsed, "min-speakers"),
    maxSpeakers: count(parsed, "max-speakers"),
    exclusive: parsed.flags.has("exclusive"),
    minDurationOff: seconds(parsed, "min-duration-off"),
    step: seconds(parsed, "step"),
    onProgress: diarizationProgressBar(),
  };
  const segmentationFlag = parsed.flags.get("segmentation");
  using segmentation = await SegmentationModel.fromPretrained({
    repo: typeof segmentationFlag === "string" ? segmentationFlag : undefined,
    onProgress: progressBar(),
  });
  const result = await withModel(parsed, async (embedding) => {
    return await new DiarizationPipeline(segmentation, embedding).diarizeFile(file, options);
  });
  if (parsed.flags.has("json")) {
    print(JSON.stringify({ file, ...result.toJSON() }));
    return;
  }
  const uri = (file.split(/[\\/]/).pop() ?? file).replace(/\.[^.]*$/, "").replace(/\s/g, "_");
  process.stdout.write(result.toRTTM(uri));
}

function print(line: string): void {
  process.stdout.write(line + "\n");
}

async function run(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case "embed": {
      const parsed = parse(rest, MODEL_FLAGS, ["json"]);
      if (parsed.positional.length === 0) throw new UsageError("embed needs at least one FILE");
      await withModel(parsed, async (model) => {
        for (const file of parsed.positional) {
          const embedding = Array.from(await model.embedFile(file));
          print(
            parsed.flags.has("json")
              ? JSON.stringify({ file, embedding })
              : `${file}\t${embedding.join(" ")}`,
          );
        }
      });
      return;
    }
    case "similarity": {
      const parsed = parse(rest, MODEL_FLAGS, []);
      if (parsed.positional.length !== 2) throw new UsageError("similarity needs exactly two files: A B");
      await withModel(parsed, async (model) => {
        const [a, b] = parsed.positional;
        print(String(WeSpeakerModel.cosineSimilarity(await model.embedFile(a), await model.embedFile(b))));
      });
      return;
    }
    case "convert": {
      const parsed = parse(rest, [], []);
      if (parsed.positional.length !== 2) throw new UsageError("convert needs exactly two paths: IN OUT");
      await convert(parsed.positional[0], parsed.positional[1]);
      return;
    }
    case "diarize":
      await diarize(
        parse(
          rest,
          [
            ...MODEL_FLAGS,
            "segmentation",
            "num-speakers",
            "min-speakers",
            "max-speakers",
            "min-duration-off",
            "step",
          ],
          ["exclusive", "rttm", "json"],
        ),
      );
      return;
    case "der":
      der(parse(rest, ["uem", "collar"], ["skip-overlap", "json"]));
      return;
    case "version":
      print(nativeVersion());
      return;
    case undefined:
    case "help":
    case "--help":
    case "-h":
      print(USAGE);
      return;
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

/** Runs the CLI with the given arguments and returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    await run(argv);
    return 0;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // One line on stderr: multi-line messages (the library search list) are joined.
    const hint = err instanceof UsageError ? " (run 'wespeaker help' for usage)" : "";
    process.stderr.write(`wespeaker: ${message.replace(/\s*\n\s*/g, "; ")}${hint}\n`);
    return err instanceof UsageError ? 2 : err instanceof WeSpeakerError ? 1 : 70;
  }
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
