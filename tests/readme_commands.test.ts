// The README's commands, run as written: the offline walkthrough (random weights, embed, diarize to an RTTM
// file, der on it) through `npm start --`, and the `deno install` line. Their files must hold nothing but
// what they say (no npm banner, no CMake output), which is what a user redirecting stdout relies on.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { describe, test } from "node:test";
import { parseRTTM } from "../mod.ts";
import { repoRoot } from "./helpers/runtime.ts";

const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
const sample = join(repoRoot, "../shared/data/speech/sample.wav");
const NO_DATA = existsSync(sample) ? false : "../shared/data/speech/sample.wav is absent";
// node --test runs the compiled tree (dist/node), which has no TypeScript for the commands to run: the Deno
// and Bun passes run them on the checkout.
const COMPILED = import.meta.url.endsWith(".js")
  ? "the compiled test tree has no TypeScript sources; the Deno and Bun passes run the README's commands"
  : false;
const PATH = `${join(repoRoot, "node_modules/.bin")}:${process.env.PATH}`;

/** The lines of the README's sh block that holds `marker`. */
function shBlock(marker: string): string[] {
  const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
  const block = blocks.find((b) => b.includes(marker));
  assert.ok(block, `README has an sh block with ${marker}`);
  return block.trim().split("\n");
}

function sh(line: string, env: Record<string, string> = {}) {
  const r = spawnSync("sh", ["-c", line], {
    cwd: repoRoot,
    env: { ...process.env, PATH, ...env },
    encoding: "utf8",
  });
  assert.equal(r.status, 0, `${line}\n${r.stderr}`);
  return r;
}

describe("README commands, run literally", () => {
  test("random weights, embed, diarize > sample.rttm, der", { skip: COMPILED || NO_DATA }, () => {
    const lines = shBlock("generate_weights.ts random.safetensors");
    assert.equal(lines.length, 5, lines.join("\n"));
    const written = [
      join(repoRoot, "random.safetensors"),
      join(repoRoot, "random-segmentation.bin"),
      join(repoRoot, "sample.rttm"),
    ];
    try {
      const outputs = lines.map((line) => sh(line).stdout);
      // embed --json: exactly one JSON line, nothing from npm or the build around it.
      const embed = outputs[1].split("\n").filter((l) => l !== "");
      assert.equal(embed.length, 1, outputs[1]);
      assert.equal(JSON.parse(embed[0]).embedding.length, 256);
      // diarize > sample.rttm: valid RTTM and nothing else.
      const rttm = readFileSync(join(repoRoot, "sample.rttm"), "utf8");
      assert.ok(rttm.length > 0);
      assert.deepEqual([...parseRTTM(rttm, "sample.rttm").keys()], ["sample"]);
      assert.match(outputs[4], /sample/);
    } finally {
      for (const path of written) rmSync(path, { force: true });
    }
  });

  test("the deno install line gives a working `wespeaker` command", { skip: COMPILED }, () => {
    const [line] = shBlock("deno install");
    const root = mkdtempSync(join(tmpdir(), "wespeaker-install-"));
    try {
      sh(line, { DENO_INSTALL_ROOT: root });
      const r = spawnSync(join(root, "bin", "wespeaker"), ["--version"], {
        env: { ...process.env, PATH },
        encoding: "utf8",
      });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^wespeaker \d+\.\d+\.\d+\n$/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
