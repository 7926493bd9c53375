/**
 * How a query embedding is scored against enrolled speakers: an interface, so that scorers other than
 * the cosine (PLDA's log-likelihood ratio) plug in, and the cosine scorer itself.
 *
 * @module
 */
import { DIARIZATION_31_CLUSTERING } from "../diarization/clustering.ts";
import { WeSpeakerError } from "../errors.ts";

/**
 * Scores embeddings against enrolled speakers. Every embedding a scorer sees is as the model returned it
 * with `raw: true` (the registry stores raw embeddings), or L2-normalised where the caller had only
 * those; a scorer normalises as it needs.
 *
 * A scorer turns each speaker's clips into one vector (its speaker model) and each query into one vector
 * of the same length; {@link scoreAll} compares one query with many speaker models, which is what makes
 * searching a large registry fast. Scores are "higher is more alike"; a decision accepts a score at or
 * above the threshold.
 */
export interface SpeakerScorer {
  /** Short name, shown in results ("cosine", "plda"). */
  readonly name: string;
  /** The default decision threshold, in this scorer's units. */
  readonly threshold: number;
  /** One speaker's model from the embeddings of its clips (at least one). */
  speakerModel(clips: readonly Float32Array[]): Float32Array;
  /** A query embedding in the form {@link scoreAll} takes. */
  query(embedding: Float32Array): Float32Array;
  /**
   * Scores one prepared query against `count` speaker models stored back to back in `models` (each as
   * long as the query).
   */
  scoreAll(query: Float32Array, models: Float32Array, count: number): Float64Array;
}

/**
 * The cosine similarity at which pyannote's speaker-diarization-3.1 merges two single embeddings of
 * WeSpeaker ResNet34-LM: its clustering joins L2-normalised embeddings closer than
 * 0.7045654963945799 (Euclidean), and for unit vectors `cos = 1 - d² / 2`, so about 0.7518. It was tuned
 * by pyannote for this model on diarization benchmarks (10 s chunk embeddings), not measured on a
 * verification trial list: a conservative starting point that prefers "unknown" to a wrong name.
 * Calibrate on your own data with `evaluateScores` / `wespeaker eval-trials`.
 */
export const DEFAULT_COSINE_THRESHOLD: number = 1 - DIARIZATION_31_CLUSTERING.threshold ** 2 / 2;

/**
 * `v / ‖v‖` as a new Float32Array (norm in float64).
 *
 * @throws {WeSpeakerError} `invalid-argument` for an empty, zero or non-finite vector
 */
export function l2normalize(v: Float32Array, what = "embedding"): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i] * v[i];
  if (!(sum > 0 && Number.isFinite(sum))) {
    throw new WeSpeakerError(
      "invalid-argument",
      `${what} has ${v.length === 0 ? "no values" : "a zero or non-finite norm"}: cannot normalise it`,
    );
  }
  const inv = 1 / Math.sqrt(sum);
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i] * inv;
  return out;
}

/**
 * The cosine scorer: a speaker's model is the normalised mean of its normalised clip embeddings (each
 * clip weighs the same whatever its length), a score the cosine between it and the query, in [-1, 1].
 *
 * @param threshold decision threshold (default {@link DEFAULT_COSINE_THRESHOLD})
 */
export function cosineScorer(threshold: number = DEFAULT_COSINE_THRESHOLD): SpeakerScorer {
  if (!(Number.isFinite(threshold) && threshold >= -1 && threshold <= 1)) {
    throw new WeSpeakerError("invalid-argument", `a cosine threshold is in [-1, 1], got ${threshold}`);
  }
  return {
    name: "cosine",
    threshold,
    speakerModel(clips) {
      if (clips.length === 0) {
        throw new WeSpeakerError("invalid-argument", "a speaker needs at least one clip");
      }
      if (clips.length === 1) return l2normalize(clips[0], "clip 0");
      const dim = clips[0].length;
      const sum = new Float64Array(dim);
      clips.forEach((clip, k) => {
        if (clip.length !== dim) {
          throw new WeSpeakerError(
            "invalid-argument",
            `clip ${k} has ${clip.length} values, clip 0 has ${dim}`,
          );
        }
        const unit = l2normalize(clip, `clip ${k}`);
        for (let i = 0; i < dim; i++) sum[i] += unit[i];
      });
      return l2normalize(new Float32Array(sum), "the mean of the clips");
    },
    query: (embedding) => l2normalize(embedding, "query embedding"),
    scoreAll(query, models, count) {
      // Unit vectors rounded to float32 can give a product a hair outside [-1, 1].
      return dotAll(query, models, count).map((s) => Math.min(1, Math.max(-1, s)));
    },
  };
}

/**
 * `out[k] = query · models[k]` for `count` rows of `query.length` values: the inner loop of every linear
 * scorer, four rows at a time.
 */
export function dotAll(query: Float32Array, models: Float32Array, count: number): Float64Array {
  const dim = query.length;
  if (models.length < count * dim) {
    throw new WeSpeakerError(
      "invalid-argument",
      `${count} speaker models of ${dim} values need ${count * dim} values, got ${models.length}`,
    );
  }
  const out = new Float64Array(count);
  let k = 0;
  for (; k + 4 <= count; k += 4) {
    let a = 0, b = 0, c = 0, d = 0;
    const r0 = k * dim, r1 = r0 + dim, r2 = r1 + dim, r3 = r2 + dim;
    for (let i = 0; i < dim; i++) {
      const q = query[i];
      a += q * models[r0 + i];
      b += q * models[r1 + i];
      c += q * models[r2 + i];
      d += q * models[r3 + i];
    }
    out[k] = a;
    out[k + 1] = b;
    out[k + 2] = c;
    out[k + 3] = d;
  }
  for (; k < count; k++) {
    let a = 0;
    const r = k * dim;
    for (let i = 0; i < dim; i++) a += query[i] * models[r + i];
    out[k] = a;
  }
  return out;
}
