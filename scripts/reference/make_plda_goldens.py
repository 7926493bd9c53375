"""Goldens for pldaScorer (lib/identity/plda_scorer.ts): two-covariance PLDA log-likelihood ratios computed
from full multivariate normal densities (scipy), independently of the closed form the TypeScript uses.

Run in a venv with numpy 2.2.6 and scipy 1.15.3 (see make_trials_goldens.py):

    /tmp/venv/bin/python scripts/reference/make_plda_goldens.py > tests/fixtures/identity/plda.json

Model, in PLDA space (the space pyannote's xvec_tf + plda_tf map embeddings to): a speaker y ~ N(0, B),
B = diag(psi); a clip x = y + e, e ~ N(0, I). For enrolment clips e_1..e_n and a test clip t:
LLR = log p(e_1..e_n, t | same speaker) - log p(e_1..e_n | one speaker) - log p(t | any speaker), each
a zero-mean Gaussian over the stacked vectors: within one speaker, cov(x_i, x_j) = B + [i == j] I.
"""
import json
import sys

import numpy as np
import scipy
from scipy.stats import multivariate_normal


def joint_cov(psi, n):
    d = len(psi)
    B = np.diag(psi)
    cov = np.kron(np.ones((n, n)), B) + np.eye(n * d)
    return cov


def llr(psi, enroll, test):
    n = len(enroll)
    same = np.concatenate([*enroll, test])
    log_same = multivariate_normal(np.zeros(len(same)), joint_cov(psi, n + 1)).logpdf(same)
    log_enroll = multivariate_normal(np.zeros(n * len(psi)), joint_cov(psi, n)).logpdf(np.concatenate(enroll))
    log_test = multivariate_normal(np.zeros(len(psi)), joint_cov(psi, 1)).logpdf(test)
    return float(log_same - log_enroll - log_test)


def main():
    rng = np.random.default_rng(16)
    d = 6
    psi = np.float32(rng.uniform(0.3, 4.0, d)).astype(np.float64)  # as the scorer receives it
    cases = []
    for n in [1, 1, 2, 3, 5]:
        speaker = rng.normal(0, np.sqrt(psi))
        enroll = [speaker + rng.normal(0, 1, d) for _ in range(n)]
        same = speaker + rng.normal(0, 1, d)
        other = rng.normal(0, np.sqrt(psi)) + rng.normal(0, 1, d)
        for test, target in [(same, True), (other, False)]:
            # float32 inputs, as the scorer receives them
            e32 = [np.float32(e).astype(np.float64) for e in enroll]
            t32 = np.float32(test).astype(np.float64)
            cases.append({
                "enroll": [e.tolist() for e in e32],
                "test": t32.tolist(),
                "target": target,
                "llr": llr(psi, e32, t32),
            })
    json.dump({
        "generator": "scripts/reference/make_plda_goldens.py",
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__},
        "psi": psi.tolist(),
        "cases": cases,
    }, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
