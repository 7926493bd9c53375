/**
 * What every CLI command is made of: its option table (read by `node:util`'s `parseArgs`, which runs
 * unchanged in Deno, Bun and Node), its help text, and a `run` that gets the parsed arguments.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

/** A mistake in the command line itself: exit code 2 and a pointer to `--help`. */
export class UsageError extends Error {}

/** The option table of a command, in `parseArgs`' form. */
export type OptionTable = NonNullable<ParseArgsConfig["options"]>;

/** Parsed arguments: option values by long name, and the positionals in order. */
export interface Args {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
}

/** One command of the CLI. */
export interface Command {
  /** The word that selects it: `wespeaker <name> …`. */
  name: string;
  /** One line for the command list. */
  summary: string;
  /** The synopsis and the option descriptions shown by `wespeaker <name> --help`. */
  help: string;
  /** Its options (`--help`/`-h` is added to every command). */
  options: OptionTable;
  /** How many positionals it takes. */
  positionals: { min: number; max: number; name: string };
  /** Runs the command; resolves to the exit code (0 when omitted). */
  run(args: Args): Promise<number | void> | number | void;
}

const HELP_OPTION: OptionTable = { help: { type: "boolean", short: "h" } };

/**
 * Parses a command's arguments strictly: an unknown option, a missing value or a wrong number of
 * positionals is a {@link UsageError} naming it.
 */
export function parseCommandArgs(command: Command, argv: string[]): Args & { help: boolean } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...command.options, ...HELP_OPTION },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    // parseArgs' messages name the option and say what is wrong with it (on several lines).
    const message = err instanceof Error ? err.message.replace(/\s*\n\s*/g, " ") : String(err);
    throw new UsageError(`${command.name}: ${message}`, { cause: err });
  }
  const values = parsed.values as Args["values"];
  const help = values.help === true;
  delete values.help;
  const { min, max, name } = command.positionals;
  const n = parsed.positionals.length;
  if (!help && (n < min || n > max)) {
    const wanted = min === max ? `exactly ${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
    throw new UsageError(`${command.name} takes ${wanted} ${name}, got ${n}`);
  }
  return { values, positionals: parsed.positionals, help };
}

/** A string option's value, or `undefined` when absent. */
export function stringOption(args: Args, name: string): string | undefined {
  const value = args.values[name];
  return typeof value === "string" ? value : undefined;
}

/** A boolean option: true when given. */
export function flag(args: Args, name: string): boolean {
  return args.values[name] === true;
}

/** A positive integer option (`--num-speakers 3`), or `undefined` when absent. */
export function countOption(args: Args, name: string): number | undefined {
  const value = stringOption(args, name);
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    throw new UsageError(`--${name} must be a positive integer, got '${value}'`);
  }
  return Number(value);
}

/** A non-negative number of seconds (`--collar 0.5`), or `undefined` when absent. */
export function secondsOption(args: Args, name: string): number | undefined {
  const value = stringOption(args, name);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/\S/.test(value) || !(Number.isFinite(n) && n >= 0)) {
    throw new UsageError(`--${name} must be a number of seconds >= 0, got '${value}'`);
  }
  return n;
}
