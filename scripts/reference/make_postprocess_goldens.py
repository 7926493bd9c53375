"""Goldens for lib/diarization/ (frame-level post-processing of pyannote speaker-diarization-3.1).

Re-states in numpy, step by step, what pyannote.audio 3.3.2 does after segmentation and clustering
(`Inference.trim` / `Inference.aggregate`, `speaker_count`, the `max_speakers` cap, marking silent local
speakers -2, `reconstruct` / `to_diarization`, `Binarize` + `to_annotation`, and the exclusive
diarization of pyannote 4.x: the same with the count capped at 1), on top of pyannote.core's own
`SlidingWindow`, `SlidingWindowFeature`, `Segment` and `Annotation` (support, rename_tracks,
itertracks, labels), for randomly generated binarized segmentations and hard clusters.

`to_diarization` ranks clusters with `np.argsort(-activations)` (default kind), whose order of equal
activations differs between numpy's generic introsort (arm64, x86 without AVX2) and the x86-simd-sort
networks (x86-64 with AVX2 / AVX-512). The script therefore runs its computations three times in child
processes: as is (AVX-512), with `NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL AVX512_SPR"` (AVX2) and
with `X86_V3` disabled as well (generic), checks that each child took the intended path, that AVX2 and
AVX-512 agree, and records both orders. It needs an x86-64 machine with AVX-512.

Writes tests/fixtures/postprocess/{cases,argsort}.json. Dev-time only:

    python3 -m venv /tmp/refenv
    /tmp/refenv/bin/pip install numpy==2.4.6 pyannote.core==6.1.0
    /tmp/refenv/bin/python scripts/reference/make_postprocess_goldens.py
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
from pyannote.core import Annotation, Segment, SlidingWindow, SlidingWindowFeature

OUT_DIR = pathlib.Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "postprocess"

SAMPLE_RATE = 16000
KERNELS = [251, 3, 5, 3, 5, 3]
STRIDES = [10, 3, 1, 3, 1, 3]
CHUNK_DURATION = 10.0
LOCAL_SPEAKERS = 3

# NPY_DISABLE_CPU_FEATURES values selecting each numpy argsort path on an AVX-512 machine.
PATHS = {
    "avx512": "",
    "avx2": "X86_V4 AVX512_ICL AVX512_SPR",
    "generic": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR",
}


# ---------------------------------------------------------------------------------------------
# model frames


def conv_frames(num_samples):
    n = num_samples
    for k, s in zip(KERNELS, STRIDES):
        n = (n - k) // s + 1
    return n


def receptive_field():
    def size(n):
        for k, s in zip(reversed(KERNELS), reversed(STRIDES)):
            n = k + (n - 1) * s
        return n

    center = 0
    for k, s in zip(reversed(KERNELS), reversed(STRIDES)):
        center = center * s + (k - 1) // 2
    one = size(1)
    return SlidingWindow(
        start=(center - (one - 1) / 2) / SAMPLE_RATE,
        duration=one / SAMPLE_RATE,
        step=(size(2) - one) / SAMPLE_RATE,
    )


# ---------------------------------------------------------------------------------------------
# pyannote.audio 3.3.2 post-processing, re-stated


def powerset_table(num_classes=3, max_set_size=2):
    import itertools

    rows = []
    for size in range(max_set_size + 1):
        for members in itertools.combinations(range(num_classes), size):
            row = [0] * num_classes
            for m in members:
                row[m] = 1
            rows.append(row)
    return np.array(rows, dtype=np.float32)


def trim_no_warm_up(scores):
    # Inference.trim with warm_up=(0, 0): every frame kept, window rebuilt with the same arithmetic.
    chunks = scores.sliding_window
    n = scores.data.shape[1]
    left, right = round(n * 0.0), round(n * 0.0)
    window = SlidingWindow(
        start=chunks.start + 0.0 * chunks.duration,
        step=chunks.step,
        duration=(1 - 0.0 - 0.0) * chunks.duration,
    )
    return SlidingWindowFeature(scores.data[:, left : n - right], window)


def overlap_add(scores, frames, skip_average, missing=0.0):
    # Inference.aggregate without Hamming window or warm-up: float32 accumulators fed float64 products.
    num_chunks, per_chunk, num_classes = scores.data.shape
    chunks = scores.sliding_window
    grid = SlidingWindow(start=chunks.start, duration=frames.duration, step=frames.step)
    num_frames = (
        grid.closest_frame(
            chunks.start + chunks.duration + (num_chunks - 1) * chunks.step + 0.5 * frames.duration
        )
        + 1
    )
    weights = np.ones((per_chunk, 1))
    total = np.zeros((num_frames, num_classes), dtype=np.float32)
    covered = np.zeros((num_frames, num_classes), dtype=np.float32)
    seen = np.zeros((num_frames, num_classes), dtype=np.float32)
    for chunk, score in scores:
        valid = 1 - np.isnan(score)
        score = np.nan_to_num(score, nan=0.0)
        first = grid.closest_frame(chunk.start + 0.5 * frames.duration)
        total[first : first + per_chunk] += score * valid * weights * weights
        covered[first : first + per_chunk] += valid * weights * weights
        seen[first : first + per_chunk] = np.maximum(seen[first : first + per_chunk], valid)
    out = total if skip_average else total / np.maximum(covered, 1e-12)
    out[seen == 0.0] = missing
    return SlidingWindowFeature(out, grid)


def count_speakers(binarized, frames):
    trimmed = trim_no_warm_up(binarized)
    summed = np.sum(trimmed, axis=-1, keepdims=True)
    count = overlap_add(summed, frames, skip_average=False)
    count.data = np.rint(count.data).astype(np.uint8)
    return count


def cluster_segmentations(segmentations, hard_clusters):
    num_chunks, num_frames, _ = segmentations.data.shape
    num_clusters = np.max(hard_clusters) + 1
    out = np.nan * np.zeros((num_chunks, num_frames, num_clusters))
    for c, (assigned, (_, seg)) in enumerate(zip(hard_clusters, segmentations)):
        for k in np.unique(assigned):
            if k == -2:
                continue
            out[c, :, k] = np.max(seg[:, assigned == k], axis=1)
    return SlidingWindowFeature(out, segmentations.sliding_window)


def discrete_diarization(segmentations, hard_clusters, count):
    clustered = cluster_segmentations(segmentations, hard_clusters)
    activations = overlap_add(clustered, count.sliding_window, skip_average=True)
    _, num_clusters = activations.data.shape
    most = np.max(count.data)
    if num_clusters < most:
        activations.data = np.pad(activations.data, ((0, 0), (0, most - num_clusters)))
    extent = activations.extent & count.extent
    activations = activations.crop(extent, return_data=False)
    count = count.crop(extent, return_data=False)
    ranked = np.argsort(-activations, axis=-1)
    binary = np.zeros_like(activations.data)
    for t, ((_, c), speakers) in enumerate(zip(count, ranked)):
        for i in range(c.item()):
            binary[t, speakers[i]] = 1.0
    return SlidingWindowFeature(binary, activations.sliding_window)


def to_annotation(discrete, min_duration_off):
    # Binarize(onset=0.5, offset=0.5, min_duration_on=0, min_duration_off), then rename_tracks.
    num_frames, num_classes = discrete.data.shape
    frames = discrete.sliding_window
    stamps = [frames[i].middle for i in range(num_frames)]
    active = Annotation()
    for k in range(num_classes):
        y = discrete.data[:, k]
        start, on = stamps[0], y[0] > 0.5
        for t, v in zip(stamps[1:], y[1:]):
            if on and v < 0.5:
                active[Segment(start, t), k] = k
                start, on = t, False
            elif not on and v > 0.5:
                start, on = t, True
        if on:
            active[Segment(start, stamps[-1]), k] = k
    if min_duration_off > 0.0:
        active = active.support(collar=min_duration_off)
    return active.rename_tracks(generator="string")


def annotation_rows(annotation):
    rows = [[int(label), seg.start, seg.end] for seg, _, label in annotation.itertracks(yield_label=True)]
    return rows, [int(label) for label in annotation.labels()]


def runs(discrete):
    # Per speaker, flattened [first, last + 1) frame runs of 1s.
    out = []
    for k in range(discrete.shape[1]):
        y = np.concatenate([[0], discrete[:, k].astype(np.int8), [0]])
        edges = np.flatnonzero(np.diff(y))
        out.append(edges.tolist())
    return out


# ---------------------------------------------------------------------------------------------
# inputs


def random_chunks(rng, num_chunks, mean_run, silent_tail=0):
    """Per chunk, (powerset class, run length) pairs covering the chunk's frames."""
    per_chunk = conv_frames(int(CHUNK_DURATION * SAMPLE_RATE))
    # Single speakers more often than silence, overlap least.
    probs = np.array([0.25, 0.2, 0.2, 0.15, 0.08, 0.06, 0.06])
    chunks = []
    for c in range(num_chunks):
        pairs, left = [], per_chunk
        tail = silent_tail if c == num_chunks - 1 else 0
        while left > tail:
            length = int(min(left - tail, max(1, rng.geometric(1.0 / mean_run))))
            pairs.append([int(rng.choice(7, p=probs)), length])
            left -= length
        if tail:
            pairs.append([0, tail])
        chunks.append(pairs)
    return chunks


def decode_chunks(chunks):
    table = powerset_table()
    classes = np.array([[cls for cls, n in pairs for _ in range(n)] for pairs in chunks])
    return table[classes]  # (chunks, frames, 3) float32, as pyannote's powerset output


def make_case(rng, name, num_chunks, step, num_clusters, max_speakers, min_duration_off, **kw):
    chunks = random_chunks(rng, num_chunks, kw.get("mean_run", 40), kw.get("silent_tail", 0))
    hard = rng.integers(0, num_clusters, size=(num_chunks, LOCAL_SPEAKERS))
    if kw.get("same_cluster"):
        # Two local speakers of a chunk in one cluster: its activity is their max.
        for c in range(0, num_chunks, 2):
            hard[c, 1] = hard[c, 0]
    if kw.get("explicit_none"):
        hard[rng.random(hard.shape) < 0.15] = -2
    if kw.get("single_cluster"):
        hard[:] = 0
    hard[0, 0] = num_clusters - 1  # the cluster count is as asked even if unlucky
    return {
        "name": name,
        "numChunks": num_chunks,
        "chunkStep": step,
        "maxSpeakers": max_speakers,
        "minDurationOff": min_duration_off,
        "chunks": chunks,
        "hardClusters": hard.astype(int).ravel().tolist(),
    }


CASES = [
    ("single-chunk", 1, 1.0, 2, None, 0.0, {}),
    ("last-chunk-padded", 14, 1.0, 3, None, 0.0, {"silent_tail": 170}),
    ("long-cap2-collar", 40, 1.0, 5, 2, 0.3, {"same_cluster": True}),
    ("step-2.5-collar", 9, 2.5, 4, None, 0.3, {}),
    ("many-clusters", 25, 1.0, 12, None, 0.0, {"mean_run": 25}),
    ("many-clusters-collar", 25, 1.0, 12, None, 0.3, {"mean_run": 25}),
    ("single-cluster-padded", 12, 1.0, 1, None, 0.0, {"single_cluster": True}),
    ("cap1", 10, 1.0, 3, 1, 0.0, {}),
    ("ties", 20, 1.0, 6, None, 0.0, {"same_cluster": True, "mean_run": 60}),
    ("explicit-none", 16, 1.0, 4, 3, 0.3, {"explicit_none": True}),
]


def binarize_cases(rng):
    """Discrete diarizations with many speakers sharing identical turns, to pin down track order."""
    out = []
    for name, collar in (("shared-turns", 0.0), ("shared-turns-collar", 0.3)):
        num_speakers, num_frames = 14, 1400
        data = np.zeros((num_frames, num_speakers), dtype=np.uint8)
        t = int(rng.integers(0, 3))
        while t < num_frames:
            length = int(rng.integers(5, 40))
            members = rng.random(num_speakers) < 0.45
            data[t : t + length, members] = 1
            t += length + int(rng.integers(1, 30))
        data[-1, 3] = 1  # a turn made of the last frame alone is empty
        data[-2:, 5] = 1
        out.append({"name": name, "minDurationOff": collar, "numFrames": num_frames,
                    "numSpeakers": num_speakers, "runs": runs(data)})
    return out


# ---------------------------------------------------------------------------------------------
# computations that depend on numpy's argsort path (run in children)

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+/"


def argsort_rows(rng):
    rows = []
    for n in range(2, 21):
        for _ in range(30):
            rows.append(rng.integers(0, int(rng.integers(2, 5)), size=n))
    for n in range(21, 65, 3):
        for _ in range(6):
            rows.append(rng.integers(0, 4, size=n))
    for n in (100, 180, 256):
        rows.append(rng.integers(0, 4, size=n))
        rows.append(rng.integers(0, 10, size=n))
    for n in (4, 9, 17, 40):
        rows.append(np.zeros(n, dtype=int))
        rows.append(np.sort(rng.integers(0, 3, size=n)))
        rows.append(np.sort(rng.integers(0, 3, size=n))[::-1].copy())
    return rows


def encode_perm(perm):
    if len(perm) <= len(ALPHABET):
        return "".join(ALPHABET[i] for i in perm)
    return [int(i) for i in perm]


def check_path(path):
    rng = np.random.default_rng(7)
    rows = rng.integers(0, 3, size=(4000, 8)).astype(np.float32)
    stable = np.array_equal(np.argsort(-rows, axis=-1), np.argsort(-rows, axis=-1, kind="stable"))
    if stable != (path == "generic"):
        sys.exit(f"numpy did not take the {path} argsort path (CPU without AVX-512?)")


def child(path):
    check_path(path)
    frames = receptive_field()
    rng = np.random.default_rng(20240601)
    results = []
    for name, num_chunks, step, num_clusters, max_speakers, collar, kw in CASES:
        case = make_case(rng, name, num_chunks, step, num_clusters, max_speakers, collar, **kw)
        binarized = SlidingWindowFeature(
            decode_chunks(case["chunks"]), SlidingWindow(start=0.0, duration=CHUNK_DURATION, step=step)
        )
        count = count_speakers(binarized, frames)
        raw_count = count.data[:, 0].copy()
        cap = np.inf if max_speakers is None else max_speakers
        count.data = np.minimum(count.data, cap).astype(np.int8)
        hard = np.array(case["hardClusters"]).reshape(num_chunks, LOCAL_SPEAKERS)
        hard[np.sum(binarized.data, axis=1) == 0] = -2
        discrete = discrete_diarization(binarized, hard, count)
        segments, labels = annotation_rows(to_annotation(discrete, collar))
        count.data = np.minimum(count.data, 1).astype(np.int8)
        exclusive = discrete_diarization(binarized, hard, count)
        exclusive_segments, exclusive_labels = annotation_rows(to_annotation(exclusive, collar))
        case.update({
            "numFrames": len(raw_count),
            "count": "".join(str(int(c)) for c in raw_count),
            "maskedClusters": hard.ravel().tolist(),
            "numSpeakers": discrete.data.shape[1],
            "discrete": runs(discrete.data),
            "segments": segments,
            "labels": labels,
            "exclusiveNumSpeakers": exclusive.data.shape[1],
            "exclusive": runs(exclusive.data),
            "exclusiveSegments": exclusive_segments,
            "exclusiveLabels": exclusive_labels,
        })
        results.append(case)

    binarize = []
    for case in binarize_cases(rng):
        data = np.zeros((case["numFrames"], case["numSpeakers"]))
        for k, edges in enumerate(case["runs"]):
            for a, b in zip(edges[::2], edges[1::2]):
                data[a:b, k] = 1
        swf = SlidingWindowFeature(data, SlidingWindow(start=0.0, duration=frames.duration, step=frames.step))
        case["segments"], case["labels"] = annotation_rows(to_annotation(swf, case["minDurationOff"]))
        binarize.append(case)

    rows = argsort_rows(rng)
    perms = [encode_perm(np.argsort(-row.astype(np.float32))) for row in rows]
    json.dump({"cases": results, "binarize": binarize, "rows": ["".join(map(str, r)) for r in rows],
               "perms": perms}, sys.stdout)


def run_child(path):
    env = dict(os.environ, NPY_DISABLE_CPU_FEATURES=PATHS[path])
    out = subprocess.run([sys.executable, __file__, "--child", path], env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout)


def main():
    frames = receptive_field()
    assert (frames.start, frames.duration, frames.step) == (0.0, 991 / 16000, 270 / 16000)
    assert conv_frames(160000) == 589

    got = {path: run_child(path) for path in PATHS}
    x86, avx2, generic = got["avx512"], got["avx2"], got["generic"]
    assert avx2 == x86, "numpy's AVX2 and AVX-512 argsort disagree: record both"
    same_inputs = ("chunks", "hardClusters", "count", "maskedClusters")
    for a, b in zip(x86["cases"], generic["cases"]):
        assert all(a[k] == b[k] for k in same_inputs)
    assert x86["binarize"] == generic["binarize"] and x86["rows"] == generic["rows"]

    cases = []
    for a, b in zip(generic["cases"], x86["cases"]):
        differs = {k: b[k] for k in ("discrete", "segments", "labels", "exclusive", "exclusiveSegments",
                                     "exclusiveLabels") if a[k] != b[k]}
        a["x86"] = differs
        columns = sum(ra != rb for ra, rb in zip(a["discrete"], b["discrete"]))
        print(f"{a['name']}: {a['numFrames']} frames, {a['numSpeakers']} speakers, "
              f"{len(a['segments'])} turns; x86 tie order changes {sorted(differs) or 'nothing'}"
              f" ({columns} speaker columns)")
        cases.append(a)

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    meta = {
        "generator": "scripts/reference/make_postprocess_goldens.py",
        "numpy": np.__version__,
        "frames": {"start": frames.start, "duration": frames.duration, "step": frames.step},
        "framesPerChunk": conv_frames(int(CHUNK_DURATION * SAMPLE_RATE)),
        "chunkDuration": CHUNK_DURATION,
        "powerset": powerset_table().astype(int).tolist(),
    }
    (OUT_DIR / "cases.json").write_text(
        json.dumps({**meta, "cases": cases, "binarize": generic["binarize"]}, separators=(",", ":"))
    )
    (OUT_DIR / "argsort.json").write_text(
        json.dumps({"numpy": np.__version__, "alphabet": ALPHABET, "rows": generic["rows"],
                    "generic": generic["perms"], "x86": x86["perms"]}, separators=(",", ":"))
    )
    differing = sum(p != q for p, q in zip(generic["perms"], x86["perms"]))
    print(f"argsort rows: {len(generic['rows'])}, generic vs x86 differ on {differing}")
    for f in ("cases.json", "argsort.json"):
        print(f, (OUT_DIR / f).stat().st_size, "bytes")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        main()
