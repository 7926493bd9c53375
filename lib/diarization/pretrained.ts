/**
 * Pipelines by their Hub id or a local directory, as pyannote.audio 4's `Pipeline.from_pretrained`
 * loads them: the repo's `config.yaml` names the models, the clustering and its parameters; `$model/…`
 * entries are folders of the same repo (community-1 keeps segmentation, embedding and PLDA there), other
 * entries are Hub repos or local paths of their own (3.1 names `pyannote/segmentation-3.0` and
 * `pyannote/wespeaker-voxceleb-resnet34-LM`). Files come through the same Hub cache, token, offline and
 * integrity rules as every other download here.
 *
 * @module
 */
import { existsSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { WeSpeakerError } from "../errors.ts";
import { hubFile } from "../hub/hub.ts";
import type { PretrainedOptions } from "../hub/pretrained.ts";
import { WeSpeakerModel } from "../model.ts";
import { SegmentationModel } from "../segmentation.ts";
import { type ModelReference, parsePipelineConfig, type PipelineConfig } from "./config.ts";
import type { ClusteringSettings } from "./global.ts";
import { PLDA } from "./plda.ts";

/** pyannote.audio 4's default pipeline, and this library's (`pyannote/speaker-diarization-community-1`). */
export const COMMUNITY_1_PIPELINE = "pyannote/speaker-diarization-community-1";

/** pyannote.audio 3.1's pipeline (`pyannote/speaker-diarization-3.1`). */
export const DIARIZATION_31_PIPELINE = "pyannote/speaker-diarization-3.1";

/** What a pipeline's config decides beyond its two models. */
export interface PipelineSettings {
  /** The clustering step and its hyper-parameters. */
  clustering: ClusteringSettings;
  /** Distance between 10 s chunk starts, in seconds. */
  step: number;
  /** Gaps shorter than this between turns of one speaker are filled, in seconds. */
  minDurationOff: number;
  /** Embeddings pooled over the frames where the speaker is alone (pyannote's `embedding_exclude_overlap`). */
  excludeOverlap: boolean;
}

/** Options of {@link loadPipeline}. */
export interface PipelineLoadOptions extends Omit<PretrainedOptions, "repo"> {
  /**
   * Segmentation model instead of the config's: a Hub repo, a local checkpoint, or a loaded model (which
   * the pipeline then owns: its `close()` closes it).
   */
  segmentation?: string | SegmentationModel;
  /** Embedding model instead of the config's: a Hub repo, a local checkpoint, or a loaded model (owned likewise). */
  embedding?: string | WeSpeakerModel;
}

/** A loaded pipeline's parts. */
export interface LoadedPipeline {
  /** The segmentation model the config (or the options) named. */
  segmentation: SegmentationModel;
  /** The embedding model the config (or the options) named. */
  embedding: WeSpeakerModel;
  /** The clustering (with its PLDA) and the other settings of the config. */
  settings: PipelineSettings;
  /** The checked config it came from. */
  config: PipelineConfig;
}

/** Where a pipeline's files are: a local directory, or a Hub repo. */
type Origin = { dir: string } | { repo: string };

async function readConfig(
  pipeline: string,
  options: PipelineLoadOptions,
): Promise<{ origin: Origin; config: PipelineConfig }> {
  let path: string, origin: Origin;
  if (existsSync(pipeline)) {
    const isDir = statSync(pipeline).isDirectory();
    path = isDir ? join(pipeline, "config.yaml") : pipeline;
    origin = { dir: isDir ? pipeline : dirname(pipeline) };
    if (!existsSync(path)) {
      throw new WeSpeakerError("io", `${pipeline} holds no config.yaml: not a pipeline directory`);
    }
  } else {
    path = await hubFile(pipeline, "config.yaml", options);
    origin = { repo: pipeline };
  }
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new WeSpeakerError("io", `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  const source = "repo" in origin ? `${pipeline}/config.yaml` : path;
  return { origin, config: parsePipelineConfig(text, source) };
}

/**
 * A file of a `$model/<folder>` reference: inside the local directory, or downloaded from the pipeline's
 * repo (at the reference's revision, else the pipeline's).
 */
async function folderFile(
  origin: Origin,
  ref: { subfolder: string; revision?: string },
  name: string,
  options: PipelineLoadOptions,
): Promise<string> {
  if ("dir" in origin) {
    const path = join(origin.dir, ref.subfolder, name);
    if (!existsSync(path)) {
      throw new WeSpeakerError(
        "io",
        `${path} not found (the pipeline's config names $model/${ref.subfolder})`,
      );
    }
    return path;
  }
  return await hubFile(origin.repo, `${ref.subfolder}/${name}`, {
    ...options,
    revision: ref.revision ?? options.revision,
  });
}

/** A model reference as something `fromPretrained({ repo })` takes: a Hub id or a local path. */
async function modelLocation(
  origin: Origin,
  ref: ModelReference,
  options: PipelineLoadOptions,
): Promise<string> {
  if ("location" in ref) return ref.location;
  // A local folder may hold any supported checkpoint; a Hub folder holds pyannote's pytorch_model.bin.
  if ("dir" in origin) {
    const dir = join(origin.dir, ref.subfolder);
    if (!existsSync(dir)) {
      throw new WeSpeakerError(
        "io",
        `${dir} not found (the pipeline's config names $model/${ref.subfolder})`,
      );
    }
    return dir;
  }
  return await folderFile(origin, ref, "pytorch_model.bin", options);
}

/**
 * Loads a pipeline from its Hub id or a local directory: reads `config.yaml`, fetches (or finds) and
 * converts its models and PLDA.
 *
 * @param pipeline a Hub repo id (`pyannote/speaker-diarization-community-1`, `…-3.1`, or any repo in
 *   that layout), a local directory holding `config.yaml`, or the path of a `config.yaml`
 * @throws {WeSpeakerError} the Hub's `not-found`, `unauthorized`, `network`, `integrity`; `invalid-weights`
 *   for a config, checkpoint or PLDA file that cannot be used (naming the file and key); `io`
 */
export async function loadPipeline(
  pipeline: string,
  options: PipelineLoadOptions = {},
): Promise<LoadedPipeline> {
  const { segmentation: segmentationOverride, embedding: embeddingOverride, ...hub } = options;
  const { origin, config } = await readConfig(pipeline, hub);
  // Models named by their own repo id are fetched at their default revision, as pyannote does.
  const external = (ref: ModelReference) => ("location" in ref ? { ...hub, revision: undefined } : hub);
  const plda = config.clustering.method === "VBxClustering"
    ? await (async () => {
      const ref = config.plda!;
      if ("location" in ref) {
        const place: Origin = existsSync(ref.location) ? { dir: ref.location } : { repo: ref.location };
        const at = async (name: string) =>
          "dir" in place ? join(place.dir, name) : await hubFile(place.repo, name, external(ref));
        return await PLDA.load(await at("xvec_transform.npz"), await at("plda.npz"));
      }
      return await PLDA.load(
        await folderFile(origin, ref, "xvec_transform.npz", hub),
        await folderFile(origin, ref, "plda.npz", hub),
      );
    })()
    : undefined;
  const segmentation = segmentationOverride instanceof SegmentationModel
    ? segmentationOverride
    : await SegmentationModel.fromPretrained({
      ...external(config.segmentation),
      repo: segmentationOverride ?? await modelLocation(origin, config.segmentation, hub),
    });
  let embedding: WeSpeakerModel;
  try {
    embedding = embeddingOverride instanceof WeSpeakerModel
      ? embeddingOverride
      : await WeSpeakerModel.fromPretrained({
        ...external(config.embedding),
        repo: embeddingOverride ?? await modelLocation(origin, config.embedding, hub),
      });
  } catch (err) {
    if (segmentation !== segmentationOverride) segmentation.close();
    throw err;
  }
  const clustering: ClusteringSettings = config.clustering.method === "VBxClustering"
    ? { ...config.clustering, plda: plda! }
    : config.clustering;
  return {
    segmentation,
    embedding,
    config,
    settings: {
      clustering,
      step: config.segmentationStep * 10,
      minDurationOff: config.minDurationOff,
      excludeOverlap: config.embeddingExcludeOverlap,
    },
  };
}
