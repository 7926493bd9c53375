/**
 * `SpeakerRegistry`: enrolled speakers by name, kept in an SQLite database (or in memory), and the
 * questions asked of them: who is this (identify), is this the same speaker (verify), and who are the
 * speakers of a diarization (nameSpeakers).
 *
 * @module
 */
import type { DiarizationResult, SpeakerNamer } from "../diarization/result.ts";
import { WeSpeakerError } from "../errors.ts";
import type { WeSpeakerModel } from "../model.ts";
import { checkIdentity, describeModel, type ModelIdentity, modelIdentity } from "./model_id.ts";
import { assignNames, topScores } from "./naming.ts";
import {
  type ImportedSpeaker,
  parseRegistryExport,
  REGISTRY_EXPORT_VERSION,
  REGISTRY_FORMAT,
  type RegistryExport,
} from "./registry_json.ts";
import { cosineScorer, type SpeakerScorer } from "./scoring.ts";
import { openSqliteStore } from "./sqlite.ts";
import {
  type ClipRecord,
  MemoryStore,
  type ModelCount,
  type RegistryStore,
  type SpeakerRecord,
  type SpeakerWrite,
} from "./store.ts";
import { checkEmbedding, checkFloat32, checkName, hasControlCharacter, now } from "./validate.ts";

/**
 * A clip to embed: an audio file's path (any format `loadAudio` reads), or mono samples with their rate (and a
 * label kept as the clip's source).
 */
export type ClipInput = string | { samples: Float32Array; sampleRate: number; source?: string };

/**
 * What a speaker can be enrolled from, or identified or verified by: audio (embedded by the registry's
 * model), or an embedding that model made (preferably `embed(…, { raw: true })`'s output, which every
 * scorer can use; a normalised one serves the cosine scorer just as well).
 */
export type SpeakerInput = ClipInput | Float32Array;

/** Options of {@link SpeakerRegistry.open} and {@link SpeakerRegistry.inMemory}. */
export interface RegistryOptions {
  /**
   * The embedding model: a loaded `WeSpeakerModel` (needed to enroll or query from audio), or only its
   * identity (`modelIdentity(model)`) to work with embeddings. Not needed to list, rename, remove, export
   * or import speakers.
   */
  model?: WeSpeakerModel | ModelIdentity;
  /** How embeddings are compared (default: the cosine, {@link cosineScorer}). */
  scorer?: SpeakerScorer;
  /** The decision threshold of identify, verify and nameSpeakers (default: the scorer's). */
  threshold?: number;
}

/** Options of {@link SpeakerRegistry.open}. */
export interface OpenRegistryOptions extends RegistryOptions {
  /** Create the database file when it does not exist (default false). */
  create?: boolean;
  /** Open the database read-only: writes fail (default false). */
  readOnly?: boolean;
}

/** Options of {@link SpeakerRegistry.enroll}. */
export interface EnrollOptions {
  /** Replace the speaker's earlier clips instead of adding to them (default false). */
  replace?: boolean;
}

/** What to do with a speaker of an imported file that the registry already has. */
export type ImportConflict = "error" | "replace" | "append";

/** Options of {@link SpeakerRegistry.import}. */
export interface ImportOptions {
  /**
   * A speaker the registry already has: `"error"` (default, nothing is imported), `"replace"` its clips
   * with the file's, or `"append"` the file's clips to its own.
   */
  onConflict?: ImportConflict;
  /** Names the file in error messages. */
  source?: string;
}

/** One candidate of an identification. */
export interface Candidate {
  /** Enrolled name. */
  name: string;
  /** Its score (higher is more alike). */
  score: number;
}

/** Options of {@link SpeakerRegistry.identify}. */
export interface IdentifyOptions {
  /** How many candidates to return, best first (default 1). */
  topK?: number;
  /** Decision threshold (default: the registry's). */
  threshold?: number;
}

/** The answer of {@link SpeakerRegistry.identify}. */
export interface Identification {
  /** The best candidate's name when its score reaches the threshold, else null ("unknown"). */
  name: string | null;
  /** The best candidate's score. */
  score: number;
  /** The threshold applied. */
  threshold: number;
  /** The scorer's name ("cosine", …). */
  scorer: string;
  /** The `topK` best candidates, best first (ties in name order), whether or not they pass. */
  candidates: Candidate[];
}

/** An enrolled speaker, as a side of {@link SpeakerRegistry.verify}. */
export interface EnrolledSpeaker {
  /** Its name. */
  speaker: string;
}

/** The answer of {@link SpeakerRegistry.verify}. */
export interface Verification {
  /** The score of the pair (higher is more alike). */
  score: number;
  /** The threshold applied. */
  threshold: number;
  /** Whether the score reaches the threshold: the same speaker. */
  same: boolean;
  /** The scorer's name. */
  scorer: string;
}

/** Options of {@link SpeakerRegistry.nameSpeakers}. */
export interface NameSpeakersOptions {
  /** The model that made the result's speaker embeddings (default: the registry's model). */
  model?: WeSpeakerModel | ModelIdentity;
  /** Decision threshold (default: the registry's). */
  threshold?: number;
}

interface Index {
  version: number;
  held: ModelCount | null;
  /** Speaker names and their models (each `width` values), in name order; built on first use. */
  names?: string[];
  models?: Float32Array;
}

function isModel(model: unknown): model is WeSpeakerModel {
  return typeof model === "object" && model !== null && "embedAsync" in model;
}

/**
 * Enrolled speakers, each with the embeddings of its clips, persisted in SQLite (`open`) or held in memory
 * (`inMemory`). Embeddings are stored per clip with the model that made them; a registry holds the
 * embeddings of one model only, and any attempt to mix in another is a `model-mismatch` error.
 *
 * ```ts
 * using model = await WeSpeakerModel.fromPretrained();
 * using registry = await SpeakerRegistry.open("speakers.db", { model, create: true });
 * await registry.enroll("Alice", ["alice-1.wav", "alice-2.wav"]);
 * await registry.enroll("Bob", ["bob.wav"]);
 * const who = await registry.identify("unknown.wav", { topK: 3 });
 * console.log(who.name ?? "unknown", who.score, who.candidates);
 * const check = await registry.verify("claim.wav", { speaker: "Alice" });
 * ```
 *
 * Reads see writes made by other processes to the same database. A registry is not for concurrent use from
 * several Workers; open one per Worker.
 */
export class SpeakerRegistry implements Disposable, SpeakerNamer {
  readonly #store: RegistryStore;
  readonly #model: WeSpeakerModel | ModelIdentity | undefined;
  readonly #scorer: SpeakerScorer;
  readonly #threshold: number;
  #index: Index | null = null;
  #closed = false;

  private constructor(store: RegistryStore, options: RegistryOptions) {
    this.#store = store;
    this.#model = options.model === undefined || isModel(options.model)
      ? options.model
      : checkIdentity(options.model, "options.model");
    this.#scorer = options.scorer ?? cosineScorer();
    this.#threshold = checkThreshold(options.threshold ?? this.#scorer.threshold);
  }

  /**
   * Opens the registry database at `path` (SQLite, through the runtime's own: `node:sqlite` under Deno and
   * Node >= 22.13, `bun:sqlite` under Bun).
   *
   * @throws {WeSpeakerError} `io` when the file does not exist (without `create`) or cannot be opened;
   *   `invalid-registry` when it is not a registry database (another program's, damaged, newer);
   *   `library-not-found` on a runtime without SQLite (Node 20: use {@link inMemory})
   */
  static async open(path: string, options: OpenRegistryOptions = {}): Promise<SpeakerRegistry> {
    const store = await openSqliteStore(path, { create: options.create, readOnly: options.readOnly });
    try {
      return new SpeakerRegistry(store, options);
    } catch (err) {
      store.close();
      throw err;
    }
  }

  /** A registry in memory, on any runtime; keep it with {@link export} and restore it with {@link import}. */
  static inMemory(options: RegistryOptions = {}): SpeakerRegistry {
    return new SpeakerRegistry(new MemoryStore(), options);
  }

  /** Where the registry lives: the database path, or "memory". */
  get location(): string {
    return this.#store.location;
  }

  /** The decision threshold used when a call gives none. */
  get threshold(): number {
    return this.#threshold;
  }

  /** The scorer. */
  get scorer(): SpeakerScorer {
    return this.#scorer;
  }

  /** The model whose embeddings the registry holds, or null while it is empty. */
  heldModel(): ModelIdentity | null {
    const held = this.#state().held;
    return held && { model: held.model, revision: held.revision };
  }

  /**
   * Checks, before any work, that the registry's model (or `model`) made the embeddings it holds.
   *
   * @throws {WeSpeakerError} `model-mismatch`, or `invalid-argument` when no model is known
   */
  async checkModel(model?: WeSpeakerModel | ModelIdentity): Promise<void> {
    this.#live();
    this.#checkHeld(await this.#identity(model ?? this.#model, "checkModel"), "checkModel");
  }

  /** Every enrolled speaker (name, creation time, number of clips), by name. */
  speakers(): SpeakerRecord[] {
    this.#live();
    return this.#store.speakers();
  }

  /**
   * Enrolls `name` from one or more clips (audio or embeddings of the registry's model), added to its
   * earlier clips unless `replace`. One transaction: on any error nothing is written.
   *
   * @returns the speaker as stored
   * @throws {WeSpeakerError} `invalid-argument` for a bad name or input, `model-mismatch` when the registry
   *   holds another model's embeddings, and the model's errors for audio (file named)
   */
  async enroll(
    name: string,
    inputs: readonly SpeakerInput[],
    options: EnrollOptions = {},
  ): Promise<SpeakerRecord> {
    this.#live();
    const canonical = checkName(name, "enroll");
    if (!Array.isArray(inputs) || inputs.length === 0) {
      throw new WeSpeakerError("invalid-argument", `enroll ${canonical}: give at least one clip`);
    }
    const identity = await this.#identity(this.#model, "enroll");
    const held = this.#checkHeld(identity, "enroll");
    const added = now();
    const clips: ClipRecord[] = [];
    let dim = held?.dim;
    for (let k = 0; k < inputs.length; k++) {
      const embedding = await this.#embed(inputs[k], `enroll ${canonical}: clip ${k}`, dim);
      dim ??= embedding.length;
      clips.push({ ...identity, source: sourceOf(inputs[k]), added, embedding });
    }
    this.#write([{ name: canonical, created: added, clips, replace: options.replace ?? false }]);
    return this.#store.speaker(canonical)!;
  }

  /**
   * Renames a speaker.
   *
   * @throws {WeSpeakerError} `not-found` for an unknown name, `invalid-argument` when the new name is
   *   invalid or taken
   */
  rename(from: string, to: string): void {
    this.#live();
    const old = this.#known(from, "rename");
    const name = checkName(to, "rename");
    if (name === old) return;
    if (this.#store.has(name)) {
      throw new WeSpeakerError("invalid-argument", `rename ${old}: a speaker named ${name} already exists`);
    }
    this.#store.rename(old, name);
    this.#index = null;
  }

  /**
   * Removes speakers and their clips. Every name is checked before any is removed.
   *
   * @throws {WeSpeakerError} `not-found` for an unknown name
   */
  remove(...names: string[]): void {
    this.#live();
    for (const name of names.map((n) => this.#known(n, "remove"))) this.#store.remove(name);
    this.#index = null;
  }

  /** The whole registry as JSON-ready data (see `RegistryExport`); `JSON.stringify` it to keep it. */
  export(): RegistryExport {
    this.#live();
    const created = new Map(this.#store.speakers().map((s) => [s.name, s.created]));
    const speakers = new Map<string, RegistryExport["speakers"][number]>();
    for (const { speaker, embedding, ...clip } of this.#store.clips()) {
      let entry = speakers.get(speaker);
      if (entry === undefined) {
        speakers.set(speaker, entry = { name: speaker, created: created.get(speaker)!, clips: [] });
      }
      entry.clips.push({ ...clip, embedding: Array.from(embedding) });
    }
    return { format: REGISTRY_FORMAT, version: REGISTRY_EXPORT_VERSION, speakers: [...speakers.values()] };
  }

  /**
   * Adds the speakers of an export (JSON text or parsed data), all in one transaction. The file is
   * checked whole first: a bad value anywhere imports nothing.
   *
   * @returns how many speakers and clips were imported
   * @throws {WeSpeakerError} `invalid-registry` naming the JSON path of a bad value, `model-mismatch` when
   *   the file's model is not the registry's, `invalid-argument` for a speaker that exists (with
   *   `onConflict: "error"`)
   */
  import(data: string | RegistryExport, options: ImportOptions = {}): { speakers: number; clips: number } {
    this.#live();
    const source = options.source ?? "registry export";
    const speakers: ImportedSpeaker[] = parseRegistryExport(data, source);
    const onConflict = options.onConflict ?? "error";
    if (!["error", "replace", "append"].includes(onConflict)) {
      throw new WeSpeakerError(
        "invalid-argument",
        `onConflict is "error", "replace" or "append", not ${onConflict}`,
      );
    }
    if (speakers.length === 0) return { speakers: 0, clips: 0 };
    const first = speakers[0].clips[0];
    const held = this.#checkHeld(first, `import ${source}`);
    if (held && held.dim !== first.embedding.length) {
      throw new WeSpeakerError(
        "model-mismatch",
        `import ${source}: embeddings have ${first.embedding.length} values, the registry's ${held.dim}`,
      );
    }
    if (onConflict === "error") {
      const existing = speakers.find((s) => this.#store.has(s.name));
      if (existing) {
        throw new WeSpeakerError(
          "invalid-argument",
          `import ${source}: the registry already has a speaker named ${existing.name} (choose replace or ` +
            `append for speakers that exist)`,
        );
      }
    }
    const writes: SpeakerWrite[] = speakers.map((s) => ({
      name: s.name,
      created: s.created,
      clips: s.clips,
      replace: onConflict === "replace",
    }));
    this.#write(writes);
    return { speakers: writes.length, clips: writes.reduce((n, w) => n + w.clips.length, 0) };
  }

  /**
   * Who is speaking: scores `query` against every enrolled speaker and returns the best candidates.
   *
   * @throws {WeSpeakerError} `not-found` for an empty registry, `model-mismatch` when the query's model is
   *   not the registry's, `invalid-argument` for bad options or input
   */
  async identify(query: SpeakerInput, options: IdentifyOptions = {}): Promise<Identification> {
    this.#live();
    const topK = options.topK ?? 1;
    if (!Number.isSafeInteger(topK) || topK < 1) {
      throw new WeSpeakerError("invalid-argument", `topK must be a positive integer, got ${topK}`);
    }
    const threshold = checkThreshold(options.threshold ?? this.#threshold);
    const identity = await this.#identity(this.#model, "identify");
    const held = this.#nonEmpty(identity, "identify");
    const embedding = await this.#embed(query, "identify: query", held.dim);
    const { names, models } = this.#search(held);
    const scores = this.#scorer.scoreAll(this.#scorer.query(embedding), models, names.length);
    const candidates = topScores(scores, topK).map((k) => ({ name: names[k], score: scores[k] }));
    const best = candidates[0];
    return {
      name: best.score >= threshold ? best.name : null,
      score: best.score,
      threshold,
      scorer: this.#scorer.name,
      candidates,
    };
  }

  /**
   * Whether two clips, or a clip and an enrolled speaker, are the same speaker.
   *
   * @param a audio, an embedding or `{ speaker: name }`
   * @param b the same; at most one side may be an enrolled speaker
   * @throws {WeSpeakerError} `not-found` for an unknown name, `model-mismatch`, `invalid-argument`
   */
  async verify(
    a: SpeakerInput | EnrolledSpeaker,
    b: SpeakerInput | EnrolledSpeaker,
    options: { threshold?: number } = {},
  ): Promise<Verification> {
    this.#live();
    const threshold = checkThreshold(options.threshold ?? this.#threshold);
    const enrolledA = isEnrolled(a), enrolledB = isEnrolled(b);
    if (enrolledA && enrolledB) {
      throw new WeSpeakerError(
        "invalid-argument",
        "verify compares a clip with a clip or with a speaker, not two speakers",
      );
    }
    const [clip, other] = enrolledA ? [b as SpeakerInput, a] : [a as SpeakerInput, b];
    const identity = await this.#identity(this.#model, "verify");
    const held = this.#checkHeld(identity, "verify");
    let dim = held?.dim;
    let speakerModel: Float32Array;
    if (isEnrolled(other)) {
      const name = this.#known(other.speaker, "verify");
      speakerModel = this.#scorer.speakerModel(this.#store.clips(name).map((c) => c.embedding));
    } else {
      const embedding = await this.#embed(other, "verify: second clip", dim);
      dim ??= embedding.length;
      speakerModel = this.#scorer.speakerModel([embedding]);
    }
    const query = this.#scorer.query(await this.#embed(clip, "verify: first clip", dim));
    const score = this.#scorer.scoreAll(query, speakerModel, 1)[0];
    return { score, threshold, same: score >= threshold, scorer: this.#scorer.name };
  }

  /**
   * Names the speakers of a diarization: each speaker's embedding (its cluster centroid) is scored against
   * the enrolled speakers, and names are given by an optimal one-to-one assignment (Hungarian, maximising
   * the total margin above the threshold), so that two speakers never get the same name. Speakers below
   * the threshold, or without an embedding, keep their `SPEAKER_xx` label.
   *
   * @throws {WeSpeakerError} `not-found` for an empty registry, `model-mismatch` when the result's model is
   *   not the registry's
   */
  async nameSpeakers(
    result: DiarizationResult,
    options: NameSpeakersOptions = {},
  ): Promise<DiarizationResult> {
    this.#live();
    const threshold = checkThreshold(options.threshold ?? this.#threshold);
    const identity = await this.#identity(options.model ?? this.#model, "nameSpeakers");
    const held = this.#nonEmpty(identity, "nameSpeakers");
    const { names, models } = this.#search(held);
    const found = result.speakerEmbeddings;
    // Scores of each found speaker against the enrolled ones, and its best score.
    const rows = found.map((e, k) =>
      e === null ? null : this.#scorer.scoreAll(
        this.#scorer.query(checkEmbedding(e, `speaker ${result.speakers[k]}'s embedding`, held.dim)),
        models,
        names.length,
      )
    );
    const { chosen, scores } = assignNames(rows, threshold);
    return result.withNames(chosen.map((c) => c === null ? null : names[c]), scores);
  }

  /** Closes the database. Idempotent; any later call throws `closed`. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#index = null;
    this.#store.close();
  }

  /** Same as {@link close}, for `using registry = …`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #live(): void {
    if (this.#closed) throw new WeSpeakerError("closed", `speaker registry ${this.location} is closed`);
  }

  /** The cached view of the store, rebuilt whenever the store changed. */
  #state(): Index {
    this.#live();
    const version = this.#store.version();
    if (this.#index?.version === version) return this.#index;
    const models = this.#store.models();
    if (models.length > 1) {
      throw new WeSpeakerError(
        "invalid-registry",
        `speaker registry ${this.location} mixes embeddings of ${models.length} models or lengths ` +
          `(${models.map((m) => `${describeModel(m)}, ${m.dim} values: ${m.clips} clips`).join("; ")}); ` +
          "this library never writes that: was it edited by hand?",
      );
    }
    this.#index = { version, held: models[0] ?? null };
    return this.#index;
  }

  /**
   * The speaker models for a search, built once per change of the store: clips are read one at a time
   * into one matrix, so that memory holds the models and little else.
   */
  #search(held: ModelCount): { names: string[]; models: Float32Array } {
    const state = this.#state();
    if (state.names !== undefined && state.models !== undefined) {
      return { names: state.names, models: state.models };
    }
    const names: string[] = [];
    let models = new Float32Array(0);
    let width = 0, current: string | null = null, own: Float32Array[] = [];
    const finish = () => {
      if (current === null) return;
      const model = this.#scorer.speakerModel(own);
      // Each speaker has a clip or more: as many rows as clips is enough.
      if (names.length === 0) models = new Float32Array(held.clips * (width = model.length));
      models.set(model, names.length * width);
      names.push(current);
    };
    this.#store.forEachEmbedding((speaker, embedding) => {
      if (speaker !== current) {
        finish();
        current = speaker;
        own = [];
      }
      own.push(
        checkFloat32(
          embedding,
          `${this.location}: clip ${own.length} of ${speaker}`,
          held.dim,
          "invalid-registry",
        ),
      );
    });
    finish();
    if (names.length === 0) {
      throw new WeSpeakerError(
        "not-found",
        `speaker registry ${this.location} has no speakers: enroll some first`,
      );
    }
    state.names = names;
    state.models = models.length === names.length * width ? models : models.slice(0, names.length * width);
    return { names: state.names, models: state.models };
  }

  #write(writes: SpeakerWrite[]): void {
    this.#store.write(writes);
    this.#index = null;
  }

  #known(name: string, action: string): string {
    const canonical = typeof name === "string" ? name.normalize("NFC") : name;
    if (typeof canonical !== "string" || !this.#store.has(canonical)) {
      const count = this.#store.speakers().length;
      throw new WeSpeakerError(
        "not-found",
        `${action}: no speaker named ${JSON.stringify(name)} in ${this.location}` +
          (count === 0 ? " (it has no speakers)" : ""),
      );
    }
    return canonical;
  }

  async #identity(model: WeSpeakerModel | ModelIdentity | undefined, action: string): Promise<ModelIdentity> {
    if (model === undefined) {
      throw new WeSpeakerError(
        "invalid-argument",
        `${action} needs the embedding model: open the registry with { model }`,
      );
    }
    return isModel(model) ? await modelIdentity(model) : checkIdentity(model);
  }

  /** The model the registry holds (null when empty), after checking it is `identity`. */
  #checkHeld(identity: ModelIdentity, action: string): ModelCount | null {
    const held = this.#state().held;
    if (held && held.revision !== identity.revision) {
      throw new WeSpeakerError(
        "model-mismatch",
        `${action}: speaker registry ${this.location} holds embeddings of ${describeModel(held)}, not of ` +
          `${
            describeModel(identity)
          }; embeddings of different models cannot be compared (use the registry's ` +
          "model, or enroll the speakers again in a new registry)",
      );
    }
    return held;
  }

  #nonEmpty(identity: ModelIdentity, action: string): ModelCount {
    const held = this.#checkHeld(identity, action);
    if (held === null) {
      throw new WeSpeakerError(
        "not-found",
        `${action}: speaker registry ${this.location} has no speakers: enroll some first`,
      );
    }
    return held;
  }

  async #embed(input: SpeakerInput, where: string, dim: number | undefined): Promise<Float32Array> {
    if (input instanceof Float32Array) return checkEmbedding(input, where, dim);
    const model = this.#model;
    if (!isModel(model)) {
      throw new WeSpeakerError(
        "invalid-argument",
        `${where}: audio needs a loaded model; open the registry with { model: WeSpeakerModel }`,
      );
    }
    let embedding: Float32Array;
    if (typeof input === "string") embedding = await model.embedFile(input, { raw: true });
    else if (typeof input === "object" && input !== null && input.samples instanceof Float32Array) {
      embedding = await model.embedAsync(input.samples, input.sampleRate, { raw: true });
    } else {
      throw new WeSpeakerError(
        "invalid-argument",
        `${where}: expected a file path, { samples, sampleRate } or a Float32Array embedding`,
      );
    }
    return checkEmbedding(embedding, where, dim);
  }
}

function isEnrolled(side: unknown): side is EnrolledSpeaker {
  return typeof side === "object" && side !== null && !(side instanceof Float32Array) && "speaker" in side;
}

function sourceOf(input: SpeakerInput): string | null {
  const text = typeof input === "string" ? input : input instanceof Float32Array ? "" : input.source;
  if (typeof text !== "string" || text === "") return null;
  // Kept as a line of text (what an export allows), whatever the path or label held.
  return [...text].map((ch) => hasControlCharacter(ch) ? " " : ch).join("").slice(0, 1000);
}

function checkThreshold(threshold: number): number {
  if (typeof threshold !== "number" || !Number.isFinite(threshold)) {
    throw new WeSpeakerError("invalid-argument", `threshold must be a finite number, got ${threshold}`);
  }
  return threshold;
}
