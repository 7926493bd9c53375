"""Goldens for lib/diarization/global.ts: pyannote.audio 3.3.2's own `SpeakerDiarization.apply`, run from
end to end with its two networks replaced by generated arrays.

The pipeline is built as speaker-diarization-3.1 builds it (segmentation step 0.1, overlap excluded from
embeddings, centroid clustering with 3.1's threshold and min_cluster_size, min_duration_off 0) around a
segmentation-3.0-shaped PyanNet and a WeSpeaker ResNet34, both with random weights and never run:
`get_segmentations` returns generated hard powerset segmentations and `get_embeddings` generated
embeddings. Everything after them is pyannote's code: speaker count, clustering (re-cuts, small-cluster
merging, assignment), the max_speakers cap, reconstruction, turns, label renaming and centroids.

Scenarios: conversations of 4-8 speakers with turns, pauses and overlaps, cut into 10 s chunks every
second; each chunk's (up to 3) speakers are its local speakers in a random order; each (chunk, speaker)
embedding is its speaker's centre plus noise (some speakers close to each other, some rare, so that the
tree needs re-cuts and small clusters get merged); runs with and without num/min/max speakers; plus the
hand-made tie of tests/diarization_global.test.ts. numpy's argsort orders equal activations differently
on x86-64 (AVX2/AVX-512 sorting networks) and elsewhere (introsort), so every scenario runs three times in
child processes (AVX-512, AVX2, generic; see make_postprocess_goldens.py) and both outputs are recorded
where they differ. The clustering's re-cut also sorts with numpy's default argsort; a run whose re-cut
order has ties that a stable sort would break differently is refused (lib/diarization/clustering.ts uses
the stable order).

Embeddings are stored as int8 values (base64) times a scale, computed in float64 and rounded to float32;
only their first 32 dimensions are not zero (pyannote still sums all 256), which keeps the fixture small.
Centroids are stored as float32 (base64), first 32 dimensions.

Dev-time only (an x86-64 machine with AVX-512; torch is ~3 GB); writes tests/fixtures/pipeline/cases.json:

    python3 -m venv /tmp/pyannote33
    /tmp/pyannote33/bin/pip install pyannote.audio==3.3.2 torch==2.8.0 torchaudio==2.8.0 matplotlib
    /tmp/pyannote33/bin/python scripts/reference/make_pipeline_goldens.py

(pyannote.audio 3.3.2 needs a torchaudio that still has `AudioMetaData`, which 2.9 removed, and imports
matplotlib without requiring it; numpy 2.4.6 and scipy 1.17.1 came with it here.)
"""

import base64
import contextlib
import json
import os
import pathlib
import subprocess
import sys
import warnings

import numpy as np

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "pipeline" / "cases.json"
SAMPLE_RATE = 16000
FRAMES = 589
LOCAL = 3
DIM = 256
USED = 32  # embedding dimensions that are not zero: keeps the fixture small; pyannote sums all 256
THRESHOLD = 0.7045654963945799
MIN_CLUSTER_SIZE = 12
PATHS = {
    "avx512": "",
    "avx2": "X86_V4 AVX512_ICL AVX512_SPR",
    "generic": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR",
}
POWERSET = [(), (0,), (1,), (2,), (0, 1), (0, 2), (1, 2)]


# ---------------------------------------------------------------------------------------------
# scenarios


def conversation(rng, num_frames, num_speakers, rare):
    """Per whole-file frame, the set of true speakers: turns of 1-8 s, pauses, some overlap."""
    step = 270 / SAMPLE_RATE
    active = np.zeros((num_frames, num_speakers), dtype=bool)
    weights = np.ones(num_speakers)
    weights[list(rare)] = 0.08
    t = 0
    current = int(rng.integers(num_speakers))
    while t < num_frames:
        length = int(rng.uniform(1.0, 8.0) / step)
        active[t : t + length, current] = True
        if rng.random() < 0.3:  # someone talks over the end of the turn
            other = int(rng.choice(num_speakers, p=weights / weights.sum()))
            if other != current:
                a = t + max(0, length - int(rng.uniform(0.3, 2.0) / step))
                active[a : t + length + int(rng.uniform(0, 1.0) / step), other] = True
        t += length
        if rng.random() < 0.5:
            t += int(rng.uniform(0.2, 3.0) / step)
        p = weights.copy()
        p[current] = 0
        current = int(rng.choice(num_speakers, p=p / p.sum()))
    return active


def jittered(seg, rng, jitter):
    """Each turn's edges moved by up to `jitter` frames: chunks disagree a little, as a real model's do."""
    if jitter == 0:
        return seg
    out = np.zeros_like(seg)
    for k in range(seg.shape[1]):
        edges = np.flatnonzero(np.diff(np.concatenate([[0], seg[:, k].astype(np.int8), [0]])))
        for a, b in zip(edges[::2], edges[1::2]):
            a = max(0, a + int(rng.integers(-jitter, jitter + 1)))
            b = min(len(seg), b + int(rng.integers(-jitter, jitter + 1)))
            out[a:b, k] = True
    return out


def chunk_runs(active, num_chunks, chunk_start_frames, rng, jitter):
    """Per chunk, (powerset class, run length) pairs, and which true speaker each local slot holds."""
    runs, slots = [], []
    for c in range(num_chunks):
        seg = active[chunk_start_frames[c] : chunk_start_frames[c] + FRAMES]
        seg = jittered(np.pad(seg, ((0, FRAMES - len(seg)), (0, 0))), rng, jitter)
        present = [k for k in np.flatnonzero(seg.any(axis=0))]
        # At most 3 local speakers: the most active ones; segmentation-3.0 has at most 2 per frame.
        present = sorted(present, key=lambda k: -seg[:, k].sum())[:LOCAL]
        order = list(rng.permutation(len(present)))
        slot_of = {present[i]: int(j) for i, j in zip(range(len(present)), order)}
        classes = []
        for f in range(FRAMES):
            locals_ = sorted(slot_of[k] for k in present if seg[f, k])[:2]
            classes.append(POWERSET.index(tuple(locals_)))
        pairs = []
        for cls in classes:
            if pairs and pairs[-1][0] == cls:
                pairs[-1][1] += 1
            else:
                pairs.append([cls, 1])
        runs.append(pairs)
        slot = [-1] * LOCAL
        for k, j in slot_of.items():
            slot[j] = int(k)
        slots.append(slot)
    return runs, slots


def embeddings_for(rng, slots, num_speakers, spread, noise, drift):
    centres = rng.normal(size=(num_speakers, USED))
    for k in range(1, num_speakers):  # some speakers close to an earlier one
        if rng.random() < spread:
            centres[k] = centres[int(rng.integers(k))] + 0.6 * rng.normal(size=USED)
    # Drifting speakers sound like someone else in the second half: one speaker, two clusters, whose
    # activations tie where the chunks of both halves overlap.
    later = centres.copy()
    for k in drift:
        later[k] = rng.normal(size=USED)
    q = np.zeros((len(slots), LOCAL, USED), dtype=np.int8)
    for c, slot in enumerate(slots):
        for j, k in enumerate(slot):
            if k < 0:
                q[c, j] = rng.integers(-20, 21, size=USED)  # silent: never used
                continue
            v = (centres if c < len(slots) // 2 else later)[k] + noise * rng.normal(size=USED)
            q[c, j] = np.clip(np.round(v * 25), -127, 127).astype(np.int8)
    return q


def scenario(rng, name, num_speakers, num_chunks, runs_options, partial=0.0, spread=0.3, noise=0.4, rare=(),
             jitter=0, drift=()):
    num_samples = int((10 + (num_chunks - 1)) * SAMPLE_RATE - partial * SAMPLE_RATE)
    step_frames = 1.0 / (270 / SAMPLE_RATE)
    starts = [int(round(c * step_frames)) for c in range(num_chunks)]
    total = starts[-1] + FRAMES
    active = conversation(rng, total, num_speakers, rare)
    # Nothing after the end of the audio (the padding of a partial last chunk is silent).
    end_frame = int(num_samples / 270)
    active[end_frame:] = False
    runs, slots = chunk_runs(active, num_chunks, starts, rng, jitter)
    q = embeddings_for(rng, slots, num_speakers, spread, noise, drift)
    return {
        "name": name,
        "numSamples": num_samples,
        "numChunks": num_chunks,
        "chunks": runs,
        "scale": 0.04,
        "embeddings": base64.b64encode(q.tobytes()).decode(),
        "runs": runs_options,
    }


def tie_scenario():
    # tests/diarization_global.test.ts's hand-made tie: 2 chunks, 4 one-hot embeddings.
    def pairs(spans):
        classes = []
        for f in range(FRAMES):
            on = tuple(j for j, (a, b) in enumerate(spans) if a <= f < b)
            classes.append(POWERSET.index(on))
        out = []
        for cls in classes:
            if out and out[-1][0] == cls:
                out[-1][1] += 1
            else:
                out.append([cls, 1])
        return out

    q = np.zeros((2, LOCAL, USED), dtype=np.int8)
    for i, (c, j) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        q[c, j, i] = 25
    return {
        "name": "tie-4-one-hot",
        "numSamples": 11 * SAMPLE_RATE,
        "numChunks": 2,
        "chunks": [pairs([(0, 200), (200, 400), (0, 0)]), pairs([(0, 400), (341, FRAMES), (0, 0)])],
        "scale": 0.04,
        "embeddings": base64.b64encode(q.tobytes()).decode(),
        "runs": [{}],
    }


def scenarios():
    rng = np.random.default_rng(20260718)
    out = [tie_scenario()]
    bounds = [{}, {"num_speakers": 2}, {"min_speakers": 6}, {"max_speakers": 3}, {"min_speakers": 2, "max_speakers": 4}]
    plan = [
        # name, speakers, chunks, extra
        ("four", 4, 40, {}),
        ("four-close", 4, 36, {"spread": 0.9}),
        ("five", 5, 48, {}),
        ("five-rare", 5, 44, {"rare": (4,)}),
        ("six", 6, 56, {}),
        ("six-noisy", 6, 50, {"noise": 0.6}),
        ("seven", 7, 60, {"rare": (5,)}),
        ("seven-partial", 7, 58, {"partial": 0.55}),
        ("eight", 8, 64, {}),
        ("eight-rare", 8, 62, {"rare": (6, 7)}),
        ("eight-close-partial", 8, 60, {"spread": 0.8, "partial": 0.3}),
        ("six-short", 6, 14, {}),
        ("four-jitter-drift", 4, 40, {"jitter": 12, "drift": (0, 1)}),
        ("five-jitter-drift", 5, 46, {"jitter": 20, "drift": (0, 2, 3)}),
        ("six-jitter-drift", 6, 52, {"jitter": 15, "drift": (1, 2, 4)}),
        ("seven-jitter-drift", 7, 56, {"jitter": 25, "drift": (0, 1, 2, 3)}),
        ("eight-jitter-drift", 8, 60, {"jitter": 18, "drift": (0, 2, 4, 6)}),
        ("eight-clear-jitter", 8, 72, {"noise": 0.3, "spread": 0.0, "jitter": 10, "drift": (2,)}),
        ("eight-jitter-partial", 8, 58, {"jitter": 30, "drift": (1, 3, 5, 7), "partial": 0.45}),
    ]
    for name, k, n, extra in plan:
        runs = [{}] + [dict(b) for b in bounds[1:]]
        runs.append({"num_speakers": k})
        out.append(scenario(rng, name, k, n, runs, **extra))
    return out


# ---------------------------------------------------------------------------------------------
# pyannote


def pipeline():
    import torch
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.embedding import WeSpeakerResNet34
    from pyannote.audio.models.segmentation import PyanNet
    from pyannote.audio.pipelines import SpeakerDiarization

    torch.manual_seed(0)
    segmentation = PyanNet(
        sincnet={"stride": 10},
        lstm={"hidden_size": 128, "num_layers": 4, "bidirectional": True, "monolithic": True, "dropout": 0.0},
        linear={"hidden_size": 128, "num_layers": 2},
    )
    segmentation.specifications = Specifications(
        problem=Problem.MONO_LABEL_CLASSIFICATION,
        resolution=Resolution.FRAME,
        duration=10.0,
        warm_up=(0.0, 0.0),
        classes=["speaker#1", "speaker#2", "speaker#3"],
        powerset_max_classes=2,
        permutation_invariant=True,
    )
    segmentation.build()
    segmentation.eval()
    rf = segmentation.receptive_field
    assert (rf.start, rf.duration, rf.step) == (0.0, 991 / SAMPLE_RATE, 270 / SAMPLE_RATE), rf
    pipe = SpeakerDiarization(segmentation=segmentation, embedding=WeSpeakerResNet34(), embedding_exclude_overlap=True,
                              clustering="AgglomerativeClustering")
    pipe.instantiate({
        "segmentation": {"min_duration_off": 0.0},
        "clustering": {"method": "centroid", "min_cluster_size": MIN_CLUSTER_SIZE, "threshold": THRESHOLD},
    })
    return pipe


def decode(case):
    table = np.array([[1.0 if k in members else 0.0 for k in range(LOCAL)] for members in POWERSET], dtype=np.float32)
    classes = np.array([[cls for cls, n in pairs for _ in range(n)] for pairs in case["chunks"]])
    binarized = table[classes]
    q = np.frombuffer(base64.b64decode(case["embeddings"]), dtype=np.int8).reshape(case["numChunks"], LOCAL, USED)
    embeddings = np.zeros((case["numChunks"], LOCAL, DIM), dtype=np.float32)
    embeddings[:, :, :USED] = (q.astype(np.float64) * case["scale"]).astype(np.float32)
    return binarized, embeddings


def check_recut_order():
    """Refuses a run whose re-cut visits rows at equal |height - threshold| in another order than a stable sort."""
    original = np.argsort

    def checked(a, *args, **kwargs):
        out = original(a, *args, **kwargs)
        caller = sys._getframe(1).f_code
        if caller.co_name == "cluster" and caller.co_filename.endswith("clustering.py"):
            if not np.array_equal(out, original(a, kind="stable")):
                raise RuntimeError("re-cut candidates tie at equal distance from the threshold")
        return out

    np.argsort = checked
    return lambda: setattr(np, "argsort", original)


def centroid_rows(centroids):
    """float32 rows as base64; every dimension past USED must be zero."""
    c = np.asarray(centroids, dtype=np.float32)
    assert not c[:, USED:].any()
    return [base64.b64encode(row[:USED].tobytes()).decode() for row in c]


def run_case(pipe, case):
    from pyannote.core import SlidingWindow, SlidingWindowFeature

    binarized, embeddings = decode(case)
    chunks = SlidingWindow(start=0.0, duration=10.0, step=1.0)
    pipe.get_segmentations = lambda file, hook=None: SlidingWindowFeature(binarized, chunks)

    def get_embeddings(file, binary_segmentations, exclude_overlap=False, hook=None):
        assert exclude_overlap and binary_segmentations.data is binarized
        return embeddings.copy()

    pipe.get_embeddings = get_embeddings
    import torch

    file = {"uri": case["name"], "waveform": torch.zeros(1, case["numSamples"]), "sample_rate": SAMPLE_RATE}
    results = []
    for options in case["runs"]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            diarization, centroids = pipe.apply(file, return_embeddings=True, **options)
        segments = [[label, seg.start, seg.end] for seg, _, label in diarization.itertracks(yield_label=True)]
        labels = list(diarization.labels())
        results.append({
            "options": options,
            "segments": segments,
            "labels": labels,
            "centroids": centroid_rows(centroids),
        })
    return results


def child(path):
    import numpy

    rows = numpy.random.default_rng(7).integers(0, 3, size=(4000, 8)).astype(numpy.float32)
    stable = numpy.array_equal(numpy.argsort(-rows, axis=-1), numpy.argsort(-rows, axis=-1, kind="stable"))
    if stable != (path == "generic"):
        sys.exit(f"numpy did not take the {path} argsort path (CPU without AVX-512?)")
    pipe = pipeline()
    restore = check_recut_order()
    out = []
    # pyannote prints to stdout when a re-cut misses its target: keep stdout for the result.
    with contextlib.redirect_stdout(sys.stderr):
        for case in scenarios():
            try:
                out.append(run_case(pipe, case))
            except RuntimeError as err:
                out.append(str(err))
    restore()
    json.dump(out, sys.stdout)


def main():
    got = {}
    for path, disabled in PATHS.items():
        env = dict(os.environ, NPY_DISABLE_CPU_FEATURES=disabled, PYTHONWARNINGS="ignore")
        run = subprocess.run([sys.executable, __file__, "--child", path], env=env, check=True, capture_output=True,
                             text=True)
        got[path] = json.loads(run.stdout)
    assert got["avx2"] == got["avx512"], "numpy's AVX2 and AVX-512 argsort disagree: record both"
    cases = []
    differing = 0
    for case, x86, generic in zip(scenarios(), got["avx512"], got["generic"]):
        if isinstance(x86, str) or isinstance(generic, str):
            print(f"skipped {case['name']}: {x86 if isinstance(x86, str) else generic}", file=sys.stderr)
            continue
        case["runs"] = []
        for a, b in zip(x86, generic):
            run = {"options": b["options"], "generic": {k: b[k] for k in ("segments", "labels", "centroids")}}
            if a != b:
                run["x86"] = {k: a[k] for k in ("segments", "labels", "centroids")}
                differing += 1
            case["runs"].append(run)
        cases.append(case)
    runs = sum(len(c["runs"]) for c in cases)
    print(f"{len(cases)} scenarios, {runs} runs, {differing} differ between numpy's argsort paths", file=sys.stderr)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({
        "pyannote.audio": __import__("pyannote.audio").audio.__version__,
        "numpy": np.__version__,
        "threshold": THRESHOLD,
        "minClusterSize": MIN_CLUSTER_SIZE,
        "cases": cases,
    }, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        main()
