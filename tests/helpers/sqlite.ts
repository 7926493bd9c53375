// Whether this runtime has the SQLite the registry's files need (Deno >= 2.2 and Bun do; Node only from
// 22.13): the tests of registry files skip where it has none, with the library's own message as the reason.
import { WeSpeakerError } from "../../lib/errors.ts";
import { loadSqlite } from "../../lib/identity/sqlite.ts";

/** Why registry files cannot be tested here, or false when they can. */
export const NO_SQLITE: string | false = await loadSqlite().then(
  () => false,
  (err) => {
    if (err instanceof WeSpeakerError && err.code === "library-not-found") return err.message;
    throw err;
  },
);
