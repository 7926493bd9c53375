/**
 * The C ABI of libwespeaker (csrc/wespeaker.h), described once in runtime-neutral types that
 * runtime.ts maps to Deno's and Bun's FFI type names.
 *
 * - `buffer`: a TypedArray (or null) passed by address for the duration of the call;
 * - `handle`: an opaque native pointer;
 * - `cstring`: a returned pointer to a static NUL-terminated string.
 */
export const symbols = {
  wespeaker_abi_version: { parameters: [], result: "u32" },
  wespeaker_version: { parameters: [], result: "cstring" },
  wespeaker_model_load: { parameters: ["buffer", "buffer", "buffer", "usize"], result: "i32" },
  wespeaker_embed: {
    parameters: [
      "handle", // model
      "buffer", // features
      "i64", // batch
      "i64", // frames
      "buffer", // lengths or null
      "buffer", // weights or null
      "i64", // num_masks
      "i64", // weight_frames
      "u32", // flags
      "buffer", // out
      "buffer", // err
      "usize", // err_size
    ],
    result: "i32",
  },
  wespeaker_model_free: { parameters: ["handle"], result: "void" },
  wespeaker_segmenter_load: { parameters: ["buffer", "buffer", "buffer", "usize"], result: "i32" },
  wespeaker_segmentation_frames: { parameters: ["i64"], result: "i64" },
  wespeaker_segment: {
    parameters: [
      "handle", // model
      "buffer", // waveforms
      "i64", // batch
      "i64", // samples
      "buffer", // out
      "buffer", // err
      "usize", // err_size
    ],
    result: "i32",
  },
  wespeaker_segmenter_free: { parameters: ["handle"], result: "void" },
  wespeaker_linkage_start: {
    parameters: ["buffer", "i64", "i64", "buffer", "buffer", "usize"], // points, n, dim, out, err, err_size
    result: "i32",
  },
  wespeaker_linkage_run: {
    parameters: ["handle", "i64", "buffer", "buffer", "buffer", "usize"], // state, steps, z, done, err, err_size
    result: "i32",
  },
  wespeaker_linkage_free: { parameters: ["handle"], result: "void" },
} as const;

/** Runtime-neutral FFI type names used in {@link symbols}. */
export type NeutralType = "void" | "u32" | "i32" | "i64" | "usize" | "buffer" | "handle" | "cstring";

/** The ABI version these bindings are written against (WESPEAKER_ABI_VERSION). */
export const ABI_VERSION = 3;

/** Status codes of wespeaker_status. */
export const Status = {
  OK: 0,
  INVALID_ARGUMENT: 1,
  IO: 2,
  FORMAT: 3,
  RUNTIME: 4,
} as const;

/** WESPEAKER_EMBED_RAW */
export const EMBED_RAW = 1;
/** WESPEAKER_EMBED_EMPTY_MASKS */
export const EMBED_EMPTY_MASKS = 2;
/** WESPEAKER_EMBEDDING_DIM */
export const EMBEDDING_DIM = 256;
/** WESPEAKER_NUM_MEL_BINS */
export const NUM_MEL_BINS = 80;
/** WESPEAKER_MIN_FRAMES */
export const MIN_FRAMES = 9;
/** WESPEAKER_SEGMENTATION_SAMPLE_RATE */
export const SEGMENTATION_SAMPLE_RATE = 16000;
/** WESPEAKER_SEGMENTATION_CLASSES */
export const SEGMENTATION_CLASSES = 7;
/** WESPEAKER_SEGMENTATION_MAX_SAMPLES */
export const SEGMENTATION_MAX_SAMPLES = 10240000;
