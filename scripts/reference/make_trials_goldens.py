"""Goldens for evaluateScores (lib/identity/trials.ts): EER, minDCF and their thresholds on generated
score lists, computed with scikit-learn's roc_curve and numpy.

Run in a venv with the pinned versions (numpy 2.2.6, scipy 1.15.3, scikit-learn 1.6.1):

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install numpy==2.2.6 scipy==1.15.3 scikit-learn==1.6.1
    /tmp/venv/bin/python scripts/reference/make_trials_goldens.py > tests/fixtures/identity/trials.json

Definitions (the ones the TypeScript implements, written here independently):
- operating points: sklearn.metrics.roc_curve(labels, scores, drop_intermediate=False): +inf, then every
  distinct score, highest first; Pmiss = 1 - tpr, Pfa = fpr.
- EER: where the polyline through (Pfa, Pmiss) meets Pmiss = Pfa, found segment by segment (vectorised);
  checked against scipy's brentq on interp1d(fpr, tpr), the usual recipe, where fpr has no repeated values.
- EER threshold: thresholds[argmin |Pmiss - Pfa|] (first, i.e. highest, on a tie).
- minDCF(p): min over points of (Cmiss Pmiss p + Cfa Pfa (1 - p)) / min(Cmiss p, Cfa (1 - p)), Cmiss = Cfa = 1;
  its threshold the first (highest) point reaching the minimum.
"""
import json
import sys

import numpy as np
import scipy
import sklearn
from scipy.interpolate import interp1d
from scipy.optimize import brentq
from sklearn.metrics import roc_curve

P_TARGETS = [0.01, 0.05]


def eer_by_segments(fpr, fnr):
    d = fnr - fpr
    # First point at or past the crossing; d[0] = 1 > 0 always.
    i = int(np.flatnonzero(d <= 0)[0])
    if d[i] == 0:
        return float(fpr[i])
    x0, x1, y0, y1 = fpr[i - 1], fpr[i], fnr[i - 1], fnr[i]
    # Solve x0 + t (x1 - x0) = y0 + t (y1 - y0).
    t = (y0 - x0) / ((x1 - x0) - (y1 - y0))
    return float(x0 + t * (x1 - x0))


def evaluate(scores, labels):
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    fpr, tpr, thresholds = roc_curve(labels, scores, pos_label=1, drop_intermediate=False)
    fnr = 1.0 - tpr
    eer = eer_by_segments(fpr, fnr)
    if len(np.unique(fpr)) == len(fpr):
        check = brentq(lambda x: 1.0 - x - interp1d(fpr, tpr)(x), 0.0, 1.0)
        assert abs(check - eer) < 1e-9, (check, eer)
    at = int(np.argmin(np.abs(fnr - fpr)))
    out = {
        "targets": int(labels.sum()),
        "nontargets": int((1 - labels).sum()),
        "eer": eer,
        "eerThreshold": None if np.isinf(thresholds[at]) else float(thresholds[at]),
        "minDCF": [],
    }
    for p in P_TARGETS:
        dcf = (fnr * p + fpr * (1 - p)) / min(p, 1 - p)
        k = int(np.argmin(dcf))
        out["minDCF"].append({
            "pTarget": p,
            "value": float(dcf[k]),
            "threshold": None if np.isinf(thresholds[k]) else float(thresholds[k]),
            "pMiss": float(fnr[k]),
            "pFa": float(fpr[k]),
        })
    return out


def case(name, scores, labels):
    scores = [float(s) for s in scores]
    labels = [int(l) for l in labels]
    return {"name": name, "scores": scores, "labels": labels, "expected": evaluate(scores, labels)}


def main():
    rng = np.random.default_rng(20250)
    cases = []
    # Gaussian target and non-target scores, 10% targets.
    n = 2000
    labels = rng.random(n) < 0.1
    cases.append(case("gaussian", np.where(labels, rng.normal(2.0, 1.0, n), rng.normal(0.0, 1.0, n)), labels))
    # Cosine-like scores, 1% targets, many trials.
    n = 10000
    labels = rng.random(n) < 0.01
    scores = np.clip(np.where(labels, rng.normal(0.6, 0.15, n), rng.normal(0.05, 0.12, n)), -1, 1)
    cases.append(case("cosine-like", scores, labels))
    # Heavy ties across both kinds: scores on a 0.05 grid.
    n = 600
    labels = rng.random(n) < 0.3
    scores = np.round(np.where(labels, rng.normal(0.5, 0.2, n), rng.normal(0.2, 0.2, n)) / 0.05) * 0.05
    cases.append(case("ties", scores, labels))
    # Small hand-made lists: separated, inverted, all equal, two trials, crossings on vertical and
    # horizontal segments of the DET polyline.
    cases.append(case("separated", [0.9, 0.8, 0.7, 0.1, 0.2, 0.3], [1, 1, 1, 0, 0, 0]))
    cases.append(case("inverted", [0.1, 0.2, 0.9, 0.8], [1, 1, 0, 0]))
    cases.append(case("all-equal", [0.5] * 5, [1, 0, 1, 0, 0]))
    cases.append(case("two", [0.3, 0.7], [1, 0]))
    cases.append(case("vertical", [0.9, 0.6, 0.5, 0.4, 0.3, 0.55], [1, 1, 1, 0, 0, 0]))
    cases.append(case("horizontal", [0.9, 0.8, 0.7, 0.6, 0.2, 0.1], [0, 1, 0, 0, 1, 1]))
    cases.append(case("tie-straddle", [0.8, 0.5, 0.5, 0.5, 0.2, 0.1, 0.5], [1, 1, 0, 1, 0, 0, 0]))
    json.dump(
        {
            "generator": "scripts/reference/make_trials_goldens.py",
            "versions": {"numpy": np.__version__, "scipy": scipy.__version__, "scikit-learn": sklearn.__version__},
            "pTargets": P_TARGETS,
            "cases": cases,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
