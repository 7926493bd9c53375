/**
 * The JSON form of a speaker registry (`SpeakerRegistry.export()`, `wespeaker speakers export`), and its
 * strict reader: every speaker with every clip, each clip with the model that made its embedding.
 *
 * ```json
 * {
 *   "format": "wespeaker-registry",
 *   "version": 1,
 *   "speakers": [
 *     {
 *       "name": "Alice",
 *       "created": "2025-01-31T12:00:00.000Z",
 *       "clips": [
 *         {
 *           "model": "pyannote/wespeaker-voxceleb-resnet34-LM",
 *           "revision": "sha256:…",
 *           "source": "alice.wav",
 *           "added": "2025-01-31T12:00:00.000Z",
 *           "embedding": [0.0123, …]
 *         }
 *       ]
 *     }
 *   ]
 * }
 * ```
 *
 * @module
 */
import { WeSpeakerError } from "../errors.ts";
import { jsonPath, parseJSONText } from "../formats/json_text.ts";
import { describeModel, isLine } from "./model_id.ts";
import { checkEmbedding, checkName, checkTime, now } from "./validate.ts";

/** The `format` of a registry export. */
export const REGISTRY_FORMAT = "wespeaker-registry";
/** The `version` this library writes and reads. */
export const REGISTRY_EXPORT_VERSION = 1;

/** One clip of an exported speaker. */
export interface ExportedClip {
  /** Name of the model that made the embedding. */
  model: string;
  /** Revision of that model (what is compared; see `ModelIdentity`). */
  revision: string;
  /** Where the clip came from, or null. */
  source: string | null;
  /** When it was added, ISO 8601 UTC. */
  added: string;
  /** The embedding (float32 values written as JSON numbers: exact). */
  embedding: number[];
}

/** One exported speaker. */
export interface ExportedSpeaker {
  /** Unique name. */
  name: string;
  /** When it was first enrolled, ISO 8601 UTC. */
  created: string;
  /** Its clips, at least one. */
  clips: ExportedClip[];
}

/** A whole registry as JSON. */
export interface RegistryExport {
  /** Always {@link REGISTRY_FORMAT}. */
  format: typeof REGISTRY_FORMAT;
  /** Always {@link REGISTRY_EXPORT_VERSION}. */
  version: typeof REGISTRY_EXPORT_VERSION;
  /** Speakers by name (code points). */
  speakers: ExportedSpeaker[];
}

/** A parsed clip: the embedding as a Float32Array. */
export interface ImportedClip extends Omit<ExportedClip, "embedding"> {
  /** The embedding. */
  embedding: Float32Array;
}

/** A parsed speaker. */
export interface ImportedSpeaker extends Omit<ExportedSpeaker, "clips"> {
  /** Its clips. */
  clips: ImportedClip[];
}

function fail(where: string, why: string): WeSpeakerError {
  return new WeSpeakerError("invalid-registry", `${where}: ${why}`);
}

function kind(value: unknown): string {
  return value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
}

function object(value: unknown, where: string, keys: Record<string, boolean>): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw fail(where, `expected an object, found ${kind(value)}`);
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!(key in keys)) {
      throw fail(jsonPath(where, key), `unknown key (expected ${Object.keys(keys).join(", ")})`);
    }
  }
  for (const [key, required] of Object.entries(keys)) {
    if (required && !(key in record)) throw fail(where, `missing key "${key}"`);
  }
  return record;
}

function array(value: unknown, where: string): unknown[] {
  if (!Array.isArray(value)) throw fail(where, `expected an array, found ${kind(value)}`);
  return value;
}

function line(value: unknown, where: string): string {
  if (!isLine(value)) throw fail(where, `${JSON.stringify(value)} is not a non-empty line of text`);
  return value;
}

/**
 * Reads a registry export: JSON text (syntax errors give the line and column) or an already parsed
 * object. Everything is checked: the format and version, unknown or missing keys, names (valid, unique),
 * times, embeddings (finite, not all zero, one length) and that one model made every clip.
 *
 * @param source names the file in error messages
 * @throws {WeSpeakerError} `invalid-registry` naming `source` and the JSON path of the first problem,
 *   `model-mismatch` when clips of different models or lengths are mixed
 */
export function parseRegistryExport(input: string | unknown, source = "registry export"): ImportedSpeaker[] {
  const data = typeof input === "string" ? parseJSONText(input, source, "invalid-registry") : input;
  const top = object(data, source, { format: true, version: true, speakers: true });
  if (top.format !== REGISTRY_FORMAT) {
    throw fail(`${source}: format`, `${JSON.stringify(top.format)} is not "${REGISTRY_FORMAT}"`);
  }
  if (top.version !== REGISTRY_EXPORT_VERSION) {
    throw fail(
      `${source}: version`,
      `${JSON.stringify(top.version)}; this version of wespeaker reads version ${REGISTRY_EXPORT_VERSION}`,
    );
  }
  const seen = new Map<string, number>();
  let dim: number | undefined;
  let first: { model: string; revision: string; where: string } | undefined;
  const time = now();
  return array(top.speakers, `${source}: speakers`).map((raw, s) => {
    const where = `${source}: speakers[${s}]`;
    const speaker = object(raw, where, { name: true, created: false, clips: true });
    const name = checkName(speaker.name, `${where}.name`, "invalid-registry");
    const twin = seen.get(name);
    if (twin !== undefined) throw fail(`${where}.name`, `"${name}" is also speakers[${twin}]'s name`);
    seen.set(name, s);
    const clips = array(speaker.clips, `${where}.clips`);
    if (clips.length === 0) throw fail(`${where}.clips`, "a speaker needs at least one clip");
    return {
      name,
      created: speaker.created === undefined
        ? time
        : checkTime(speaker.created, `${where}.created`, "invalid-registry"),
      clips: clips.map((rawClip, c) => {
        const at = `${where}.clips[${c}]`;
        const clip = object(rawClip, at, {
          model: true,
          revision: true,
          source: false,
          added: false,
          embedding: true,
        });
        const model = line(clip.model, `${at}.model`);
        const revision = line(clip.revision, `${at}.revision`);
        if (first === undefined) first = { model, revision, where: at };
        else if (revision !== first.revision) {
          throw new WeSpeakerError(
            "model-mismatch",
            `${at}: made by ${describeModel({ model, revision })}, but ${first.where} by ` +
              `${describeModel(first)}: embeddings of different models cannot share a registry`,
          );
        }
        if (clip.source !== undefined && clip.source !== null) line(clip.source, `${at}.source`);
        const values = array(clip.embedding, `${at}.embedding`);
        const embedding = checkEmbedding(values, `${at}.embedding`, dim, "invalid-registry");
        dim ??= embedding.length;
        return {
          model,
          revision,
          source: (clip.source ?? null) as string | null,
          added: clip.added === undefined ? time : checkTime(clip.added, `${at}.added`, "invalid-registry"),
          embedding,
        };
      }),
    };
  });
}
