"""Goldens for lib/diarization/{linkage,clustering}.ts: scipy centroid linkage, fcluster, and pyannote's
AgglomerativeClustering (speaker-diarization-3.1 settings) on small synthetic embeddings.

scipy does the linkage, fcluster and cdist; `agglomerative_cluster` and `cluster_embeddings` below restate,
step by step, what pyannote.audio 3.3.2 `AgglomerativeClustering.cluster` and `BaseClustering.__call__`
(+ `assign_embeddings`, `set_num_clusters`) compute with metric="cosine", method="centroid",
max_num_embeddings=inf and constrained_assignment=False, followed by the pipeline's
`hard_clusters[inactive] = -2`.
pyannote sorts re-cut candidates with numpy's default (unstable) argsort; the script runs both that and a
stable sort and refuses to write a case where they disagree.

Embeddings are stored as integers q and a scale (value = float32(q * scale), the product taken in float64)
to keep the fixtures small; the scale is deliberately not a power of two, so that the float32 values use
their full mantissa and summation order shows in the results.

Dev-time only (pyannote.audio itself is not needed); writes
tests/fixtures/clustering/{linkage,cluster,pipeline}.json:

    python3 -m venv /tmp/refenv && /tmp/refenv/bin/pip install numpy==2.4.6 scipy==1.17.1
    /tmp/refenv/bin/python scripts/reference/make_clustering_goldens.py
"""

import json
import pathlib

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import cdist

THRESHOLD = 0.7045654963945799
MIN_CLUSTER_SIZE = 12
OUT = pathlib.Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "clustering"


def agglomerative_cluster(embeddings, min_clusters, max_clusters, num_clusters, threshold, mcs_param, kind):
    n = embeddings.shape[0]
    mcs = min(mcs_param, max(1, round(0.1 * n)))
    if n == 1:
        return np.zeros((1,), dtype=np.int64)
    x = embeddings.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        x /= np.linalg.norm(x, axis=-1, keepdims=True)
    z = linkage(x, method="centroid", metric="euclidean")
    clusters = fcluster(z, threshold, criterion="distance") - 1
    uniq, counts = np.unique(clusters, return_counts=True)
    large = uniq[counts >= mcs]
    num_large = len(large)
    if num_large < min_clusters:
        num_clusters = min_clusters
    elif num_large > max_clusters:
        num_clusters = max_clusters
    if num_clusters is not None and num_large != num_clusters:
        by_row = z.copy()
        by_row[:, 2] = np.arange(n - 1)
        best_row, best_large = n - 1, 1
        for row in np.argsort(np.abs(z[:, 2] - threshold), kind=kind):
            if by_row[row, 3] < mcs:
                continue
            clusters = fcluster(by_row, row, criterion="distance") - 1
            uniq, counts = np.unique(clusters, return_counts=True)
            large = uniq[counts >= mcs]
            num_large = len(large)
            if abs(num_large - num_clusters) < abs(best_large - num_clusters):
                best_row, best_large = row, num_large
            if num_large == num_clusters:
                break
        if best_large != num_clusters:
            clusters = fcluster(by_row, best_row, criterion="distance") - 1
            uniq, counts = np.unique(clusters, return_counts=True)
            large = uniq[counts >= mcs]
            num_large = len(large)
    if num_large == 0:
        clusters[:] = 0
        return clusters
    small = uniq[counts < mcs]
    if len(small) == 0:
        return clusters
    large_c = np.vstack([np.mean(x[clusters == k], axis=0) for k in large])
    small_c = np.vstack([np.mean(x[clusters == k], axis=0) for k in small])
    nearest = np.argmin(cdist(large_c, small_c, metric="cosine"), axis=0)
    for s, l in enumerate(nearest):
        clusters[clusters == small[s]] = large[l]
    _, clusters = np.unique(clusters, return_inverse=True)
    return clusters


def cluster_embeddings(embeddings, active, num_clusters, min_clusters, max_clusters, threshold, mcs, kind):
    chunks, speakers, _ = embeddings.shape
    chunk_idx, speaker_idx = np.where(active)
    train = embeddings[chunk_idx, speaker_idx]
    n = train.shape[0]
    lo = max(1, min(n, num_clusters or min_clusters or 1))
    hi = max(1, min(n, num_clusters or max_clusters or n))
    assert lo <= hi
    if lo == hi:
        num_clusters = lo
    if hi < 2:
        hard = np.zeros((chunks, speakers), dtype=np.int64)
        centroids = np.mean(train, axis=0, keepdims=True)
    else:
        labels = agglomerative_cluster(train, lo, hi, num_clusters, threshold, mcs, kind)
        k = np.max(labels) + 1
        centroids = np.vstack([np.mean(train[labels == c], axis=0) for c in range(k)])
        dist = cdist(embeddings.reshape(chunks * speakers, -1), centroids, metric="cosine")
        hard = np.argmax(2 - dist, axis=1).reshape(chunks, speakers)
    hard[~active] = -2
    return hard, centroids


def blobs(rng, sizes, dim, spread, noise, scale_bits=6, groups=None):
    """Integer-quantised Gaussian blobs in shuffled order; returns (q int array, scale).

    `groups` (one entry per blob) puts blobs sharing a group around a common centre, so that the tree has
    sub-clusters below the threshold's cut.
    """
    centers = rng.standard_normal((len(sizes), dim)) * spread
    if groups is not None:
        supers = rng.standard_normal((max(groups) + 1, dim)) * spread
        centers = supers[groups] + centers * 0.3
    x = np.vstack([c + rng.standard_normal((s, dim)) * noise for c, s in zip(centers, sizes)])
    x = x[rng.permutation(len(x))]
    scale = step(scale_bits)
    return np.round(x / scale).astype(np.int64), scale


def step(bits):
    return 2.0**-bits * 1.0123456789


def f32(q, scale):
    return (q.astype(np.float64) * scale).astype(np.float32)


def floats(a):
    return [float(v) for v in np.asarray(a, dtype=np.float64).ravel()]


def floats32(a):
    """Shortest decimal per float32 value that still reads back exactly through a float64 parse."""
    out = []
    for v in np.asarray(a, dtype=np.float32).ravel():
        text = np.format_float_positional(v, unique=True, trim="-")
        out.append(float(text) if np.float32(float(text)) == v else float(v))
    return out


def ints(a):
    return [int(v) for v in np.asarray(a).ravel()]


def linkage_json(z):
    return {"children": ints(z[:, :2]), "heights": floats(z[:, 2]), "sizes": ints(z[:, 3])}


def linkage_cases(rng):
    cases = []

    def add(name, points, thresholds):
        z = linkage(points, method="centroid", metric="euclidean")
        cases.append({
            "name": name, "n": points.shape[0], "dim": points.shape[1], "points": floats(points),
            **linkage_json(z),
            "cuts": [{"t": float(t), "labels": ints(fcluster(z, t, criterion="distance"))}
                     for t in thresholds],
        })

    grid = np.array([[i, j] for i in range(6) for j in range(5)], dtype=np.float64)
    add("integer grid (many exact ties)", grid, [0.5, 1.0, 1.5, 2.0])
    line = np.arange(40, dtype=np.float64).reshape(-1, 1)
    add("equally spaced line", line, [1.0, 3.0, 10.0])
    dup = np.repeat(rng.integers(-3, 4, size=(12, 3)).astype(np.float64), 4, axis=0)[rng.permutation(48)]
    add("duplicated points", dup, [0.0, 1.0, 2.5])
    pts = rng.standard_normal((100, 8))
    z = linkage(pts, method="centroid")
    add("random 100 x 8 float64", pts, [0.5, float(z[80, 2]), float(np.nextafter(z[80, 2], -np.inf))])
    add("two points", np.array([[0.0, 1.0], [3.0, 5.0]]), [4.9, 5.0])
    return cases


def exactly(k):
    """Options as BaseClustering.set_num_clusters resolves a known number of clusters."""
    return {"numClusters": k, "minClusters": k, "maxClusters": k}


def cluster_cases(rng):
    """agglomerativeCluster inputs, each with the linkage of its normalised rows and several option sets."""
    cases = []

    def add(name, q, scale, runs, normalized=False):
        x = f32(q, scale)
        n, dim = x.shape
        case = {"name": name, "n": n, "dim": dim, "scale": scale, "q": ints(q), "runs": []}
        if n > 1:
            unit = x.copy()
            unit /= np.linalg.norm(unit, axis=-1, keepdims=True)
            z = linkage(unit, method="centroid", metric="euclidean")
            case.update(linkage_json(z))
            if normalized:
                case["normalized"] = floats32(unit)
        for run_name, options in runs:
            opts = {"minClusters": 1, "maxClusters": n, "numClusters": None, "threshold": THRESHOLD,
                    "minClusterSize": MIN_CLUSTER_SIZE, **options}
            if callable(opts["threshold"]):
                opts["threshold"] = opts["threshold"](np.array(case["heights"]))
            args = (x, opts["minClusters"], opts["maxClusters"], opts["numClusters"], opts["threshold"],
                    opts["minClusterSize"])
            labels = agglomerative_cluster(*args, "stable")
            assert np.array_equal(labels, agglomerative_cluster(*args, "quicksort")), (name, run_name)
            run = {"name": run_name, "options": {k: v for k, v in opts.items() if v is not None},
                   "labels": ints(labels)}
            if n > 1:
                run["thresholdLabels"] = ints(fcluster(z, opts["threshold"], criterion="distance"))
            case["runs"].append(run)
        cases.append(case)

    default = [("3.1 settings", {})]
    q, s = blobs(rng, [40, 45, 35], 16, 1.0, 0.12)
    add("3 separated blobs", q, s, default)
    q, s = blobs(rng, [50, 40, 30, 3, 2, 2, 1], 16, 1.0, 0.12)
    add("3 blobs + small outlier groups", q, s, default)

    def nearest_height(h):
        return float(h[np.argmin(np.abs(h - THRESHOLD))])

    q, s = blobs(rng, [30, 30, 30, 30], 16, 0.35, 0.15)
    add("overlapping blobs", q, s, [
        ("3.1 settings", {}),
        ("threshold equal to a merge height", {"threshold": nearest_height}),
        ("threshold just below a merge height",
         {"threshold": lambda h: float(np.nextafter(nearest_height(h), -np.inf))}),
    ])
    dup = np.repeat(rng.integers(-20, 21, size=(15, 8)), 4, axis=0)[rng.permutation(60)]
    add("duplicate embeddings (zero-distance ties)", dup, step(4), [
        ("min cluster size 3", {"minClusterSize": 3}),
        ("numClusters=5 (re-cut among tied heights)", {"minClusterSize": 3, **exactly(5)}),
    ])
    q, s = blobs(rng, [18, 18, 18, 18, 18], 16, 1.0, 0.06, groups=[0, 0, 1, 1, 2])
    add("5 sub-blobs in 3 groups", q, s, [
        ("3.1 settings", {}),
        ("numClusters=5 (more than the threshold gives)", exactly(5)),
        ("numClusters=2 (fewer than the threshold gives)", exactly(2)),
        ("minClusters=4", {"minClusters": 4}),
        ("maxClusters=2", {"maxClusters": 2}),
        ("numClusters=9 unreachable (closest count kept)", exactly(9)),
    ])
    # An unreachable target where two rows tie for the closest count: the first one visited must win.
    local = np.random.default_rng(27)
    k = local.integers(2, 6)
    sizes = list(local.integers(5, 30, size=k))
    q, s = blobs(local, sizes, 16, 1.0, local.uniform(0.05, 0.3), groups=list(local.integers(0, 2, size=k)))
    add("2 blobs, 32 points", q, s, [("numClusters=4 unreachable (first closest row kept)", exactly(4))])
    # Python rounds 0.1 * n half to even: 25 -> 2, 45 -> 4, while 35 -> 4 (3.5000000000000004), 15 -> 2.
    for sizes in ([9, 5, 1], [15, 8, 2], [20, 12, 3], [25, 16, 4]):
        q, s = blobs(rng, sizes, 16, 1.0, 0.1)
        add(f"short input n={sum(sizes)}, groups {sizes}", q, s, default)
    q, s = blobs(rng, [50], 16, 1.0, 0.05)
    add("one tight blob", q, s, default)
    q, s = blobs(rng, [1] * 30, 32, 1.0, 0.0)
    add("scattered points, no large cluster", q, s, [("min cluster size 3", {"minClusterSize": 3})])
    add("n=1", np.array([[3, -1, 4, 1, -5, 9, 2, -6]]), step(3), [("max 1", {"maxClusters": 1})])
    add("n=2", np.array([[3, -1, 4, 1, -5, 9, 2, -6], [2, 7, -1, 8, 2, -8, 1, 8]]), step(3),
        [("max 2", {"maxClusters": 2})])
    q, s = blobs(rng, [20, 18, 14, 8], 256, 1.0, 0.55, scale_bits=4)
    add("256-d, 4 speakers", q, s, [("3.1 settings", {}), ("numClusters=3", exactly(3))])
    q, s = blobs(rng, [2, 2], 256, 1.0, 0.5, scale_bits=4)
    add("256-d, n=4", q, s, default, normalized=True)
    return cases


def pipeline_cases(rng):
    """clusterEmbeddings inputs (inactive rows zero), each with several option sets."""
    cases = []

    def add(name, chunks, speakers, q, s, active, runs):
        q = np.where(active.reshape(-1, 1), q.reshape(chunks * speakers, -1), 0)
        x = f32(q, s).reshape(chunks, speakers, -1)
        case = {"name": name, "numChunks": chunks, "numSpeakers": speakers, "dim": x.shape[2], "scale": s,
                "q": ints(q), "active": ints(active), "runs": []}
        for run_name, options in runs:
            opts = {"numClusters": None, "minClusters": None, "maxClusters": None, "threshold": THRESHOLD,
                    "minClusterSize": MIN_CLUSTER_SIZE, **options}
            args = (x, active, opts["numClusters"], opts["minClusters"], opts["maxClusters"],
                    opts["threshold"], opts["minClusterSize"])
            hard, centroids = cluster_embeddings(*args, "stable")
            assert np.array_equal(hard, cluster_embeddings(*args, "quicksort")[0]), (name, run_name)
            case["runs"].append({
                "name": run_name,
                # JSON has no Infinity literal: the test reads the string back as a number.
                "options": {k: "Infinity" if v == float("inf") else v
                            for k, v in opts.items() if v is not None},
                "hardClusters": ints(hard), "centroids": floats32(centroids),
                "numClusters": centroids.shape[0],
            })
        cases.append(case)

    q, s = blobs(rng, [60] * 3, 24, 1.0, 0.35, scale_bits=5)
    add("60 chunks x 3, 24-d", 60, 3, q, s, rng.random((60, 3)) < 0.6, [
        ("3.1 settings", {}),
        ("numClusters=2", {"numClusters": 2}),
        ("maxClusters=1 shortcut", {"maxClusters": 1}),
        ("minClusters=4, maxClusters=6", {"minClusters": 4, "maxClusters": 6}),
        ("minClusters=2, maxClusters=Infinity", {"minClusters": 2, "maxClusters": float("inf")}),
    ])
    active = np.zeros((4, 3), dtype=bool)
    active[2, 1] = True
    q, s = blobs(rng, [12], 24, 1.0, 0.3, scale_bits=5)
    add("single active embedding", 4, 3, q, s, active, [("3.1 settings", {})])
    q, s = blobs(rng, [16, 16, 16], 256, 1.0, 0.5, scale_bits=4)
    add("16 chunks x 3, 256-d", 16, 3, q, s, rng.random((16, 3)) < 0.85, [("3.1 settings", {})])
    return cases


def main():
    rng = np.random.default_rng(20240531)
    OUT.mkdir(parents=True, exist_ok=True)
    for name, cases in (("linkage", linkage_cases(rng)), ("cluster", cluster_cases(rng)),
                        ("pipeline", pipeline_cases(rng))):
        (OUT / f"{name}.json").write_text(json.dumps({"cases": cases}, separators=(",", ":")) + "\n")
        print(name, len(cases), "cases", (OUT / f"{name}.json").stat().st_size, "bytes")


if __name__ == "__main__":
    main()
