/**
 * PLDA scoring: the log-likelihood ratio of "same speaker" against "different speakers" under a
 * two-covariance PLDA model, given a transform into the space where that model is diagonal, as
 * pyannote's community-1 pipeline (VBx) uses it: within-speaker covariance the identity, between-speaker
 * covariance `diag(phi)`.
 *
 * @module
 */
import { WeSpeakerError } from "../errors.ts";
import { dotAll, type SpeakerScorer } from "./scoring.ts";

/**
 * A PLDA model as a scorer needs it: the shape of community-1's `PLDA` class (`PLDA.load` of its
 * `xvec_transform.npz` and `plda.npz`), which can be passed as it is.
 */
export interface PLDAModel {
  /**
   * Maps `n` embeddings as the registry stores them (the model's raw output), row-major, into PLDA space,
   * where the within-speaker covariance is the identity. Returns `n × phi.length` values.
   */
  transform(embeddings: Float32Array, n: number): Float64Array;
  /** The between-speaker variances in that space (each > 0). */
  readonly phi: Float64Array;
}

function transformed(plda: PLDAModel, embedding: Float32Array): Float64Array {
  const y = plda.transform(embedding, 1);
  if (y.length !== plda.phi.length) {
    throw new WeSpeakerError(
      "invalid-argument",
      `the PLDA transform gave ${y.length} values, its phi has ${plda.phi.length}`,
    );
  }
  if (!y.every(Number.isFinite)) {
    throw new WeSpeakerError("invalid-argument", "the PLDA transform gave a non-finite value");
  }
  return y;
}

/**
 * Scores by the PLDA log-likelihood ratio (natural log). A speaker with `n` clips is scored by the
 * posterior predictive of its mean (n-sample enrolment, as Kaldi's `ivector-plda-scoring --num-utts`);
 * two single clips get the symmetric two-covariance LLR. Threshold 0 decides by the likelihoods alone
 * (a prior of 1/2); a calibrated system would move it.
 *
 * Speaker models and queries are vectors built so that the LLR is one dot product (`[x, x², 1, s]` against
 * `[μ/v, -1/(2v), c, 1]` per dimension), which keeps a search over many speakers as fast as the cosine's.
 *
 * @param threshold decision threshold on the LLR (default 0)
 */
export function pldaScorer(plda: PLDAModel, threshold = 0): SpeakerScorer {
  const psi = Float64Array.from(plda.phi);
  if (psi.length === 0 || !psi.every((p) => Number.isFinite(p) && p > 0)) {
    throw new WeSpeakerError("invalid-argument", "PLDA phi must hold positive, finite variances");
  }
  if (!Number.isFinite(threshold)) {
    throw new WeSpeakerError("invalid-argument", `threshold must be finite, got ${threshold}`);
  }
  const D = psi.length;
  // The part of every LLR that depends on neither side: ½ Σ log(Φ + 1).
  let constant = 0;
  for (let d = 0; d < D; d++) constant += 0.5 * Math.log(psi[d] + 1);
  return {
    name: "plda",
    threshold,
    speakerModel(clips) {
      if (clips.length === 0) {
        throw new WeSpeakerError("invalid-argument", "a speaker needs at least one clip");
      }
      const n = clips.length;
      const mean = new Float64Array(D);
      for (const clip of clips) {
        const y = transformed(plda, clip);
        for (let d = 0; d < D; d++) mean[d] += y[d] / n;
      }
      const model = new Float32Array(2 * D + 2);
      let c = constant;
      for (let d = 0; d < D; d++) {
        // Posterior predictive of a new clip of this speaker: N(μ, v).
        const mu = (n * psi[d] * mean[d]) / (n * psi[d] + 1);
        const v = psi[d] / (n * psi[d] + 1) + 1;
        model[d] = mu / v;
        model[D + d] = -0.5 / v;
        c += -0.5 * Math.log(v) - (mu * mu) / (2 * v);
      }
      model[2 * D] = c;
      model[2 * D + 1] = 1;
      return model;
    },
    query(embedding) {
      const x = transformed(plda, embedding);
      const q = new Float32Array(2 * D + 2);
      let s = 0;
      for (let d = 0; d < D; d++) {
        q[d] = x[d];
        q[D + d] = x[d] * x[d];
        // Minus the log-density of x under "a speaker never seen": N(0, Φ + 1).
        s += (x[d] * x[d]) / (2 * (psi[d] + 1));
      }
      q[2 * D] = 1;
      q[2 * D + 1] = s;
      return q;
    },
    scoreAll: dotAll,
  };
}
