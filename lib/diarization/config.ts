/**
 * A pyannote pipeline's `config.yaml`, read as pyannote.audio 4's `Pipeline.from_pretrained` reads it
 * (PyYAML's safe loader, YAML 1.1 scalars) and checked strictly: every key is either understood or an
 * error that names it, so a config this library would run differently from pyannote never loads.
 *
 * Understood (what `pyannote/speaker-diarization-3.1` and `-community-1` hold, and the settings of
 * their pipeline class `SpeakerDiarization` that change what it computes):
 *
 * - `version` / `dependencies`: the pyannote.audio version the pipeline was made with;
 * - `pipeline.name`: `pyannote.audio.pipelines.SpeakerDiarization`;
 * - `pipeline.params`: `segmentation`, `embedding`, `plda` (a Hub repo id, a local path, or
 *   `$model/<folder>` inside the pipeline's own repo), `clustering` (`AgglomerativeClustering` or
 *   `VBxClustering`), `segmentation_step`, `embedding_exclude_overlap`, and `segmentation_batch_size`,
 *   `embedding_batch_size`, `der_variant`, `legacy`, which do not change the output and are ignored;
 * - `params.clustering`: `method` (`centroid` only), `threshold`, `min_cluster_size` for
 *   agglomerative clustering; `threshold`, `Fa`, `Fb` for VBx (pyannote 4's defaults when absent);
 * - `params.segmentation.min_duration_off`.
 *
 * @module
 */
// An npm: specifier, as in lib/hub/hub.ts (why: there).
// deno-lint-ignore no-import-prefix
import { parseDocument, type ScalarTag, type Tags } from "npm:yaml@2.9.1";
import { WeSpeakerError } from "../errors.ts";

/** Where a model of the pipeline comes from. */
export type ModelReference =
  /** `$model/<subfolder>`: a folder of the pipeline's own repo or directory (at `revision`, if given). */
  | { subfolder: string; revision?: string }
  /** A Hub repo id or a local file or directory. */
  | { location: string };

/** The clustering a pipeline runs, with its hyper-parameters. */
export type ClusteringConfig =
  | { method: "AgglomerativeClustering"; threshold: number; minClusterSize: number }
  | { method: "VBxClustering"; threshold: number; Fa: number; Fb: number };

/** What a `config.yaml` says, checked. */
export interface PipelineConfig {
  /** The segmentation model (`pipeline.params.segmentation`). */
  segmentation: ModelReference;
  /** The embedding model (`pipeline.params.embedding`). */
  embedding: ModelReference;
  /** The PLDA folder (VBx only). */
  plda?: ModelReference;
  /** `pipeline.params.clustering` with its `params.clustering` hyper-parameters. */
  clustering: ClusteringConfig;
  /** Chunk step as a fraction of the 10 s chunk (pyannote's `segmentation_step`, default 0.1). */
  segmentationStep: number;
  /** Pool each speaker's embedding over frames where it speaks alone (default false, as pyannote). */
  embeddingExcludeOverlap: boolean;
  /** Gaps shorter than this (seconds) between turns of one speaker are filled. */
  minDurationOff: number;
}

/** The pipeline class both published pipelines name. */
const PIPELINE_NAMES = [
  "pyannote.audio.pipelines.SpeakerDiarization",
  "pyannote.audio.pipelines.speaker_diarization.SpeakerDiarization",
];

/** pyannote.audio 4's `SpeakerDiarization.default_parameters()` (VBx). */
const VBX_DEFAULTS = { threshold: 0.6, Fa: 0.07, Fb: 0.8 };

type Value = unknown;

const FLOAT = "tag:yaml.org,2002:float";

/**
 * PyYAML's implicit float (its resolver's regular expression): a dot is required and an exponent needs
 * its sign, so `1e-3` stays a string there, and here. (The `yaml` package's YAML 1.1 schema would read
 * it as a number; its sexagesimal floats, which PyYAML shares, are kept.)
 */
const pyYamlFloat: ScalarTag = {
  identify: (value) => typeof value === "number",
  default: true,
  tag: FLOAT,
  test:
    /^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/,
  resolve: (text) => {
    if (/nan$/i.test(text)) return NaN;
    if (/inf$/i.test(text)) return text.startsWith("-") ? -Infinity : Infinity;
    return parseFloat(text.replace(/_/g, ""));
  },
};

function pyYamlTags(tags: Tags): Tags {
  const replaced = (t: Tags[number]) =>
    typeof t === "object" && t.tag === FLOAT && (t as ScalarTag).format !== "TIME";
  return [...tags.filter((t) => !replaced(t)), pyYamlFloat];
}

class Checker {
  constructor(readonly source: string, readonly lineOf: (path: string[]) => number | undefined) {}

  fail(path: string[], what: string): never {
    const line = this.lineOf(path);
    const where = `${this.source}${line ? `, line ${line}` : ""}`;
    throw new WeSpeakerError(
      "invalid-weights",
      `${where}: ${path.length ? `${path.join(".")}: ` : ""}${what}`,
    );
  }

  map(value: Value, path: string[]): Map<string, Value> {
    if (!(value instanceof Map)) this.fail(path, `expected a mapping, got ${describe(value)}`);
    for (const key of value.keys()) {
      if (typeof key !== "string") this.fail(path, `keys must be strings, got ${describe(key)}`);
    }
    return value as Map<string, Value>;
  }

  /** Fails on the first key not in `known` (with `unsupported` ones getting their own reason). */
  keys(
    map: Map<string, Value>,
    path: string[],
    known: string[],
    unsupported: Record<string, string> = {},
  ): void {
    for (const key of map.keys()) {
      if (key in unsupported) this.fail([...path, key], `not supported: ${unsupported[key]}`);
      if (!known.includes(key)) {
        this.fail([...path, key], `unknown key (understood here: ${known.join(", ")})`);
      }
    }
  }

  string(value: Value, path: string[]): string {
    if (typeof value !== "string" || value === "") {
      this.fail(path, `expected a non-empty string, got ${describe(value)}`);
    }
    return value;
  }

  number(value: Value, path: string[], check: (v: number) => boolean, range: string): number {
    if (typeof value !== "number" || !Number.isFinite(value) || !check(value)) {
      this.fail(path, `expected ${range}, got ${describe(value)}`);
    }
    return value;
  }

  boolean(value: Value, path: string[]): boolean {
    if (typeof value !== "boolean") this.fail(path, `expected true or false, got ${describe(value)}`);
    return value;
  }
}

function describe(value: Value): string {
  if (value instanceof Map) return "a mapping";
  if (Array.isArray(value)) return "a list";
  if (value === null) return "nothing (null)";
  if (typeof value === "string") return JSON.stringify(value);
  if (value instanceof Date) return `a date (${value.toISOString().slice(0, 10)})`;
  return String(value);
}

function modelReference(c: Checker, value: Value, path: string[]): ModelReference {
  const text = c.string(value, path);
  if (!text.startsWith("$model/")) {
    if (text.includes("@")) {
      c.fail(path, `a revision cannot be given with "@" (pyannote refuses it too): ${text}`);
    }
    return { location: text };
  }
  const [subfolder, revision, ...rest] = text.slice("$model/".length).split("@");
  if (rest.length > 0 || subfolder === "" || revision === "") c.fail(path, `malformed reference ${text}`);
  const parts = subfolder.split("/");
  if (parts.some((p) => p === "" || p === "." || p === "..") || subfolder.includes("\\")) {
    c.fail(path, `${text} is not a folder of the pipeline`);
  }
  return revision === undefined ? { subfolder } : { subfolder, revision };
}

/**
 * Parses and checks a pipeline's `config.yaml`.
 *
 * @param text the file's content
 * @param source names the file in error messages
 * @throws {WeSpeakerError} `invalid-weights` for malformed YAML (with its line), and for any key or value
 *   that is unknown, unsupported, missing or out of range (naming the key path and its line)
 */
export function parsePipelineConfig(text: string, source = "config.yaml"): PipelineConfig {
  const doc = parseDocument(text, {
    version: "1.1",
    customTags: pyYamlTags,
    prettyErrors: true,
    uniqueKeys: true,
  });
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === "\n") lineStarts.push(i + 1);
  const lineAt = (offset: number) => {
    let line = 0;
    while (line + 1 < lineStarts.length && lineStarts[line + 1] <= offset) line++;
    return line + 1;
  };
  if (doc.errors.length > 0) {
    const [first] = doc.errors;
    const line = first.linePos?.[0]?.line;
    throw new WeSpeakerError(
      "invalid-weights",
      `${source}${line ? `, line ${line}` : ""}: not valid YAML: ${first.message.split("\n")[0]}`,
    );
  }
  const lineOf = (path: string[]): number | undefined => {
    // The key's own line if it is there, else its parent's.
    for (let depth = path.length; depth > 0; depth--) {
      const parent = depth > 1 ? doc.getIn(path.slice(0, depth - 1), true) : doc.contents;
      const items = (parent as { items?: { key?: { value?: unknown; range?: number[] } }[] } | null)?.items;
      const pair = items?.find((p) => p.key?.value === path[depth - 1]);
      if (pair?.key?.range) return lineAt(pair.key.range[0]);
    }
    return undefined;
  };
  const c = new Checker(source, lineOf);
  let root: Value;
  try {
    root = doc.toJS({ mapAsMap: true, maxAliasCount: 100 });
  } catch (err) {
    throw new WeSpeakerError("invalid-weights", `${source}: ${(err as Error).message}`, { cause: err });
  }
  const top = c.map(root, []);
  c.keys(top, [], ["version", "dependencies", "pipeline", "params"], {
    freeze: "frozen hyper-parameters (they only matter when optimising the pipeline)",
    preprocessors: "file preprocessors (give the audio to diarize instead)",
    device: "a torch device (this library runs on MLX; see the README)",
  });
  if (top.has("version")) {
    const v = top.get("version");
    if (typeof v !== "string" && typeof v !== "number") {
      c.fail(["version"], `expected a version, got ${describe(v)}`);
    }
  }
  if (top.has("dependencies")) {
    const deps = c.map(top.get("dependencies"), ["dependencies"]);
    c.keys(deps, ["dependencies"], ["pyannote.audio"]);
  }

  const pipeline = c.map(top.get("pipeline"), ["pipeline"]);
  c.keys(pipeline, ["pipeline"], ["name", "params"]);
  const name = c.string(pipeline.get("name"), ["pipeline", "name"]);
  if (!PIPELINE_NAMES.includes(name)) {
    c.fail(["pipeline", "name"], `unsupported pipeline ${name} (only ${PIPELINE_NAMES[0]} is)`);
  }
  const p = c.map(pipeline.get("params") ?? new Map(), ["pipeline", "params"]);
  const pp = (key: string) => ["pipeline", "params", key];
  c.keys(
    p,
    ["pipeline", "params"],
    [
      "segmentation",
      "embedding",
      "plda",
      "clustering",
      "segmentation_step",
      "embedding_exclude_overlap",
      "segmentation_batch_size",
      "embedding_batch_size",
      "der_variant",
      "legacy",
    ],
    {
      token: "pass the token to fromPretrained (or set HF_TOKEN)",
      cache_dir: "pass cacheDir to fromPretrained (or set HF_HUB_CACHE)",
    },
  );
  for (const key of ["segmentation_batch_size", "embedding_batch_size"]) {
    if (p.has(key)) c.number(p.get(key), pp(key), (v) => Number.isInteger(v) && v >= 1, "a positive integer");
  }
  if (p.has("legacy")) c.boolean(p.get("legacy"), pp("legacy"));
  if (p.has("der_variant")) c.map(p.get("der_variant"), pp("der_variant"));

  // pyannote 4's SpeakerDiarization defaults, for keys a config leaves out.
  const method = p.has("clustering") ? c.string(p.get("clustering"), pp("clustering")) : "VBxClustering";
  if (method !== "AgglomerativeClustering" && method !== "VBxClustering") {
    c.fail(
      pp("clustering"),
      `unsupported clustering ${method} (AgglomerativeClustering and VBxClustering are)`,
    );
  }
  // pyannote falls back to community-1's own models when one is left out; here it must be named.
  const reference = (key: string) => {
    if (!p.has(key)) c.fail(pp(key), "missing (name the model: a Hub repo, a path or $model/<folder>)");
    return modelReference(c, p.get(key), pp(key));
  };
  const segmentationStep = p.has("segmentation_step")
    ? c.number(
      p.get("segmentation_step"),
      pp("segmentation_step"),
      (v) => v > 0 && v <= 1,
      "a number in (0, 1]",
    )
    : 0.1;
  const embeddingExcludeOverlap = p.has("embedding_exclude_overlap")
    ? c.boolean(p.get("embedding_exclude_overlap"), pp("embedding_exclude_overlap"))
    : false;

  const params = c.map(top.get("params") ?? new Map(), ["params"]);
  c.keys(params, ["params"], ["clustering", "segmentation"]);
  const seg = c.map(params.get("segmentation") ?? new Map(), ["params", "segmentation"]);
  c.keys(seg, ["params", "segmentation"], ["min_duration_off"], {
    threshold: "segmentation-3.0 is a powerset model: it has no activation threshold",
  });
  const minDurationOff = seg.has("min_duration_off")
    ? c.number(
      seg.get("min_duration_off"),
      ["params", "segmentation", "min_duration_off"],
      (v) => v >= 0,
      "a number >= 0",
    )
    : 0;

  const cp = c.map(params.get("clustering") ?? new Map(), ["params", "clustering"]);
  const cpath = (key: string) => ["params", "clustering", key];
  let clustering: ClusteringConfig;
  if (method === "VBxClustering") {
    c.keys(cp, ["params", "clustering"], ["threshold", "Fa", "Fb"]);
    const positive = (key: "threshold" | "Fa" | "Fb") =>
      cp.has(key) ? c.number(cp.get(key), cpath(key), (v) => v > 0, "a number > 0") : VBX_DEFAULTS[key];
    clustering = {
      method: "VBxClustering",
      threshold: positive("threshold"),
      Fa: positive("Fa"),
      Fb: positive("Fb"),
    };
  } else {
    c.keys(cp, ["params", "clustering"], ["method", "threshold", "min_cluster_size"]);
    for (const key of ["method", "threshold", "min_cluster_size"]) {
      if (!cp.has(key)) c.fail(cpath(key), "missing (AgglomerativeClustering has no default)");
    }
    const linkage = c.string(cp.get("method"), cpath("method"));
    if (linkage !== "centroid") c.fail(cpath("method"), `unsupported linkage ${linkage} (only centroid is)`);
    clustering = {
      method: "AgglomerativeClustering",
      threshold: c.number(cp.get("threshold"), cpath("threshold"), (v) => v >= 0, "a number >= 0"),
      minClusterSize: c.number(
        cp.get("min_cluster_size"),
        cpath("min_cluster_size"),
        (v) => Number.isInteger(v) && v >= 1,
        "a positive integer",
      ),
    };
  }
  if (method !== "VBxClustering" && p.has("plda")) c.fail(pp("plda"), "only VBxClustering uses a PLDA");
  return {
    segmentation: reference("segmentation"),
    embedding: reference("embedding"),
    ...(method === "VBxClustering" ? { plda: reference("plda") } : {}),
    clustering,
    segmentationStep,
    embeddingExcludeOverlap,
    minDurationOff,
  };
}
