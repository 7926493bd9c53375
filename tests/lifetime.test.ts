// Lifetimes seen from outside: a process may exit with models open, and models dropped without
// close() are freed by the FinalizationRegistry (else 30 of them would hold ~800 MB of weights).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import process from "node:process";
import { test } from "node:test";
import { repoRoot, scriptArgs } from "./helpers/runtime.ts";
import { testWeights } from "./helpers/weights.ts";

function child(mode: string) {
  const args = scriptArgs("tests/helpers/lifetime_child.ts", [mode, testWeights().path], { exposeGc: true });
  return spawnSync(process.execPath, args, {
    cwd: repoRoot,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
  });
}

test("a process exits cleanly with models still open", () => {
  const r = child("open");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /exiting with models open/);
});

test("models garbage-collected without close() are freed", () => {
  const r = child("leak");
  assert.equal(r.status, 0, r.stderr);
  const { growthMB } = JSON.parse(r.stdout.trim().split("\n").pop()!);
  assert.ok(growthMB < 300, `RSS grew by ${growthMB} MB over 30 dropped models`);
});
