/**
 * The rules every speaker name, clip and embedding must follow, whether it comes from a call, an export
 * file or the database: checked before anything is written and again when anything is read.
 *
 * @module
 */
import { WeSpeakerError, type WeSpeakerErrorCode } from "../errors.ts";

/** Whether `text` holds a control character (C0, DEL, C1) or a line or paragraph separator. */
export function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029) return true;
  }
  return false;
}

/** Longest speaker name, in UTF-16 code units. */
export const MAX_NAME_LENGTH = 200;

/**
 * A speaker name in its canonical form (Unicode NFC), or an error: a name is a non-empty line of at most
 * {@link MAX_NAME_LENGTH} characters without control characters or surrounding spaces, and not of the form
 * `SPEAKER_<digits>`, which diarization gives to unknown speakers.
 */
export function checkName(
  name: unknown,
  where: string,
  code: WeSpeakerErrorCode = "invalid-argument",
): string {
  const fail = (why: string) =>
    new WeSpeakerError(code, `${where}: speaker name ${JSON.stringify(name)} ${why}`);
  if (typeof name !== "string") throw fail("is not a string");
  const nfc = name.normalize("NFC");
  if (nfc.length === 0) throw fail("is empty");
  if (nfc.length > MAX_NAME_LENGTH) throw fail(`is longer than ${MAX_NAME_LENGTH} characters`);
  if (hasControlCharacter(nfc)) throw fail("contains a control character");
  if (nfc.trim() !== nfc) throw fail("starts or ends with white space");
  if (/^SPEAKER_\d+$/.test(nfc)) throw fail("is reserved for unknown speakers of a diarization");
  return nfc;
}

/**
 * Checks an embedding: `dim` finite values (any length when `dim` is undefined) that are not all zero.
 * Another length is a `model-mismatch`; a bad value an error of `code`.
 *
 * @returns the embedding as a new Float32Array
 */
export function checkEmbedding(
  values: ArrayLike<unknown>,
  where: string,
  dim: number | undefined,
  code: WeSpeakerErrorCode = "invalid-argument",
): Float32Array {
  // The model's output and the database's rows are Float32Arrays already: one typed pass, a native copy.
  if (values instanceof Float32Array) return checkFloat32(values, where, dim, code).slice();
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== "number") {
      throw new WeSpeakerError(
        code,
        `${where}[${i}]: ${JSON.stringify(v) ?? String(v)} is not a finite float32 value`,
      );
    }
    out[i] = v;
  }
  return checkFloat32(out, where, dim, code);
}

/** {@link checkEmbedding} for a Float32Array, which is returned itself, not copied. */
export function checkFloat32(
  values: Float32Array,
  where: string,
  dim: number | undefined,
  code: WeSpeakerErrorCode = "invalid-argument",
): Float32Array {
  if (values.length === 0) {
    throw new WeSpeakerError(code, `${where}: an embedding needs values, this one has none`);
  }
  if (dim !== undefined && values.length !== dim) {
    throw new WeSpeakerError(
      "model-mismatch",
      `${where}: embedding has ${values.length} values, not ${dim} as the others: made by another model`,
    );
  }
  let nonZero = false;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    // v - v is NaN for NaN and ±Infinity, 0 for every finite value.
    if (v - v !== 0) throw new WeSpeakerError(code, `${where}[${i}]: ${v} is not a finite float32 value`);
    nonZero ||= v !== 0;
  }
  if (!nonZero) throw new WeSpeakerError(code, `${where}: embedding is all zeros`);
  return values;
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/;

/** Checks an ISO 8601 UTC time (`2025-01-31T12:00:00.000Z`). */
export function checkTime(value: unknown, where: string, code: WeSpeakerErrorCode): string {
  if (typeof value !== "string" || !ISO_TIME.test(value) || Number.isNaN(Date.parse(value))) {
    throw new WeSpeakerError(
      code,
      `${where}: ${JSON.stringify(value)} is not an ISO 8601 UTC time such as 2025-01-31T12:00:00.000Z`,
    );
  }
  return value;
}

/** The current time, ISO 8601 UTC. */
export function now(): string {
  return new Date().toISOString();
}
