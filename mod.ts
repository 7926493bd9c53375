/**
 * Speaker embeddings and diarization for Deno and Bun: WeSpeaker ResNet34-LM and pyannote
 * segmentation-3.0 through libwespeaker, a small C library over MLX, with a Kaldi-exact fbank front
 * end, WAV input, clustering and pyannote's speaker-diarization-community-1 and -3.1 pipelines in
 * TypeScript.
 *
 * ```ts
 * import { DiarizationPipeline, WeSpeakerModel } from "jsr:@x/wespeaker";
 *
 * using model = await WeSpeakerModel.load("wespeaker-resnet34-lm.safetensors");
 * const a = await model.embedFile("alice.wav");
 * const b = await model.embedFile("bob.wav");
 * console.log(WeSpeakerModel.cosineSimilarity(a, b));
 *
 * using pipeline = await DiarizationPipeline.fromPretrained({ token: "hf_…" }); // community-1
 * const result = await pipeline.diarizeFile("meeting.wav", { maxSpeakers: 4 });
 * console.log(result.toRTTM("meeting"));
 * ```
 *
 * @module
 */
export {
  type EmbedBatchOptions,
  type EmbedFeaturesOptions,
  type EmbedMaskedOptions,
  type EmbedOptions,
  WeSpeakerModel,
} from "./lib/model.ts";
export { type Fbank, fbank, type FbankOptions, numFbankFrames } from "./lib/audio/fbank.ts";
export { NativeModel } from "./lib/native/native_model.ts";
export type { Handle } from "./lib/native/runtime.ts";
export { type DecodedAudio, decodeWav, type WavInfo } from "./lib/audio/wav.ts";
export { resample, StreamingResampler } from "./lib/audio/resample.ts";
export { openWavStream, type WavStream, type WavStreamOptions } from "./lib/audio/wav_stream.ts";
export { embedWindows, type WindowEmbedding, type WindowOptions, type WindowSource } from "./lib/windows.ts";
export { loadAudio, type LoadedAudio, MODEL_SAMPLE_RATE, toModelRate } from "./lib/audio/load.ts";
export { WeSpeakerError, type WeSpeakerErrorCode } from "./lib/errors.ts";
export { type BatchPlanOptions } from "./lib/batching.ts";
export { embeddingFlops, type LayerFlops, layerFlops } from "./lib/flops.ts";
export {
  type CheckpointFormat,
  convertCheckpoint,
  type Converted,
  detectFormat,
} from "./lib/hub/convert/mod.ts";
export { MLX_CONFIG } from "./lib/hub/convert/fuse.ts";
export { SEGMENTATION_CONFIG } from "./lib/native/segmentation_layout.ts";
export type { F32Tensor } from "./lib/hub/safetensors.ts";
export { DEFAULT_REPO, type PretrainedOptions, SEGMENTATION_REPO } from "./lib/hub/pretrained.ts";
export { SEGMENTATION_CLASSES, SEGMENTATION_SAMPLE_RATE, SegmentationModel } from "./lib/segmentation.ts";
export {
  DIARIZATION_31_SETTINGS,
  DiarizationPipeline,
  type DiarizationPretrainedOptions,
  type DiarizationProgress,
  type DiarizeOptions,
} from "./lib/diarization/pipeline.ts";
export { type DiarizationJSON, DiarizationResult } from "./lib/diarization/result.ts";
export type { TieOrder } from "./lib/diarization/argsort.ts";
export {
  agglomerativeCluster,
  type AgglomerativeOptions,
  clusterEmbeddings,
  DIARIZATION_31_CLUSTERING,
  type EmbeddingClusteringOptions,
  type EmbeddingClusters,
} from "./lib/diarization/clustering.ts";
// pyannote.audio 4's speaker-diarization-community-1: pipelines by Hub id, PLDA, VBx, KMeans, .npz files.
export {
  COMMUNITY_1_PIPELINE,
  DIARIZATION_31_PIPELINE,
  type LoadedPipeline,
  loadPipeline,
  type PipelineLoadOptions,
  type PipelineSettings,
} from "./lib/diarization/pretrained.ts";
export {
  type ClusteringConfig,
  type ModelReference,
  parsePipelineConfig,
  type PipelineConfig,
} from "./lib/diarization/config.ts";
export type { ClusteringSettings } from "./lib/diarization/global.ts";
export { PLDA, PLDA_DIMENSION } from "./lib/diarization/plda.ts";
export { clusterVbx, type VbxOptions, type VbxResult } from "./lib/diarization/vbx.ts";
export {
  COMMUNITY_1_CLUSTERING,
  vbxClustering,
  type VbxClusteringOptions,
  type VbxClusters,
} from "./lib/diarization/vbx_clustering.ts";
export { kmeansFitPredict, type KMeansOptions } from "./lib/diarization/kmeans.ts";
export { type NpyArray, type NpyDtype, NpzFile, readNpy } from "./lib/hub/npz.ts";
export { formatRTTM, parseRTTM, parseUEM, type SpeakerSegment } from "./lib/formats/rttm.ts";
export {
  DERAccumulator,
  type DERComponents,
  type DEROptions,
  type DERResult,
  diarizationErrorRate,
  errorRate,
} from "./lib/formats/der.ts";
export {
  type CorpusDER,
  type CorpusOptions,
  evaluateCorpus,
  type FileDER,
  formatDERTable,
} from "./lib/formats/der_report.ts";
export { hubFile, type HubOptions, type HubProgress } from "./lib/hub/hub.ts";
export { LIBRARY_ENV, libraryCandidates, nativeVersion } from "./lib/native/library.ts";
export { EMBEDDING_DIM, MIN_FRAMES, NUM_MEL_BINS } from "./lib/native/symbols.ts";
