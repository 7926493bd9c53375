/**
 * The clustering stage of `pyannote/speaker-diarization-community-1`: pyannote.audio 4's
 * `VBxClustering.__call__`, step by step.
 *
 * 1. Training embeddings: the (chunk, local speaker) pairs heard alone for at least 20% of the chunk's
 *    frames (`filter_embeddings`, `min_active_ratio=0.2`).
 * 2. Agglomerative initialisation: centroid linkage over the L2-normalised (float32) training
 *    embeddings, cut at `threshold` (scipy's `linkage` and `fcluster`, lib/diarization/linkage.ts).
 * 3. VBx over their PLDA features ({@link clusterVbx}, `Fa`, `Fb`, 20 iterations at most); the
 *    speakers whose prior stays above 1e-7 are kept, each centroid the responsibility-weighted mean of
 *    the raw training embeddings.
 * 4. When that count breaks `numSpeakers` / `minSpeakers` / `maxSpeakers`, scikit-learn's KMeans on the
 *    normalised training embeddings with the count forced ({@link kmeansFitPredict}); centroids are then
 *    the float32 means of its clusters, and the assignment below is unconstrained.
 * 5. Every (chunk, local speaker) scores `2 - cosine distance` to each centroid. Without KMeans, each
 *    chunk's local speakers get distinct clusters by an optimal assignment (SciPy's Hungarian, silent
 *    speakers scored below everything else), so a chunk never holds one cluster twice; with KMeans,
 *    each takes its best-scoring centroid.
 *
 * @module
 */
import { WeSpeakerError } from "../errors.ts";
import { linearSumAssignment } from "../math/hungarian.ts";
import { kmeansFitPredict } from "./kmeans.ts";
import { centroidLinkage, fcluster } from "./linkage.ts";
import { cosineDistance, meanRowsF32, normalizeRowsF32, rowNormsF64 } from "./numpy_ops.ts";
import type { PLDA } from "./plda.ts";
import { clusterVbx } from "./vbx.ts";

/** The tuned VBx hyper-parameters of `pyannote/speaker-diarization-community-1`. */
export const COMMUNITY_1_CLUSTERING: {
  readonly threshold: number;
  readonly Fa: number;
  readonly Fb: number;
} = {
  threshold: 0.6,
  Fa: 0.07,
  Fb: 0.8,
};

/** Hyper-parameters and speaker-count constraints of {@link vbxClustering}. */
export interface VbxClusteringOptions {
  /** The PLDA model the features come from. */
  plda: PLDA;
  /** Cut height of the agglomerative initialisation. */
  threshold: number;
  /** VBx's statistics scale. */
  Fa: number;
  /** VBx's speaker regularisation. */
  Fb: number;
  /** Exact number of speakers, when known. */
  numClusters?: number;
  /** Fewest speakers (default 1). */
  minClusters?: number;
  /** Most speakers (default: no bound). */
  maxClusters?: number;
  /** Progress of the agglomerative initialisation's linkage (see `centroidLinkage`). */
  onProgress?: (done: number, total: number) => void;
}

/** Every intermediate of {@link vbxClustering}, for inspection and the parity tests. */
export interface VbxClusters {
  /** Global cluster per (chunk, local speaker), row-major; -2 where none was assigned. */
  hardClusters: Int32Array;
  /** Centroids (float64), row-major `numClusters × dim`; rows may be NaN where pyannote's are. */
  centroids: Float64Array;
  /** Number of centroids. */
  numClusters: number;
  /** The (chunk × local speakers + speaker) index of each training embedding. */
  train: Int32Array;
  /** Agglomerative labels of the training embeddings (empty when fewer than 2). */
  ahc: Int32Array;
  /** VBx's responsibilities (`n × ahc clusters`) and priors; absent when fewer than 2 embeddings. */
  vbx?: { gamma: Float64Array; pi: Float64Array; elbo: number[] };
  /** KMeans labels of the training embeddings, when the count was forced. */
  kmeans?: Int32Array;
  /** `2 - cosine distance` per (chunk, local speaker, cluster), before the assignment. */
  softClusters: Float64Array;
}

function fail(message: string): never {
  throw new WeSpeakerError("invalid-argument", message);
}

/** numpy's argmax: the first NaN, else the first maximum. */
function argmax(values: Float64Array, start: number, count: number): number {
  let best = 0;
  for (let j = 0; j < count; j++) {
    const v = values[start + j];
    if (Number.isNaN(v)) return j;
    if (v > values[start + best]) best = j;
  }
  return best;
}

/**
 * pyannote.audio 4's `VBxClustering.__call__` (with `constrained_assignment=True`, the pipeline's
 * setting), over the chunk-level results.
 *
 * @param embeddings raw embeddings, row-major `numChunks × numSpeakers × dim` (all finite)
 * @param binarized hard local activity, row-major `numChunks × numFrames × numSpeakers`
 * @returns the assignment, the centroids and every intermediate
 * @throws {WeSpeakerError} `invalid-argument` for inconsistent sizes, a training embedding of zero length,
 *   or a forced speaker count above the number of training embeddings (where scikit-learn raises)
 */
export function vbxClustering(
  embeddings: Float32Array,
  binarized: Uint8Array,
  numChunks: number,
  numFrames: number,
  numSpeakers: number,
  dim: number,
  options: VbxClusteringOptions,
): VbxClusters {
  const pairs = numChunks * numSpeakers;
  if (embeddings.length !== pairs * dim || binarized.length !== numChunks * numFrames * numSpeakers) {
    fail(`vbxClustering: sizes do not match ${numChunks} chunks x ${numSpeakers} speakers`);
  }
  if (options.plda.inputDim !== dim) {
    fail(`vbxClustering: the PLDA takes ${options.plda.inputDim}-d embeddings, not ${dim}`);
  }

  // filter_embeddings: frames where exactly one local speaker is active, counted per speaker.
  const train: number[] = [];
  const silent = new Uint8Array(pairs);
  for (let c = 0; c < numChunks; c++) {
    const clean = new Int32Array(numSpeakers), any = new Int32Array(numSpeakers);
    for (let f = 0; f < numFrames; f++) {
      const frame = (c * numFrames + f) * numSpeakers;
      let active = 0;
      for (let s = 0; s < numSpeakers; s++) active += binarized[frame + s];
      for (let s = 0; s < numSpeakers; s++) {
        any[s] += binarized[frame + s];
        if (active === 1) clean[s] += binarized[frame + s];
      }
    }
    for (let s = 0; s < numSpeakers; s++) {
      if (clean[s] >= 0.2 * numFrames) train.push(c * numSpeakers + s);
      silent[c * numSpeakers + s] = any[s] === 0 ? 1 : 0;
    }
  }
  const n = train.length;
  const trainEmbeddings = new Float32Array(n * dim);
  train.forEach((p, i) => trainEmbeddings.set(embeddings.subarray(p * dim, (p + 1) * dim), i * dim));

  if (n < 2) {
    // pyannote's early exit: one cluster, centroid the mean of what there is (NaN when nothing).
    const centroids = new Float64Array(dim).fill(NaN);
    if (n === 1) centroids.set(trainEmbeddings);
    return {
      hardClusters: new Int32Array(pairs),
      centroids,
      numClusters: 1,
      train: Int32Array.from(train),
      ahc: new Int32Array(0),
      softClusters: new Float64Array(pairs).fill(1),
    };
  }

  const { rows: normed, badRow } = normalizeRowsF32(trainEmbeddings, n, dim);
  if (badRow >= 0) {
    const p = train[badRow];
    fail(
      `vbxClustering: embedding of chunk ${Math.floor(p / numSpeakers)} speaker ${
        p % numSpeakers
      } has zero length`,
    );
  }
  const z = centroidLinkage(Float64Array.from(normed), n, dim, { onProgress: options.onProgress });
  // fcluster numbers clusters 1..k already contiguous: np.unique's inverse is label - 1.
  const ahc = fcluster(z, n, options.threshold).map((l) => l - 1);

  const features = options.plda.transform(trainEmbeddings, n);
  const vbx = clusterVbx(ahc, features, n, options.plda.dim, options.plda.phi, {
    Fa: options.Fa,
    Fb: options.Fb,
    maxIters: 20,
  });
  const k0 = vbx.numSpeakers;
  const kept = [...vbx.pi.keys()].filter((j) => vbx.pi[j] > 1e-7);
  let numClusters = kept.length;
  // centroids = Wᵀ train / W.sum(0), W the kept responsibilities.
  let centroids = new Float64Array(numClusters * dim);
  kept.forEach((j, c) => {
    let weight = 0;
    for (let t = 0; t < n; t++) weight += vbx.gamma[t * k0 + j];
    for (let d = 0; d < dim; d++) {
      let s = 0;
      for (let t = 0; t < n; t++) s += vbx.gamma[t * k0 + j] * trainEmbeddings[t * dim + d];
      centroids[c * dim + d] = s / weight;
    }
  });

  let target = options.numClusters;
  const minClusters = options.minClusters ?? 1, maxClusters = options.maxClusters ?? Infinity;
  if (numClusters < minClusters) target = minClusters;
  else if (numClusters > maxClusters) target = maxClusters;
  let kmeans: Int32Array | undefined;
  if (target && target !== numClusters) {
    if (target > n) {
      fail(
        `cannot make ${target} speakers out of ${n} embeddings of speakers heard alone long enough ` +
          `(scikit-learn's KMeans needs at least as many): ask for fewer speakers`,
      );
    }
    kmeans = kmeansFitPredict(normed, n, dim, target);
    numClusters = target;
    centroids = new Float64Array(numClusters * dim);
    const mean = new Float32Array(dim);
    for (let c = 0; c < numClusters; c++) {
      const members = [...kmeans.keys()].filter((t) => kmeans![t] === c);
      if (members.length === 0) {
        centroids.fill(NaN, c * dim, (c + 1) * dim);
        continue;
      }
      meanRowsF32(trainEmbeddings, dim, members, mean, 0);
      centroids.set(mean, c * dim);
    }
  }

  // soft_clusters = 2 - cdist(embeddings, centroids, "cosine").
  const k = numClusters;
  const soft = new Float64Array(pairs * k);
  const embeddingNorms = rowNormsF64(embeddings, pairs, dim);
  const centroidNorms = rowNormsF64(centroids, k, dim);
  for (let p = 0; p < pairs; p++) {
    for (let c = 0; c < k; c++) {
      soft[p * k + c] = 2 -
        cosineDistance(embeddings, p, embeddingNorms[p], centroids, c, centroidNorms[c], dim);
    }
  }
  const softClusters = soft.slice();
  const hardClusters = new Int32Array(pairs).fill(-2);
  if (kmeans) {
    for (let p = 0; p < pairs; p++) hardClusters[p] = argmax(soft, p * k, k);
  } else {
    // constrained_argmax: silent speakers below every score, then one assignment per chunk.
    let min = Infinity;
    for (const v of soft) min = Math.min(min, v);
    const floor = min - 1;
    for (let p = 0; p < pairs; p++) if (silent[p]) soft.fill(floor, p * k, (p + 1) * k);
    for (let c = 0; c < numChunks; c++) {
      const cost = Array.from(
        { length: numSpeakers },
        (_, s) => soft.subarray((c * numSpeakers + s) * k, (c * numSpeakers + s + 1) * k),
      );
      const { rows, cols } = linearSumAssignment(cost, { maximize: true });
      rows.forEach((s, i) => (hardClusters[c * numSpeakers + s] = cols[i]));
    }
  }
  return {
    hardClusters,
    centroids,
    numClusters: k,
    train: Int32Array.from(train),
    ahc,
    vbx: { gamma: vbx.gamma, pi: vbx.pi, elbo: vbx.elbo },
    kmeans,
    softClusters,
  };
}
