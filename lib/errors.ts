/**
 * What went wrong, as a stable string callers can branch on.
 *
 * - `invalid-argument`: a value the caller passed is out of range (shape, sample rate, NaN samples…).
 * - `audio-too-short`: the audio holds fewer samples or frames than the model needs.
 * - `invalid-wav`: a WAV file is corrupt, truncated or in an unsupported encoding.
 * - `invalid-audio`: an audio file of another format is corrupt or truncated, has no audio track, or has
 *   several and none was chosen.
 * - `unsupported-audio`: the format is not recognised, or its codec needs a decoder that is not available
 *   (the message says what to install).
 * - `invalid-weights`: a weights file is not the expected safetensors layout (key, shape, dtype, size).
 * - `io`: a file could not be read or written.
 * - `library-not-found`: the native library could not be located or opened.
 * - `permission-denied`: Deno refused a permission the call needs (the message names the flag).
 * - `closed`: a model was used after `close()`, or a WAV stream read again after it ended.
 * - `native`: the native library reported an internal failure.
 * - `not-found`: the Hugging Face Hub has no such repo, file or revision; or a speaker registry has no
 *   speaker of that name (or no speakers at all).
 * - `unauthorized`: the Hub refused access (gated or private repo: set `HF_TOKEN`).
 * - `network`: the Hub could not be reached (or offline mode is on) and the file is not cached.
 * - `integrity`: a download was truncated or its sha256 does not match the Hub's.
 * - `aborted`: the caller cancelled the operation through its `AbortSignal`.
 * - `invalid-registry`: a speaker registry database or export file is corrupt, of another program, or
 *   holds a value that breaks its format (named by table, row, key or JSON path).
 * - `model-mismatch`: embeddings of different models (or model revisions) would be compared or mixed.
 * - `invalid-transcript`: a transcript file (Whisper JSON, SRT, WebVTT) is malformed (line and field named).
 */
export type WeSpeakerErrorCode =
  | "invalid-argument"
  | "audio-too-short"
  | "invalid-wav"
  | "invalid-audio"
  | "unsupported-audio"
  | "invalid-weights"
  | "io"
  | "library-not-found"
  | "permission-denied"
  | "closed"
  | "native"
  | "not-found"
  | "unauthorized"
  | "network"
  | "integrity"
  | "aborted"
  | "invalid-registry"
  | "model-mismatch"
  | "invalid-transcript";

/** The one error type this library throws; `code` says which kind of failure it is. */
export class WeSpeakerError extends Error {
  /** Machine-readable kind of failure. */
  readonly code: WeSpeakerErrorCode;

  /**
   * Creates an error of the given kind.
   *
   * @param code kind of failure
   * @param message human-readable text naming the offending file, key, shape or value
   * @param options `cause` carries the underlying error, when there is one
   */
  constructor(code: WeSpeakerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "WeSpeakerError";
    this.code = code;
  }
}
