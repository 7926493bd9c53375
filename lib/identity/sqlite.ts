/**
 * The SQLite store of a speaker registry, through the SQLite the runtime ships: `node:sqlite` (Deno,
 * Node >= 22.13) or `bun:sqlite` (Bun). No native addon. This is the only file of the library that
 * knows which runtime has which; everything else sees a {@link RegistryStore}.
 *
 * Schema 1: `speakers(id, name UNIQUE, created)` and `clips(id, speaker -> speakers.id, model, revision,
 * source, added, embedding BLOB)`, the embedding as little-endian float32; `PRAGMA application_id`
 * 0x5753504B ("WSPK") marks the file as ours, `PRAGMA user_version` holds the schema.
 *
 * @module
 */
import { existsSync } from "node:fs";
import process from "node:process";
import { WeSpeakerError } from "../errors.ts";
import type {
  ClipRecord,
  ModelCount,
  RegistryStore,
  SpeakerRecord,
  SpeakerWrite,
  StoredClip,
} from "./store.ts";

/** `PRAGMA application_id` of a registry: "WSPK". */
export const REGISTRY_APPLICATION_ID = 0x5753504b;
/** The schema this version writes and reads. */
export const REGISTRY_SCHEMA = 1;

type Row = Record<string, unknown>;
type Param = string | number | null | Uint8Array;

interface Statement {
  run(...params: Param[]): { changes: number | bigint; lastInsertRowid: number | bigint };
  get(...params: Param[]): Row | undefined | null;
  all(...params: Param[]): Row[];
  iterate(...params: Param[]): Iterable<Row>;
}

interface Database {
  exec(sql: string): void;
  prepare(sql: string): Statement;
  close(): void;
}

interface NodeSqlite {
  DatabaseSync: new (path: string, options?: { readOnly?: boolean }) => Database;
}
interface BunSqlite {
  Database: new (path: string, options?: { readonly?: boolean; create?: boolean }) => Database;
}

const isBun = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";
// A non-literal specifier keeps Deno's type checker from trying to resolve Bun's built-in module.
const BUN_SQLITE = "bun:sqlite";

function runtimeName(): string {
  const deno = (globalThis as { Deno?: { version?: { deno?: string } } }).Deno;
  if (deno) return `Deno ${deno.version?.deno ?? ""}`.trim();
  if (isBun) return `Bun ${(globalThis as { Bun?: { version?: string } }).Bun?.version ?? ""}`.trim();
  return `Node ${process.versions?.node ?? "(unknown version)"}`;
}

/** Why SQLite is missing, and what to do. */
export function sqliteUnavailableMessage(runtime: string): string {
  return `a speaker registry file needs the runtime's SQLite: Deno >= 2.2, Bun, or Node >= 22.13 (node:sqlite; ` +
    `22.5 to 22.12 with --experimental-sqlite). ${runtime} has none. Use SpeakerRegistry.inMemory() and keep ` +
    `its export() in a JSON file instead, or upgrade the runtime`;
}

/**
 * The runtime's SQLite: `bun:sqlite` under Bun, `node:sqlite` under Deno and Node, as a function that opens
 * a database file.
 *
 * @throws {WeSpeakerError} `library-not-found` naming the runtime and the way out when it has none
 */
export async function loadSqlite(): Promise<(path: string, readOnly: boolean) => Database> {
  if (isBun) {
    const { Database } = (await import(BUN_SQLITE)) as BunSqlite;
    return (p, readOnly) => new Database(p, { readonly: readOnly, create: !readOnly });
  }
  let mod: NodeSqlite;
  try {
    mod = (await import("node:sqlite")) as unknown as NodeSqlite;
  } catch (err) {
    throw new WeSpeakerError("library-not-found", sqliteUnavailableMessage(runtimeName()), { cause: err });
  }
  return (p, readOnly) => new mod.DatabaseSync(p, { readOnly });
}

async function openDatabase(path: string, readOnly: boolean): Promise<Database> {
  const open = await loadSqlite();
  try {
    return open(path, readOnly);
  } catch (err) {
    throw new WeSpeakerError("io", `cannot open speaker registry ${path}: ${reason(err)}`, { cause: err });
  }
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** An embedding as the bytes of its little-endian float32 values. */
export function embeddingBytes(embedding: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) {
    return new Uint8Array(embedding.buffer, embedding.byteOffset, embedding.byteLength).slice();
  }
  const out = new Uint8Array(embedding.length * 4);
  const view = new DataView(out.buffer);
  embedding.forEach((v, i) => view.setFloat32(4 * i, v, true));
  return out;
}

/** The float32 values of little-endian bytes (copied: SQLite's buffers need not be aligned). */
export function bytesEmbedding(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.length / 4);
  if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(bytes);
  else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
  }
  return out;
}

const SCHEMA = `
CREATE TABLE speakers (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created TEXT NOT NULL
);
CREATE TABLE clips (
  id INTEGER PRIMARY KEY,
  speaker INTEGER NOT NULL REFERENCES speakers(id) ON DELETE CASCADE,
  model TEXT NOT NULL,
  revision TEXT NOT NULL,
  source TEXT,
  added TEXT NOT NULL,
  embedding BLOB NOT NULL
);
CREATE INDEX clips_by_speaker ON clips(speaker, id);
CREATE INDEX clips_by_model ON clips(revision, model);
PRAGMA application_id = ${REGISTRY_APPLICATION_ID};
PRAGMA user_version = ${REGISTRY_SCHEMA};
`;

const COLUMNS: Record<string, string[]> = {
  speakers: ["id", "name", "created"],
  clips: ["id", "speaker", "model", "revision", "source", "added", "embedding"],
};

/** Options of {@link openSqliteStore}. */
export interface SqliteStoreOptions {
  /** Create the file (and the schema) when it does not exist (default false). */
  create?: boolean;
  /** Open read-only: writes fail (default false). */
  readOnly?: boolean;
}

/**
 * Opens (or creates) the registry database at `path`.
 *
 * @throws {WeSpeakerError} `io` when the file is absent (without `create`) or cannot be opened;
 *   `invalid-registry` when it is not an SQLite database, belongs to another program, has a newer
 *   schema or lacks a table or column; `library-not-found` when the runtime has no SQLite
 */
export async function openSqliteStore(
  path: string,
  options: SqliteStoreOptions = {},
): Promise<RegistryStore> {
  const create = options.create ?? false;
  const readOnly = options.readOnly ?? false;
  if (path !== ":memory:" && !existsSync(path)) {
    if (!create || readOnly) {
      throw new WeSpeakerError(
        "io",
        `speaker registry ${path} does not exist (enrolling a speaker creates it)`,
      );
    }
  }
  const db = await openDatabase(path, readOnly);
  try {
    prepareSchema(db, path, create && !readOnly);
    return new SqliteStore(db, path);
  } catch (err) {
    db.close();
    throw err;
  }
}

function corrupt(path: string, what: string, cause?: unknown): WeSpeakerError {
  return new WeSpeakerError("invalid-registry", `speaker registry ${path}: ${what}`, { cause });
}

function prepareSchema(db: Database, path: string, create: boolean): void {
  let appId: number, schema: number, tables: number;
  try {
    db.exec("PRAGMA busy_timeout = 5000");
    appId = Number(db.prepare("PRAGMA application_id").get()?.application_id);
    schema = Number(db.prepare("PRAGMA user_version").get()?.user_version);
    tables = Number(db.prepare("SELECT count(*) AS n FROM sqlite_master").get()?.n);
  } catch (err) {
    throw corrupt(path, `not a readable SQLite database (${reason(err)})`, err);
  }
  if (appId === 0 && schema === 0 && tables === 0) {
    if (!create) throw corrupt(path, "an empty SQLite database, not a speaker registry");
    try {
      db.exec(`BEGIN IMMEDIATE; ${SCHEMA} COMMIT;`);
    } catch (err) {
      throw new WeSpeakerError("io", `cannot create speaker registry ${path}: ${reason(err)}`, {
        cause: err,
      });
    }
    appId = REGISTRY_APPLICATION_ID;
    schema = REGISTRY_SCHEMA;
  }
  if (appId !== REGISTRY_APPLICATION_ID) {
    throw corrupt(
      path,
      `an SQLite database of another program (application_id 0x${(appId >>> 0).toString(16)}, a registry ` +
        `has 0x${REGISTRY_APPLICATION_ID.toString(16)})`,
    );
  }
  if (schema !== REGISTRY_SCHEMA) {
    throw corrupt(
      path,
      `schema version ${schema}; this version of wespeaker reads schema ${REGISTRY_SCHEMA}` +
        (schema > REGISTRY_SCHEMA ? " (the file was written by a newer version)" : ""),
    );
  }
  for (const [table, wanted] of Object.entries(COLUMNS)) {
    let have: string[];
    try {
      have = db.prepare(`PRAGMA table_info(${table})`).all().map((r) => String(r.name));
    } catch (err) {
      throw corrupt(path, `cannot read table ${table} (${reason(err)})`, err);
    }
    const missing = wanted.filter((c) => !have.includes(c));
    if (missing.length > 0) {
      throw corrupt(
        path,
        `table ${table} lacks column${missing.length > 1 ? "s" : ""} ${missing.join(", ")}`,
      );
    }
  }
  db.exec("PRAGMA foreign_keys = ON");
}

class SqliteStore implements RegistryStore {
  readonly location: string;
  #db: Database | null;
  #statements = new Map<string, Statement>();
  #version = 0;
  #dataVersion = -1;

  constructor(db: Database, path: string) {
    this.#db = db;
    this.location = path;
  }

  version(): number {
    const dataVersion = Number(this.#query("PRAGMA data_version", "get")[0]?.data_version);
    if (dataVersion !== this.#dataVersion) {
      this.#dataVersion = dataVersion;
      this.#version++;
    }
    return this.#version;
  }

  speakers(): SpeakerRecord[] {
    const rows = this.#query(
      "SELECT s.id, s.name, s.created, (SELECT count(*) FROM clips c WHERE c.speaker = s.id) AS clips " +
        "FROM speakers s ORDER BY s.name",
      "all",
    );
    return rows.map((r) => ({
      name: this.#text(r, "name", "speakers"),
      created: this.#text(r, "created", "speakers"),
      clips: Number(r.clips),
    }));
  }

  speaker(name: string): SpeakerRecord | null {
    const sql =
      "SELECT s.id, s.name, s.created, (SELECT count(*) FROM clips c WHERE c.speaker = s.id) AS clips " +
      "FROM speakers s WHERE s.name = ?";
    const row = this.#query(sql, "get", name)[0];
    if (row === undefined) return null;
    return {
      name: this.#text(row, "name", "speakers"),
      created: this.#text(row, "created", "speakers"),
      clips: Number(row.clips),
    };
  }

  has(name: string): boolean {
    return this.#query("SELECT 1 AS one FROM speakers WHERE name = ?", "get", name).length > 0;
  }

  clips(name?: string): StoredClip[] {
    const select = "SELECT c.id, s.name, c.model, c.revision, c.source, c.added, c.embedding " +
      "FROM clips c JOIN speakers s ON s.id = c.speaker";
    const out: StoredClip[] = [];
    if (name === undefined) this.#each(`${select} ORDER BY s.name, c.id`, [], (r) => out.push(this.#clip(r)));
    else this.#each(`${select} WHERE s.name = ? ORDER BY c.id`, [name], (r) => out.push(this.#clip(r)));
    return out;
  }

  forEachEmbedding(fn: (speaker: string, embedding: Float32Array) => void): void {
    // Only the two columns a search needs: each one more costs a little per row, 100,000 times.
    const sql = "SELECT c.id, s.name, c.embedding FROM clips c JOIN speakers s ON s.id = c.speaker " +
      "ORDER BY s.name, c.id";
    this.#each(sql, [], (r) => fn(this.#text(r, "name", "clips"), this.#embedding(r)));
  }

  /** Runs `sql` and calls `fn` with each row as it is read. */
  #each(sql: string, params: Param[], fn: (row: Row) => void): void {
    let rows: Iterable<Row>;
    try {
      rows = this.#statement(sql).iterate(...params);
    } catch (err) {
      throw this.#failure("read", err);
    }
    // Errors can come from any step of the iteration.
    const iterator = rows[Symbol.iterator]();
    for (;;) {
      let step: IteratorResult<Row>;
      try {
        step = iterator.next();
      } catch (err) {
        throw this.#failure("read", err);
      }
      if (step.done) break;
      fn(step.value);
    }
  }

  #embedding(r: Row): Float32Array {
    const blob = r.embedding;
    if (!(blob instanceof Uint8Array) || blob.length === 0 || blob.length % 4 !== 0) {
      const size = blob instanceof Uint8Array ? `${blob.length} bytes` : typeof blob;
      throw corrupt(this.location, `clips row ${r.id}: embedding is ${size}, not float32 values`);
    }
    return bytesEmbedding(blob);
  }

  #clip(r: Row): StoredClip {
    const source = r.source;
    if (source !== null && typeof source !== "string") {
      throw corrupt(this.location, `clips row ${r.id}: source is ${typeof source}, not text`);
    }
    return {
      speaker: this.#text(r, "name", "clips"),
      model: this.#text(r, "model", "clips"),
      revision: this.#text(r, "revision", "clips"),
      source,
      added: this.#text(r, "added", "clips"),
      embedding: this.#embedding(r),
    };
  }

  models(): ModelCount[] {
    // From the index on (revision, model): no embedding is read. The length of one embedding per model
    // stands for all; a search checks every one as it loads it.
    const groups = this.#query(
      "SELECT model, revision, count(*) AS n FROM clips GROUP BY revision, model",
      "all",
    );
    return groups.map((r) => {
      const model = this.#text(r, "model", "clips"), revision = this.#text(r, "revision", "clips");
      const one = this.#query(
        "SELECT length(embedding) / 4 AS dim FROM clips WHERE revision = ? AND model = ? LIMIT 1",
        "get",
        revision,
        model,
      );
      return { model, revision, dim: Number(one[0]?.dim), clips: Number(r.n) };
    });
  }

  write(writes: readonly SpeakerWrite[]): void {
    this.#transaction(() => {
      for (const w of writes) {
        const found = this.#query("SELECT id FROM speakers WHERE name = ?", "get", w.name)[0];
        let id: number;
        if (found) {
          id = Number(found.id);
          if (w.replace) this.#run("DELETE FROM clips WHERE speaker = ?", id);
        } else {
          id = Number(this.#run("INSERT INTO speakers (name, created) VALUES (?, ?)", w.name, w.created));
        }
        for (const clip of w.clips) this.#insertClip(id, clip);
      }
    });
  }

  rename(from: string, to: string): void {
    this.#transaction(() => this.#run("UPDATE speakers SET name = ? WHERE name = ?", to, from));
  }

  remove(name: string): void {
    this.#transaction(() => {
      // Explicitly, not through ON DELETE CASCADE: a file opened without foreign keys stays consistent too.
      this.#run("DELETE FROM clips WHERE speaker IN (SELECT id FROM speakers WHERE name = ?)", name);
      this.#run("DELETE FROM speakers WHERE name = ?", name);
    });
  }

  close(): void {
    this.#statements.clear();
    this.#db?.close();
    this.#db = null;
  }

  #insertClip(speaker: number, clip: ClipRecord): void {
    this.#run(
      "INSERT INTO clips (speaker, model, revision, source, added, embedding) VALUES (?, ?, ?, ?, ?, ?)",
      speaker,
      clip.model,
      clip.revision,
      clip.source,
      clip.added,
      embeddingBytes(clip.embedding),
    );
  }

  #statement(sql: string): Statement {
    if (this.#db === null) throw new WeSpeakerError("closed", `speaker registry ${this.location} is closed`);
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #query(sql: string, mode: "get" | "all", ...params: Param[]): Row[] {
    try {
      const statement = this.#statement(sql);
      if (mode === "all") return statement.all(...params);
      const row = statement.get(...params);
      return row ? [row] : [];
    } catch (err) {
      throw this.#failure("read", err);
    }
  }

  /** Runs a write and returns the new row's id. */
  #run(sql: string, ...params: Param[]): number {
    try {
      return Number(this.#statement(sql).run(...params).lastInsertRowid);
    } catch (err) {
      throw this.#failure("write", err);
    }
  }

  #transaction(body: () => void): void {
    const db = this.#db;
    if (db === null) throw new WeSpeakerError("closed", `speaker registry ${this.location} is closed`);
    try {
      db.exec("BEGIN IMMEDIATE");
    } catch (err) {
      throw this.#failure("write", err);
    }
    try {
      body();
      db.exec("COMMIT");
    } catch (err) {
      try {
        db.exec("ROLLBACK");
      } catch { /* already rolled back by SQLite */ }
      throw err instanceof WeSpeakerError ? err : this.#failure("write", err);
    }
    this.#version++;
  }

  #failure(action: string, err: unknown): WeSpeakerError {
    if (err instanceof WeSpeakerError) return err;
    const why = reason(err);
    // Damage found while reading pages, as opposed to a file that cannot be reached or written.
    if (/malformed|not a database|corrupt/i.test(why)) {
      return corrupt(this.location, `the database is damaged (${why})`, err);
    }
    return new WeSpeakerError("io", `cannot ${action} speaker registry ${this.location}: ${why}`, {
      cause: err,
    });
  }

  #text(row: Row, key: string, table: string): string {
    const value = row[key];
    if (typeof value !== "string") {
      throw corrupt(
        this.location,
        `${table} row ${row.id}: ${key} is ${value === null ? "NULL" : typeof value}`,
      );
    }
    return value;
  }
}
