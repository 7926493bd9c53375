/**
 * Calibrating a decision threshold on your own data: a VoxCeleb-style trial list (`label path1 path2`)
 * is embedded and scored, and the scores give the equal error rate, the minimum detection cost at the
 * NIST operating points, and the thresholds where they are reached.
 *
 * @module
 */
import { isAbsolute, join } from "node:path";
import { WeSpeakerError } from "../errors.ts";
import type { WeSpeakerModel } from "../model.ts";
import { cosineScorer, type SpeakerScorer } from "./scoring.ts";

/** One line of a trial list. */
export interface Trial {
  /** Whether both files hold the same speaker. */
  target: boolean;
  /** First file, as written. */
  enrollment: string;
  /** Second file, as written. */
  test: string;
  /** 1-based line in the list. */
  line: number;
}

/**
 * Reads a trial list: one trial per line, `label path1 path2` separated by white space, the label `1` or
 * `target` for the same speaker, `0` or `nontarget` for different ones (VoxCeleb's lists and NIST's words).
 * Blank lines and lines starting with `#` are skipped; paths cannot contain white space.
 *
 * @param source names the list in error messages
 * @throws {WeSpeakerError} `invalid-argument` naming the line of a malformed trial, or for a list without
 *   trials
 */
export function parseTrials(text: string, source = "trial list"): Trial[] {
  const trials: Trial[] = [];
  const lines = text.split(/\r?\n|\r/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    const where = `${source} line ${i + 1}`;
    const fields = line.split(/\s+/);
    if (fields.length !== 3) {
      throw new WeSpeakerError(
        "invalid-argument",
        `${where}: a trial is "label path1 path2" (3 fields), this line has ${fields.length}`,
      );
    }
    const label = fields[0].toLowerCase();
    const target = label === "1" || label === "target"
      ? true
      : label === "0" || label === "nontarget"
      ? false
      : null;
    if (target === null) {
      throw new WeSpeakerError(
        "invalid-argument",
        `${where}: label ${JSON.stringify(fields[0].slice(0, 40))} is not 1, 0, target or nontarget`,
      );
    }
    trials.push({ target, enrollment: fields[1], test: fields[2], line: i + 1 });
  }
  if (trials.length === 0) throw new WeSpeakerError("invalid-argument", `${source} holds no trials`);
  return trials;
}

/** A minimum of the normalised detection cost function. */
export interface MinDCF {
  /** Prior probability of a target trial. */
  pTarget: number;
  /** The minimum over thresholds of `(Cmiss·Pmiss·p + Cfa·Pfa·(1 - p)) / min(Cmiss·p, Cfa·(1 - p))`. */
  value: number;
  /** The threshold reaching it (accept scores >= it); `Infinity` when accepting nothing is best. */
  threshold: number;
  /** Miss and false-alarm rates there. */
  pMiss: number;
  /** False-alarm rate there. */
  pFa: number;
}

/** Error rates at one threshold. */
export interface OperatingPoint {
  /** Scores at or above it are accepted. */
  threshold: number;
  /** Target trials rejected, as a fraction of targets. */
  pMiss: number;
  /** Non-target trials accepted, as a fraction of non-targets. */
  pFa: number;
}

/** What {@link evaluateScores} reports. */
export interface TrialMetrics {
  /** Target and non-target trials. */
  targets: number;
  /** Non-target trials. */
  nontargets: number;
  /**
   * Equal error rate: where the miss and false-alarm rates meet on the DET curve drawn through every
   * threshold (linear between thresholds), as scikit-learn's `roc_curve` and an intersection compute it.
   */
  eer: number;
  /**
   * The threshold whose rates are closest to equal (the higher one on a tie); `Infinity` only when every
   * score is the same.
   */
  eerThreshold: number;
  /** One entry per requested `pTarget`. */
  minDCF: MinDCF[];
  /** The rates at `options.threshold`, when one was given. */
  at?: OperatingPoint;
}

/** Options of {@link evaluateScores}. */
export interface EvaluateOptions {
  /** Target priors of the detection cost (default `[0.01, 0.05]`, NIST SRE's and VoxSRC's). */
  pTargets?: readonly number[];
  /** Cost of a miss (default 1). */
  cMiss?: number;
  /** Cost of a false alarm (default 1). */
  cFa?: number;
  /** Also report the error rates at this threshold. */
  threshold?: number;
}

/**
 * EER, minDCF and their thresholds from trial scores (higher is more alike; a trial is accepted when its
 * score is at or above the threshold). Every distinct score is a threshold, plus +∞ (accept nothing), as
 * in scikit-learn's `roc_curve(drop_intermediate=False)`; equal scores move together.
 *
 * @param scores one finite score per trial
 * @param targets whether each trial is a target (same speaker)
 * @throws {WeSpeakerError} `invalid-argument` for lengths that differ, a non-finite score, or a list
 *   without both target and non-target trials
 */
export function evaluateScores(
  scores: ArrayLike<number>,
  targets: ArrayLike<boolean>,
  options: EvaluateOptions = {},
): TrialMetrics {
  const n = scores.length;
  if (targets.length !== n) {
    throw new WeSpeakerError("invalid-argument", `${n} scores but ${targets.length} labels`);
  }
  let T = 0;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(scores[i])) {
      throw new WeSpeakerError("invalid-argument", `score ${i} is ${scores[i]}; scores must be finite`);
    }
    if (targets[i]) T++;
  }
  const N = n - T;
  if (T === 0 || N === 0) {
    throw new WeSpeakerError(
      "invalid-argument",
      `the trials hold ${T} target and ${N} non-target trials; both kinds are needed`,
    );
  }
  const cMiss = options.cMiss ?? 1, cFa = options.cFa ?? 1;
  const pTargets = options.pTargets ?? [0.01, 0.05];
  for (const [name, value] of [["cMiss", cMiss], ["cFa", cFa]] as const) {
    if (!(Number.isFinite(value) && value > 0)) {
      throw new WeSpeakerError("invalid-argument", `${name} must be a positive number, got ${value}`);
    }
  }
  for (const p of pTargets) {
    if (!(p > 0 && p < 1)) {
      throw new WeSpeakerError("invalid-argument", `pTarget must be in (0, 1), got ${p}`);
    }
  }
  const points = operatingPoints(scores, targets, T, N);

  // EER: the first point at or past the crossing of Pmiss and Pfa, and the segment before it.
  let eer = NaN;
  for (let i = 1; i < points.length; i++) {
    const d = points[i].pMiss - points[i].pFa;
    if (d > 0) continue;
    const prev = points[i - 1];
    const dPrev = prev.pMiss - prev.pFa;
    eer = d === 0 ? points[i].pFa : prev.pFa + (dPrev / (dPrev - d)) * (points[i].pFa - prev.pFa);
    break;
  }
  let eerAt = 0;
  for (let i = 1; i < points.length; i++) {
    if (Math.abs(points[i].pMiss - points[i].pFa) < Math.abs(points[eerAt].pMiss - points[eerAt].pFa)) {
      eerAt = i;
    }
  }
  const minDCF = pTargets.map((p) => {
    const norm = Math.min(cMiss * p, cFa * (1 - p));
    let best = 0, value = Infinity;
    points.forEach((pt, i) => {
      const dcf = (cMiss * pt.pMiss * p + cFa * pt.pFa * (1 - p)) / norm;
      if (dcf < value) {
        value = dcf;
        best = i;
      }
    });
    return {
      pTarget: p,
      value,
      threshold: points[best].threshold,
      pMiss: points[best].pMiss,
      pFa: points[best].pFa,
    };
  });
  const metrics: TrialMetrics = {
    targets: T,
    nontargets: N,
    eer,
    eerThreshold: points[eerAt].threshold,
    minDCF,
  };
  if (options.threshold !== undefined) {
    const t = options.threshold;
    if (!Number.isFinite(t)) {
      throw new WeSpeakerError("invalid-argument", `threshold must be finite, got ${t}`);
    }
    let missed = 0, accepted = 0;
    for (let i = 0; i < n; i++) {
      if (targets[i] && scores[i] < t) missed++;
      if (!targets[i] && scores[i] >= t) accepted++;
    }
    metrics.at = { threshold: t, pMiss: missed / T, pFa: accepted / N };
  }
  return metrics;
}

/** (+∞, 1, 0), then one point per distinct score, highest first: the ROC points of scikit-learn. */
function operatingPoints(scores: ArrayLike<number>, targets: ArrayLike<boolean>, T: number, N: number) {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  const points: OperatingPoint[] = [{ threshold: Infinity, pMiss: 1, pFa: 0 }];
  let tp = 0, fp = 0;
  for (let k = 0; k < order.length;) {
    const threshold = scores[order[k]];
    for (; k < order.length && scores[order[k]] === threshold; k++) {
      if (targets[order[k]]) tp++;
      else fp++;
    }
    // 1 - tp / T rather than (T - tp) / T: scikit-learn's rounding, so that near-equal costs rank alike.
    points.push({ threshold, pMiss: 1 - tp / T, pFa: fp / N });
  }
  return points;
}

/** Options of {@link evaluateTrials}. */
export interface EvaluateTrialsOptions extends EvaluateOptions {
  /** Directory the trial list's relative paths are relative to (default: the current directory). */
  root?: string;
  /** How pairs are scored (default: the cosine). */
  scorer?: SpeakerScorer;
  /** Called after each file is embedded. */
  onProgress?: (progress: { done: number; total: number; file: string }) => void;
}

/** What {@link evaluateTrials} returns: the metrics and each trial's score. */
export interface TrialsReport extends TrialMetrics {
  /** The scorer's name. */
  scorer: string;
  /** One score per trial, in list order. */
  scores: number[];
}

/**
 * Embeds every file of a trial list once (off the JavaScript thread), scores each trial and evaluates
 * the scores (see {@link evaluateScores}). With the pretrained model and VoxCeleb1-O's list this is the
 * measurement behind the model card's EER.
 *
 * @throws {WeSpeakerError} the errors of {@link evaluateScores} and of the model (file named)
 */
export async function evaluateTrials(
  model: WeSpeakerModel,
  trials: readonly Trial[],
  options: EvaluateTrialsOptions = {},
): Promise<TrialsReport> {
  const scorer = options.scorer ?? cosineScorer();
  const resolve = (path: string) =>
    options.root === undefined || isAbsolute(path) ? path : join(options.root, path);
  const files = [...new Set(trials.flatMap((t) => [t.enrollment, t.test]))];
  const embeddings = new Map<string, Float32Array>();
  for (const file of files) {
    embeddings.set(file, await model.embedFile(resolve(file), { raw: true }));
    options.onProgress?.({ done: embeddings.size, total: files.length, file });
  }
  const scores = trials.map((t) =>
    scorer.scoreAll(
      scorer.query(embeddings.get(t.test)!),
      scorer.speakerModel([embeddings.get(t.enrollment)!]),
      1,
    )[0]
  );
  const metrics = evaluateScores(scores, trials.map((t) => t.target), options);
  return { ...metrics, scorer: scorer.name, scores };
}
