/**
 * Draws the turns of an RTTM file holding one file URI as an SVG timeline (what `DiarizationResult.toSVG`
 * draws); `--rename a=Alice,b=Bob` names the speakers. The README's picture is made this way:
 *
 *     deno run -R -W scripts/draw_rttm.ts ../shared/data/speech/sample.rttm sample.svg --width 900 \
 *         --rename speaker90=Diane,speaker91=Sheila && rsvg-convert sample.svg -o docs/sample-timeline.png
 *
 * @module
 */
import { readFileSync, writeFileSync } from "node:fs";
import process from "node:process";
import { parseArgs } from "node:util";
import { parseRTTM } from "../lib/formats/rttm.ts";
import { diarizationSVG } from "../lib/formats/svg.ts";

const { positionals, values } = parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  options: { rename: { type: "string" }, width: { type: "string" } },
});
if (positionals.length !== 2) {
  console.error("usage: scripts/draw_rttm.ts IN.rttm OUT.svg [--rename a=Alice,b=Bob] [--width PX]");
  process.exit(2);
}
const [input, output] = positionals;
const names = new Map(
  (values.rename ?? "").split(",").filter(Boolean).map((pair) => pair.split("=") as [string, string]),
);
const files = [...parseRTTM(readFileSync(input, "utf8"), input)];
if (files.length !== 1) {
  console.error(`${input} holds ${files.length} files; this draws one`);
  process.exit(1);
}
const [uri, turns] = files[0];
const segments = turns.map((t) => ({ ...t, speaker: names.get(t.speaker) ?? t.speaker }));
writeFileSync(
  output,
  diarizationSVG({ segments }, {
    width: values.width ? Number(values.width) : 1000,
    title: `${uri}: who spoke when`,
  }),
);
