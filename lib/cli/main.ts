/**
 * The `wespeaker` command line: a table of commands, each parsed strictly by `node:util`'s
 * `parseArgs`, with `--help` for each and `--version`. Results go to stdout or `-o FILE`, progress and
 * errors to stderr, so `wespeaker diarize a.wav > a.rttm` writes nothing but RTTM.
 *
 * @module
 */
import process from "node:process";
import { WeSpeakerError } from "../errors.ts";
import { VERSION } from "../version.ts";
import { type Command, parseCommandArgs, UsageError } from "./command.ts";
import { convert } from "./commands/convert.ts";
import { der } from "./commands/der.ts";
import { diarize } from "./commands/diarize.ts";
import { embed } from "./commands/embed.ts";
import { enroll } from "./commands/enroll.ts";
import { evalTrials } from "./commands/eval_trials.ts";
import { identify } from "./commands/identify.ts";
import { speakers } from "./commands/speakers.ts";
import { verify } from "./commands/verify.ts";
import { similarity } from "./commands/similarity.ts";
import { version } from "./commands/version.ts";

/** Every command, in the order `wespeaker --help` lists them. */
export const COMMANDS: readonly Command[] = [
  embed,
  similarity,
  diarize,
  der,
  enroll,
  identify,
  verify,
  speakers,
  evalTrials,
  convert,
  version,
];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`);
  return `usage: wespeaker <command> [options] [arguments]

commands:
${lines.join("\n")}

Run 'wespeaker <command> --help' for a command's options; 'wespeaker --version' for the version.
`;
}

async function run(argv: string[], current: { command?: Command }): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    const topic = name === "help" ? rest[0] : undefined;
    const command = COMMANDS.find((c) => c.name === topic);
    if (topic !== undefined && command === undefined) throw new UsageError(`unknown command '${topic}'`);
    process.stdout.write(command ? command.help + "\n" : usage());
    return 0;
  }
  if (name === "--version" || name === "-V") {
    process.stdout.write(`wespeaker ${VERSION}\n`);
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) throw new UsageError(`unknown command '${name}'`);
  current.command = command;
  const args = parseCommandArgs(command, rest);
  if (args.help) {
    process.stdout.write(command.help + "\n");
    return 0;
  }
  return (await command.run(args)) ?? 0;
}

/** Runs the CLI with the given arguments and returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const current: { command?: Command } = {};
  try {
    return await run(argv, current);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // One line on stderr: multi-line messages (the library search list) are joined.
    const help = current.command ? `wespeaker ${current.command.name} --help` : "wespeaker --help";
    const hint = err instanceof UsageError ? ` (run '${help}' for usage)` : "";
    process.stderr.write(`wespeaker: ${message.replace(/\s*\n\s*/g, "; ")}${hint}\n`);
    return err instanceof UsageError ? 2 : err instanceof WeSpeakerError ? 1 : 70;
  }
}
