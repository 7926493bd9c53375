import process from "node:process";
import type { ImportConflict } from "../../identity/registry.ts";
import { type Command, flag, stringOption, UsageError } from "../command.ts";
import { readText } from "../text_files.ts";
import { OUTPUT_OPTION, writeOutput } from "../output.ts";
import { REGISTRY_HELP, REGISTRY_OPTIONS, withRegistry } from "../registry_options.ts";

const ACTIONS: Record<string, { args: [number, number]; usage: string }> = {
  list: { args: [0, 0], usage: "list" },
  remove: { args: [1, Infinity], usage: "remove NAME..." },
  rename: { args: [2, 2], usage: "rename OLD NEW" },
  export: { args: [0, 0], usage: "export" },
  import: { args: [1, 1], usage: "import FILE" },
};

/** `wespeaker speakers -r R [list|remove|rename|export|import]`: manage a registry's speakers. */
export const speakers: Command = {
  name: "speakers",
  summary: "list, remove, rename, export or import the speakers of a registry",
  help: `usage: wespeaker speakers -r REGISTRY [list] [--json]
       wespeaker speakers -r REGISTRY remove NAME...
       wespeaker speakers -r REGISTRY rename OLD NEW
       wespeaker speakers -r REGISTRY export [-o FILE]
       wespeaker speakers -r REGISTRY import FILE [--replace | --append]

list (the default) prints name, clips and creation time per speaker, tab-separated (with --json one object
{"model", "revision", "speakers": [{"name", "clips", "created"}]}); remove and rename change the registry;
export prints the whole registry as JSON (every clip's embedding and model); import adds the speakers of
such a file (created when absent), failing on a speaker that exists unless --replace (its clips replaced)
or --append (clips added).

options:
${REGISTRY_HELP}
      --json                  list as JSON
      --replace               import: replace the clips of speakers that exist
      --append                import: add to the clips of speakers that exist
  -o, --output FILE           write there (atomically) instead of stdout`,
  options: {
    ...REGISTRY_OPTIONS,
    ...OUTPUT_OPTION,
    json: { type: "boolean" },
    replace: { type: "boolean" },
    append: { type: "boolean" },
  },
  positionals: { min: 0, max: Infinity, name: "arguments (ACTION ...)" },
  async run(args) {
    const [action = "list", ...rest] = args.positionals;
    const spec = ACTIONS[action];
    if (spec === undefined) {
      throw new UsageError(`unknown action '${action}' (${Object.keys(ACTIONS).join(", ")})`);
    }
    if (rest.length < spec.args[0] || rest.length > spec.args[1]) {
      throw new UsageError(`usage: wespeaker speakers -r REGISTRY ${spec.usage}`);
    }
    if (flag(args, "replace") && flag(args, "append")) {
      throw new UsageError("give --replace or --append, not both");
    }
    if ((flag(args, "replace") || flag(args, "append")) && action !== "import") {
      throw new UsageError("--replace and --append go with import");
    }
    const output = stringOption(args, "output");
    const readOnly = action === "list" || action === "export";
    await withRegistry(args, "speakers", { readOnly, create: action === "import" }, (registry) => {
      switch (action) {
        case "list": {
          const list = registry.speakers();
          if (flag(args, "json")) {
            writeOutput(output, JSON.stringify({ ...registry.heldModel(), speakers: list }) + "\n");
          } else writeOutput(output, list.map((s) => `${s.name}\t${s.clips}\t${s.created}\n`).join(""));
          return;
        }
        case "remove":
          registry.remove(...rest);
          process.stderr.write(`removed ${rest.join(", ")}\n`);
          return;
        case "rename":
          registry.rename(rest[0], rest[1]);
          process.stderr.write(`renamed ${rest[0]} to ${rest[1]}\n`);
          return;
        case "export":
          writeOutput(output, JSON.stringify(registry.export()) + "\n");
          return;
        case "import": {
          const onConflict: ImportConflict = flag(args, "replace")
            ? "replace"
            : flag(args, "append")
            ? "append"
            : "error";
          const { speakers, clips } = registry.import(readText(rest[0]), { onConflict, source: rest[0] });
          process.stderr.write(`imported ${speakers} speakers, ${clips} clips\n`);
          return;
        }
      }
    });
  },
};
