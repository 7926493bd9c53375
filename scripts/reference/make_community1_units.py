"""Unit goldens for the pieces of the community-1 clustering (tests/community1_units.test.ts), from the
libraries pyannote.audio 4 uses: numpy 2.4.6 (RandomState, np.save/np.savez), scikit-learn 1.9.1 (KMeans),
scipy 1.17.1 (eigh) and pyannote.audio 4.0.7 (PLDA, cluster_vbx). In the venv of
make_community1_goldens.py, from the repository root:

    deno run -A scripts/generate_pipeline.ts /tmp/community1
    /work/venvs/c1/bin/python scripts/reference/make_community1_units.py /tmp/community1

writes tests/fixtures/community1/units.json and tests/fixtures/community1/npy/*.{npy,npz}:

- random_state: numpy's MT19937 stream for seed 42 (raw 32-bit words after a full regeneration,
  random_sample, uniform and choice draws);
- kmeans: KMeans(n_clusters, n_init=3, random_state=42).fit_predict on float32 data (clustered and
  uniform, n from 5 to 600 so that more than one 256-sample chunk is used, k from 1 to 8, exact
  duplicates), labels and inertia;
- plda: PLDA features and phi for the generated PLDA files (scripts/generate_pipeline.ts, DIR below) as
  they are (float64), with mean1 cast to float32 (numpy then keeps `x - mean1` in float32), and with
  every array cast to float32;
- vbx: cluster_vbx on random features (responsibilities, priors).

The data of the kmeans, plda and vbx cases is not stored: it is drawn from RandomState(seed) one double
at a time and shaped with +, - and * only, which the tests repeat with their own RandomState.
- npy/: arrays written by numpy itself: np.save (C and Fortran order, big-endian, format 2.0, 0-d,
  empty), np.savez and np.savez_compressed archives, and an object array (a pickle) that must be refused.
"""

import base64
import json
import pathlib
import sys
import tempfile

import numpy as np
from pyannote.audio.core.plda import PLDA
from pyannote.audio.utils.vbx import cluster_vbx
from sklearn.cluster import KMeans

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "community1"


def b64(array, dtype):
    return base64.b64encode(np.ascontiguousarray(array).astype(dtype).tobytes()).decode()


def random_state():
    rs = np.random.RandomState(42)
    samples = [float(v) for v in rs.random_sample(5)]
    uniforms = [float(v) for v in rs.uniform(size=3)]
    choices = [int(rs.choice(7, p=np.full(7, 1 / 7, dtype=np.float32) / np.float32(1))) for _ in range(20)]
    # The raw 32-bit words, past one regeneration of the 624-word state.
    words = [int(v) for v in np.random.RandomState(42)._bit_generator.random_raw(700)]
    return {"seed": 42, "samples": samples, "uniforms": uniforms, "choices7": choices, "words": words}


def draws(seed):
    """numpy's RandomState(seed) one double at a time (the tests rebuild the same data from the same stream)."""
    rs = np.random.RandomState(seed)
    return lambda: float(rs.random_sample())


def dataset(seed, kind, n, dim, k):
    """float32 data from uniforms only (+, -, * and a float32 rounding: the same in TypeScript)."""
    u = draws(seed)
    if kind == "uniform":
        x = [[u() * 2 - 1 for _ in range(dim)] for _ in range(n)]
    else:
        centres = [[(u() * 2 - 1) * 2 for _ in range(dim)] for _ in range(k)]
        x = []
        for _ in range(n):
            c = centres[int(u() * k)]
            x.append([c[d] + (u() + u() + u() - 1.5) * 0.5 for d in range(dim)])
        if kind == "duplicates":
            x[n // 2 :] = x[: n - n // 2]
    return np.array(x, dtype=np.float64).astype(np.float32)


KMEANS_SPECS = [
    ("uniform", 5, 2, 8),
    ("clustered", 40, 3, 16),
    ("clustered", 120, 4, 256),
    ("uniform", 90, 1, 32),
    ("clustered", 300, 5, 64),
    ("clustered", 600, 8, 32),
    ("duplicates", 30, 4, 8),
    ("uniform", 257, 6, 24),
]


def kmeans_cases():
    cases = []
    for seed, (kind, n, k, dim) in enumerate(KMEANS_SPECS):
        x = dataset(seed, kind, n, dim, k)
        model = KMeans(n_clusters=k, n_init=3, random_state=42, copy_x=False)
        labels = model.fit_predict(x.copy())
        cases.append(
            {
                "seed": seed,
                "kind": kind,
                "n": n,
                "k": k,
                "dim": dim,
                "labels": [int(v) for v in labels],
                "inertia": float(model.inertia_),
            }
        )
    return cases


def plda_cases(directory):
    u = draws(100)
    embeddings = np.array([[(u() * 2 - 1) * 0.3 + 0.1 for _ in range(256)] for _ in range(6)]).astype(np.float32)
    out = []
    # float64 files (as generated); mean1 alone in float32 (numpy then centres in float32); all float32.
    for variant in ("f8", "mean1_f4", "f4"):
        x = dict(np.load(directory / "plda" / "xvec_transform.npz"))
        p = dict(np.load(directory / "plda" / "plda.npz"))
        if variant == "mean1_f4":
            x["mean1"] = x["mean1"].astype(np.float32)
        if variant == "f4":
            x = {k: v.astype(np.float32) for k, v in x.items()}
            p = {k: v.astype(np.float32) for k, v in p.items()}
        npy = pathlib.Path(tempfile.mkdtemp())  # the tests rebuild these from the generated files
        np.savez(npy / f"xvec_transform_{variant}.npz", **x)
        np.savez(npy / f"plda_{variant}.npz", **p)
        plda = PLDA(npy / f"xvec_transform_{variant}.npz", npy / f"plda_{variant}.npz")
        out.append({"variant": variant, "seed": 100, "features": b64(plda(embeddings), "<f8"), "phi": b64(plda.phi, "<f8")})
    return out


VBX_SPECS = [(40, 16, 3, 0.07, 0.8), (200, 128, 9, 0.07, 0.8), (25, 8, 5, 0.3, 2.0)]


def vbx_cases():
    out = []
    for seed, (n, dim, k, fa, fb) in enumerate(VBX_SPECS, start=200):
        u = draws(seed)
        means = [[(u() * 2 - 1) * 4 for _ in range(dim)] for _ in range(3)]
        fea = []
        for _ in range(n):
            m = means[int(u() * 3)]
            fea.append([m[d] + (u() + u() + u() - 1.5) * 2 for d in range(dim)])
        fea = np.array(fea)
        phi = np.array(sorted((0.5 + u() * 30 for _ in range(dim)), reverse=True))
        init = np.array([j if j < k else int(u() * k) for j in range(n)])
        q, sp = cluster_vbx(init, fea, phi, Fa=fa, Fb=fb, maxIters=20)
        out.append({"seed": seed, "n": n, "dim": dim, "k": k, "Fa": fa, "Fb": fb, "gamma": b64(q, "<f8"), "pi": [float(v) for v in sp]})
    return out


def npy_files():
    npy = OUT / "npy"
    a = np.arange(12, dtype=np.float64).reshape(3, 4) / 7
    np.save(npy / "c_f8.npy", a)
    np.save(npy / "fortran_f4.npy", np.asfortranarray(a.astype(np.float32)))
    np.save(npy / "big_endian_f8.npy", a.astype(">f8"))
    np.save(npy / "scalar_f8.npy", np.float64(2.5))
    np.save(npy / "empty_f4.npy", np.zeros((0, 3), np.float32))
    with open(npy / "v2_f8.npy", "wb") as f:
        np.lib.format.write_array(f, a, version=(2, 0))
    np.save(npy / "object.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(npy / "int64.npy", np.arange(4))
    np.savez(npy / "stored.npz", first=a, second=a[0].astype(np.float32))
    np.savez_compressed(npy / "compressed.npz", first=a, second=a[0].astype(np.float32))
    return {"a": b64(a, "<f8")}


def main():
    directory = pathlib.Path(sys.argv[1])
    (OUT / "npy").mkdir(parents=True, exist_ok=True)
    units = {
        "randomState": random_state(),
        "kmeans": kmeans_cases(),
        "plda": plda_cases(directory),
        "vbx": vbx_cases(),
        "npy": npy_files(),
    }
    (OUT / "units.json").write_text(json.dumps(units, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
