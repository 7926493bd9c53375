/**
 * Speaker embeddings for Deno and Bun: WeSpeaker ResNet34-LM through libwespeaker, a small C
 * library over MLX, with a Kaldi-exact fbank front end and WAV input in TypeScript.
 *
 * ```ts
 * import { WeSpeakerModel } from "jsr:@x/wespeaker";
 *
 * using model = await WeSpeakerModel.load("wespeaker-resnet34-lm.safetensors");
 * const a = await model.embedFile("alice.wav");
 * const b = await model.embedFile("bob.wav");
 * console.log(WeSpeakerModel.cosineSimilarity(a, b));
 * ```
 *
 * @module
 */
export {
  type EmbedBatchOptions,
  type EmbedFeaturesOptions,
  type EmbedOptions,
  WeSpeakerModel,
} from "./lib/model.ts";
export { type Fbank, fbank, type FbankOptions, numFbankFrames } from "./lib/fbank.ts";
export { type DecodedAudio, decodeWav, type WavInfo } from "./lib/wav.ts";
export { resample, StreamingResampler } from "./lib/resample.ts";
export { openWavStream, type WavStream, type WavStreamOptions } from "./lib/wav_stream.ts";
export { embedWindows, type WindowEmbedding, type WindowOptions, type WindowSource } from "./lib/windows.ts";
export { loadAudio, type LoadedAudio, MODEL_SAMPLE_RATE, toModelRate } from "./lib/audio.ts";
export { WeSpeakerError, type WeSpeakerErrorCode } from "./lib/errors.ts";
export { type BatchPlanOptions } from "./lib/batching.ts";
export { embeddingFlops, type LayerFlops, layerFlops } from "./lib/flops.ts";
export { type CheckpointFormat, convertCheckpoint, type Converted, detectFormat } from "./lib/convert/mod.ts";
export { MLX_CONFIG } from "./lib/convert/fuse.ts";
export type { F32Tensor } from "./lib/safetensors.ts";
export { DEFAULT_REPO, type PretrainedOptions } from "./lib/pretrained.ts";
export { hubFile, type HubOptions, type HubProgress } from "./lib/hub.ts";
export { LIBRARY_ENV, libraryCandidates, nativeVersion } from "./lib/ffi/library.ts";
export { EMBEDDING_DIM, MIN_FRAMES, NUM_MEL_BINS } from "./lib/ffi/symbols.ts";
