/**
 * VBx, the variational Bayes HMM clustering of x-vectors (Landini et al., 2022) in the form
 * pyannote.audio 4 ships (`pyannote.audio.utils.vbx`: `VBx` without the HMM transitions, and
 * `cluster_vbx`): speakers are Gaussians in the PLDA space with identity within-speaker covariance and
 * diagonal between-speaker covariance `phi`; starting from the agglomerative clusters (softened by a
 * softmax with temperature 7), it alternates speaker-model and responsibility updates, re-estimating
 * the speaker priors, until the evidence lower bound improves by less than 1e-4 or after `maxIters`.
 * Speakers whose prior collapses are the ones the data does not support.
 *
 * Float64 throughout, with numpy's order of operations; scipy's `logsumexp` (1.17: the maximum terms
 * kept out of the sum, `log1p`) and `softmax`.
 *
 * @module
 */
import { WeSpeakerError } from "../errors.ts";

/** The hyper-parameters of `cluster_vbx`. */
export interface VbxOptions {
  /** Scale of the sufficient statistics (community-1: 0.07). */
  Fa: number;
  /** Speaker regularisation: larger keeps fewer speakers (community-1: 0.8). */
  Fb: number;
  /** Most iterations (pyannote: 20). */
  maxIters?: number;
  /** Softmax temperature applied to the one-hot initial clusters (pyannote: 7). */
  initSmoothing?: number;
}

/** What `cluster_vbx` returns, plus the lower bound after each iteration. */
export interface VbxResult {
  /** Responsibilities, row-major `n × numSpeakers` (`q`). */
  gamma: Float64Array;
  /** Speaker priors (`sp`), summing to 1. */
  pi: Float64Array;
  /** Number of initial speakers (the largest initial label + 1). */
  numSpeakers: number;
  /** Evidence lower bound after each iteration run. */
  elbo: number[];
}

/** scipy.special.logsumexp of one row (real input). */
function logSumExp(a: Float64Array): number {
  let max = -Infinity;
  for (const v of a) if (v > max) max = v;
  let m = 0, s = 0;
  for (const v of a) {
    if (v === max) m++;
    else s += Math.exp(v - max);
  }
  if (s !== 0) s /= m;
  return Math.log1p(s) + Math.log(m) + max;
}

/**
 * `cluster_vbx(ahc_init, fea, Phi, Fa, Fb, maxIters, init_smoothing)`.
 *
 * @param init initial speaker of each feature vector (0-based, contiguous)
 * @param features row-major `n × dim` PLDA features
 * @param n number of feature vectors
 * @param dim feature dimension
 * @param phi between-speaker variance per dimension (`dim` values, positive)
 * @throws {WeSpeakerError} `invalid-argument` for inconsistent sizes, labels or hyper-parameters
 */
export function clusterVbx(
  init: Int32Array,
  features: Float64Array,
  n: number,
  dim: number,
  phi: Float64Array,
  options: VbxOptions,
): VbxResult {
  const { Fa, Fb } = options;
  const maxIters = options.maxIters ?? 20;
  const smoothing = options.initSmoothing ?? 7;
  const fail = (what: string): never => {
    throw new WeSpeakerError("invalid-argument", `VBx: ${what}`);
  };
  if (!Number.isInteger(n) || n < 1 || init.length !== n) {
    fail(`${init.length} initial labels for ${n} vectors`);
  }
  if (features.length !== n * dim || phi.length !== dim) {
    fail(`features ${features.length}, phi ${phi.length}, dim ${dim}`);
  }
  if (!(Fa > 0 && Number.isFinite(Fa)) || !(Fb > 0 && Number.isFinite(Fb))) {
    fail(`Fa and Fb must be positive, got ${Fa}, ${Fb}`);
  }
  if (!Number.isInteger(maxIters) || maxIters < 1) {
    fail(`maxIters must be a positive integer, got ${maxIters}`);
  }
  let k = 0;
  for (const l of init) {
    if (!Number.isInteger(l) || l < 0) fail(`initial label ${l}`);
    k = Math.max(k, l + 1);
  }

  // qinit: one-hot, softened by softmax(qinit * init_smoothing) (none for a negative smoothing).
  let gamma = new Float64Array(n * k);
  const row = new Float64Array(k);
  for (let t = 0; t < n; t++) {
    if (smoothing < 0) {
      gamma[t * k + init[t]] = 1;
      continue;
    }
    const top = smoothing > 0 ? smoothing : 0; // max of the row
    let sum = 0;
    for (let j = 0; j < k; j++) sum += row[j] = Math.exp((j === init[t] ? smoothing : 0) - top);
    for (let j = 0; j < k; j++) gamma[t * k + j] = row[j] / sum;
  }

  const log2pi = Math.log(2 * Math.PI);
  const g = new Float64Array(n);
  const rho = new Float64Array(n * dim);
  for (let t = 0; t < n; t++) {
    let s = 0;
    for (let d = 0; d < dim; d++) {
      const x = features[t * dim + d];
      s += x * x;
      rho[t * dim + d] = x * Math.sqrt(phi[d]);
    }
    g[t] = -0.5 * (s + dim * log2pi);
  }

  let pi = new Float64Array(k).fill(1 / k);
  const invL = new Float64Array(k * dim);
  const alpha = new Float64Array(k * dim);
  const logP = new Float64Array(n * k);
  const penalty = new Float64Array(k);
  const elbo: number[] = [];
  const ratio = Fa / Fb;
  for (let iter = 0; iter < maxIters; iter++) {
    // (17), (16): speaker models from the responsibilities.
    for (let j = 0; j < k; j++) {
      let count = 0;
      for (let t = 0; t < n; t++) count += gamma[t * k + j];
      for (let d = 0; d < dim; d++) {
        let stat = 0;
        for (let t = 0; t < n; t++) stat += gamma[t * k + j] * rho[t * dim + d];
        const il = 1 / (1 + ratio * count * phi[d]);
        invL[j * dim + d] = il;
        alpha[j * dim + d] = ratio * il * stat;
      }
      let p = 0;
      for (let d = 0; d < dim; d++) p += (invL[j * dim + d] + alpha[j * dim + d] ** 2) * phi[d];
      penalty[j] = p;
    }
    // (23): per-frame log-likelihoods, then the GMM responsibilities.
    const lpi = pi.map((p) => Math.log(p + 1e-8));
    let logPX = 0;
    const shifted = new Float64Array(k);
    const next = new Float64Array(n * k);
    for (let t = 0; t < n; t++) {
      for (let j = 0; j < k; j++) {
        let dot = 0;
        for (let d = 0; d < dim; d++) dot += rho[t * dim + d] * alpha[j * dim + d];
        logP[t * k + j] = Fa * (dot - 0.5 * penalty[j] + g[t]);
        shifted[j] = logP[t * k + j] + lpi[j];
      }
      const lse = logSumExp(shifted);
      logPX += lse;
      for (let j = 0; j < k; j++) next[t * k + j] = Math.exp(logP[t * k + j] + lpi[j] - lse);
    }
    gamma = next;
    pi = new Float64Array(k);
    for (let t = 0; t < n; t++) for (let j = 0; j < k; j++) pi[j] += gamma[t * k + j];
    const total = pi.reduce((a, b) => a + b, 0);
    for (let j = 0; j < k; j++) pi[j] /= total;
    // (25)
    let kl = 0;
    for (let i = 0; i < k * dim; i++) kl += Math.log(invL[i]) - invL[i] - alpha[i] ** 2 + 1;
    const bound = logPX + Fb * 0.5 * kl;
    elbo.push(bound);
    if (iter > 0 && bound - elbo[iter - 1] < 1e-4) break;
  }
  return { gamma, pi, numSpeakers: k, elbo };
}
