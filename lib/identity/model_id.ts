/**
 * Which embedding model made an embedding. Embeddings of different models live in unrelated spaces:
 * comparing them gives numbers that mean nothing, so the registry records the model with every clip and
 * refuses to mix them.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { WeSpeakerError } from "../errors.ts";
import type { WeSpeakerModel } from "../model.ts";
import { hasControlCharacter } from "./validate.ts";

/** The embedding model behind an embedding. */
export interface ModelIdentity {
  /**
   * What the model is called, for people: the Hub repo id when the weights came from the Hugging Face
   * cache (`org/name`), else the weights file's name. Not compared.
   */
  model: string;
  /**
   * What identifies the weights, and the one field that is compared. {@link modelIdentity} writes
   * `sha256:` and the 64 hex digits of the weights file the model was loaded from, so two loads of the
   * same weights (from the Hub, a local copy, another path) agree and any other weights differ. For
   * embeddings made elsewhere, any line of text that names those weights exactly.
   */
  revision: string;
}

const identities = new WeakMap<WeSpeakerModel, Promise<ModelIdentity>>();

/**
 * The identity of a loaded model: its name and the sha256 of its weights file (read once per model).
 *
 * @throws {WeSpeakerError} `io` when the weights file can no longer be read
 */
export function modelIdentity(model: WeSpeakerModel): Promise<ModelIdentity> {
  let identity = identities.get(model);
  if (identity === undefined) {
    identity = computeIdentity(model.path);
    identities.set(model, identity);
  }
  return identity;
}

async function computeIdentity(path: string): Promise<ModelIdentity> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new WeSpeakerError("io", `cannot read weights file ${path} to identify the model: ${why}`, {
      cause: err,
    });
  }
  // The Hugging Face cache keeps files under models--org--name/snapshots/<commit>/.
  const hub = path.replaceAll("\\", "/").match(/models--([^/]+?)--([^/]+)\/snapshots\/[^/]+\/[^/]+$/);
  return {
    model: hub ? `${hub[1]}/${hub[2]}` : basename(path),
    revision: `sha256:${createHash("sha256").update(bytes).digest("hex")}`,
  };
}

/** Whether `text` is a non-empty line of at most 1000 characters without control characters. */
export function isLine(text: unknown): text is string {
  return typeof text === "string" && text.length > 0 && text.length <= 1000 && !hasControlCharacter(text);
}

/**
 * Checks that `identity` is well formed: `model` and `revision` non-empty lines of text.
 *
 * @param where names the value in the error message
 * @throws {WeSpeakerError} `invalid-argument`
 */
export function checkIdentity(identity: ModelIdentity, where = "model identity"): ModelIdentity {
  for (const key of ["model", "revision"] as const) {
    if (!isLine(identity?.[key])) {
      throw new WeSpeakerError(
        "invalid-argument",
        `${where}: ${key} ${JSON.stringify(identity?.[key])} is not a non-empty line of text`,
      );
    }
  }
  return { model: identity.model, revision: identity.revision };
}

/** `name (sha256:0123456789ab…)`: an identity in messages. */
export function describeModel(identity: ModelIdentity): string {
  const revision = identity.revision.length > 20 ? `${identity.revision.slice(0, 19)}…` : identity.revision;
  return `${identity.model} (${revision})`;
}
