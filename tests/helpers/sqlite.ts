// Whether this runtime has the SQLite the registry's files need (Deno >= 2.2 and Bun do; Node only from
// 22.13): the tests of registry files skip, saying why, where it has none.
import process from "node:process";

/** Why registry files cannot be tested here, or false when they can. */
export const NO_SQLITE: string | false = await (async () => {
  if (typeof (globalThis as { Bun?: unknown }).Bun !== "undefined") return false;
  try {
    await import("node:sqlite");
    return false;
  } catch {
    return `Node ${process.versions.node} has no node:sqlite (22.13 or newer has): registry files are tested ` +
      `under Deno and Bun`;
  }
})();
