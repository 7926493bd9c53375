/**
 * Speaker embeddings and diarization for Deno, Bun and Node.js: WeSpeaker ResNet34-LM and pyannote
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
export { type DecodedAudio, decodeWav, type WavEncoding, type WavInfo } from "./lib/audio/wav.ts";
export {
  type AudioInfo,
  type AudioInput,
  type AudioOptions,
  type AudioStream,
  decodeAudio,
  type DecodedAudioFile,
  type FileOptions,
  openAudioStream,
  probeAudio,
  type RawFormat,
} from "./lib/audio/open.ts";
export { FFMPEG_ENV } from "./lib/audio/ffmpeg.ts";
export type { DecodedStream } from "./lib/audio/audio_stream.ts";
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
export { LIBRARY_ENV, libraryCandidates, loadNativeLibrary, nativeVersion } from "./lib/native/library.ts";
export { EMBEDDING_DIM, MIN_FRAMES, NUM_MEL_BINS } from "./lib/native/symbols.ts";
// Who is speaking, by name: the speaker registry, scoring, calibration on trial lists; transcripts with
// speakers; SVG timelines.
export {
  type Candidate,
  type ClipInput,
  type EnrolledSpeaker,
  type EnrollOptions,
  type Identification,
  type IdentifyOptions,
  type ImportConflict,
  type ImportOptions,
  type NameSpeakersOptions,
  type OpenRegistryOptions,
  type RegistryOptions,
  type SpeakerInput,
  SpeakerRegistry,
  type Verification,
} from "./lib/identity/registry.ts";
export { assignNames, topScores } from "./lib/identity/naming.ts";
export type { SpeakerIdentity, SpeakerNamer } from "./lib/diarization/result.ts";
export type { SpeakerRecord } from "./lib/identity/store.ts";
export { describeModel, type ModelIdentity, modelIdentity } from "./lib/identity/model_id.ts";
export {
  cosineScorer,
  DEFAULT_COSINE_THRESHOLD,
  dotAll,
  l2normalize,
  type SpeakerScorer,
} from "./lib/identity/scoring.ts";
export { type PLDAModel, pldaScorer } from "./lib/identity/plda_scorer.ts";
export {
  type ExportedClip,
  type ExportedSpeaker,
  type ImportedClip,
  type ImportedSpeaker,
  parseRegistryExport,
  REGISTRY_EXPORT_VERSION,
  REGISTRY_FORMAT,
  type RegistryExport,
} from "./lib/identity/registry_json.ts";
export {
  type EvaluateOptions,
  evaluateScores,
  evaluateTrials,
  type EvaluateTrialsOptions,
  type MinDCF,
  type OperatingPoint,
  parseTrials,
  type Trial,
  type TrialMetrics,
  type TrialsReport,
} from "./lib/identity/trials.ts";
export {
  type AssignOptions,
  assignSpeakers,
  type Cue,
  type LabelledSegment,
  type LabelledTranscript,
  type LabelledWord,
  type SpeakerTurns,
  type Transcript,
  transcriptCues,
  type TranscriptFormat,
  type TranscriptSegment,
  type TranscriptWord,
} from "./lib/formats/transcript.ts";
export { formatTranscript, parseTranscript } from "./lib/formats/transcript_files.ts";
export { formatSRT, formatWebVTT, parseSRT, parseWebVTT } from "./lib/formats/subtitles.ts";
export { formatTranscriptJSON, parseWhisperJSON } from "./lib/formats/transcript_json.ts";
export {
  type DiarizationPicture,
  diarizationSVG,
  PALETTE,
  type TimelineLane,
  type TimelineOptions,
  type TimelinePanel,
  type TimelineSection,
  timelineSVG,
} from "./lib/formats/svg.ts";
export { derSVG } from "./lib/formats/der_svg.ts";
export type { DERTimeline } from "./lib/formats/der.ts";
export type { Interval } from "./lib/formats/intervals.ts";
