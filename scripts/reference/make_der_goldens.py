"""Diarization error rate goldens from pyannote.metrics, for tests/der.test.ts.

Writes tests/fixtures/der/goldens.json: seeded random reference/hypothesis RTTM pairs (1 to 30
speakers, overlapping turns, a speaker overlapping itself, turns of a microsecond or less, times on a
millisecond grid or at full double precision, files missing from the hypothesis or with no reference
speech), each scored with and without collar (0 or 0.5 s), skip_overlap and a UEM, with
pyannote.metrics' DiarizationErrorRate components per file, the hypothesis -> reference mapping it
used and the accumulated (corpus) components. Also writes tests/fixtures/der/lsap.json, small cost
matrices full of ties with scipy.optimize.linear_sum_assignment's answer, and
tests/fixtures/der/format.json, turns with awkward times and the RTTM text pyannote.core writes.

Annotations are built as pyannote.database's load_rttm builds them (one track per RTTM line), with
Python's float() for the times.

From the repository root:

    python3 -m venv /tmp/refenv
    /tmp/refenv/bin/pip install numpy==2.4.6 scipy==1.17.1 pyannote.core==6.1.0 pyannote.metrics==4.2.0
    /tmp/refenv/bin/python scripts/reference/make_der_goldens.py
"""
import json
import os
import warnings

import numpy as np
from pyannote.core import Annotation, Segment, Timeline
from pyannote.core.utils.generators import string_generator
from pyannote.metrics.diarization import DiarizationErrorRate
from scipy.optimize import linear_sum_assignment

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "der")

# pyannote warns each time the UEM is approximated by the extents: that is the behaviour under test.
warnings.filterwarnings("ignore", message="'uem' was approximated")


def fmt(t, grid):
    return f"{t:.3f}" if grid else repr(float(t))


def rttm_lines(uri, turns, grid):
    return [
        f"SPEAKER {uri} 1 {fmt(s, grid)} {fmt(d, grid)} <NA> <NA> {spk} <NA> <NA>"
        for s, d, spk in turns
    ]


def load(lines):
    """{uri: Annotation} from RTTM lines, as load_rttm builds it but parsing times with float()."""
    out = {}
    for i, line in enumerate(lines):
        f = line.split()
        start, dur = float(f[3]), float(f[4])
        ann = out.setdefault(f[1], Annotation(uri=f[1]))
        ann[Segment(start, start + dur), i] = f[7]
    return out


def random_reference(rng, speakers, length, overlap, self_overlap, tiny):
    turns, t = [], float(rng.uniform(0, 3))
    while t < length:
        spk = speakers[rng.randint(len(speakers))]
        dur = float(rng.exponential(2.5)) + 0.05
        turns.append([t, dur, spk])
        if self_overlap and rng.rand() < 0.08:
            turns.append([t + dur * 0.5, dur, spk])
        t = max(0.0, t + dur * (rng.uniform(-0.6, 0.3) if rng.rand() < overlap else 1.0) + rng.exponential(0.6))
    if tiny:
        # Turns at and around pyannote's 1 us emptiness threshold, and turns touching within 1 us.
        for d in (4e-7, 1e-6, 3e-6, 2e-5):
            turns.append([float(rng.uniform(0, length)), d, speakers[rng.randint(len(speakers))]])
        a = turns[len(turns) // 2]
        turns.append([a[0] + a[1] + 5e-7, 1.0, a[2]])
    return turns


def hypothesis_from(rng, ref, hyp_speakers, length, grid):
    """A plausible system output: jittered, relabelled (merging or splitting speakers), some turns
    dropped, some false alarms."""
    labels = sorted({spk for _, _, spk in ref})
    relabel = {spk: [hyp_speakers[rng.randint(len(hyp_speakers))]] for spk in labels}
    if rng.rand() < 0.5:
        for spk in labels:
            relabel[spk].append(hyp_speakers[rng.randint(len(hyp_speakers))])
    hyp = []
    for s, d, spk in ref:
        if rng.rand() < 0.1:
            continue
        s2 = max(0.0, s + rng.normal(0, 0.25))
        d2 = max(0.01, d + rng.normal(0, 0.3))
        choices = relabel[spk]
        hyp.append([s2, d2, choices[rng.randint(len(choices))]])
    for _ in range(rng.randint(0, 5)):
        hyp.append([float(rng.uniform(0, length)), float(rng.exponential(1.5)) + 0.05,
                    hyp_speakers[rng.randint(len(hyp_speakers))]])
    if grid:
        hyp = [[round(s, 3), round(d, 3), spk] for s, d, spk in hyp]
    return hyp


def score(ref, hyp, uris, uem, collar, skip_overlap):
    metric = DiarizationErrorRate(collar=collar, skip_overlap=skip_overlap)
    files = {}
    for uri in uris:
        r = ref.get(uri, Annotation(uri=uri))
        h = hyp.get(uri, Annotation(uri=uri))
        u = None if uem is None else uem[uri]
        comps = metric(r, h, uem=u, detailed=True)
        files[uri] = {
            "total": comps["total"],
            "correct": comps["correct"],
            "missedDetection": comps["missed detection"],
            "falseAlarm": comps["false alarm"],
            "confusion": comps["confusion"],
            "der": comps["diarization error rate"],
            "mapping": used_mapping(metric, r, h, u),
        }
    acc = metric[:]
    accumulated = {
        "total": acc["total"],
        "correct": acc["correct"],
        "missedDetection": acc["missed detection"],
        "falseAlarm": acc["false alarm"],
        "confusion": acc["confusion"],
        "der": abs(metric),
    }
    return files, accumulated


def used_mapping(metric, r, h, u):
    """The hypothesis -> reference mapping compute_components uses, in the original label names."""
    R, H = metric.uemify(r, h, uem=u, collar=metric.collar, skip_overlap=metric.skip_overlap)
    to_letters = dict(zip(R.labels(), string_generator()))
    from_letters = {v: k for k, v in to_letters.items()}
    hyp_labels = H.labels()
    mapping = metric.optimal_mapping(
        R.rename_labels(mapping=to_letters),
        H.rename_labels(mapping={label: i for i, label in enumerate(hyp_labels)}),
    )
    return {hyp_labels[i]: from_letters[ref] for i, ref in sorted(mapping.items())}


def make_case(rng, k):
    collar = [0.0, 0.5][k % 2]
    skip = bool((k // 2) % 2)
    with_uem = bool((k // 4) % 2)
    tiny = k % 6 == 5
    grid = k % 7 != 3 and not tiny
    n_ref = [1, 2, 3, 4, 5, 7][rng.randint(6)] if k != 13 else 30
    n_hyp = [1, 2, 3, 4, 6, 9][rng.randint(6)] if k != 13 else 14
    ref_speakers = [f"R{j:02d}" for j in range(n_ref)]
    if k == 9:
        ref_speakers = ["b", "B", "é", "Z", "zz", "\U0001f600", "\uffe0"][:max(n_ref, 3)]
    hyp_speakers = [f"spk{j}" for j in range(n_hyp)]
    uris = [f"file{k:02d}a"] + ([f"file{k:02d}b"] if rng.rand() < 0.4 else [])
    ref_lines, hyp_lines, uem_lines = [], [], []
    for n, uri in enumerate(uris):
        length = float(rng.uniform(15, 45)) if k != 13 else 200.0
        ref = random_reference(rng, ref_speakers, length, overlap=[0.0, 0.2, 0.5][rng.randint(3)],
                               self_overlap=k % 5 == 1, tiny=tiny)
        if grid:
            ref = [[round(s, 3), round(d, 3), spk] for s, d, spk in ref]
        if k == 17 and n == 0:
            hyp = [[s, d, hyp_speakers[0]] for s, d, _ in ref]  # every reference speaker onto one
        elif k == 21 and n == 0:
            hyp = [[s, d, f"h{spk}"] for s, d, spk in ref]  # identical up to names
        else:
            hyp = hypothesis_from(rng, ref, hyp_speakers, length, grid)
        ref_lines += rttm_lines(uri, ref, grid)
        if not (k == 10 and n == len(uris) - 1):  # a file missing from the hypothesis
            hyp_lines += rttm_lines(uri, hyp, grid)
        regions = [(0.0, length)] if rng.rand() < 0.3 else sorted(
            (float(a), float(a + rng.uniform(5, 40))) for a in rng.uniform(0, length, rng.randint(1, 3)))
        uem_lines += [f"{uri} 1 {fmt(a, grid)} {fmt(b, grid)}" for a, b in regions]
    if k == 26:  # a file with no reference speech at all
        extra = f"file{k:02d}z"
        uris.append(extra)
        hyp_lines += rttm_lines(extra, [[1.0, 2.0, "spk0"]], True)
        uem_lines.append(f"{extra} 1 0.000 10.000")
    uem_text = "\n".join(uem_lines) + "\n" if with_uem else None
    uem = None
    if with_uem:
        uem = {}
        for line in uem_lines:
            uri, _, a, b = line.split()
            uem.setdefault(uri, []).append(Segment(float(a), float(b)))
        uem = {uri: Timeline(segs, uri=uri) for uri, segs in uem.items()}
    files, accumulated = score(load(ref_lines), load(hyp_lines), uris, uem, collar, skip)
    return {
        "name": f"case{k:02d}",
        "collar": collar,
        "skipOverlap": skip,
        "uris": uris,
        "reference": "\n".join(ref_lines) + "\n",
        "hypothesis": "\n".join(hyp_lines) + "\n",
        "uem": uem_text,
        "files": files,
        "accumulated": accumulated,
    }


def lsap_cases(rng, n):
    cases = []
    for k in range(n):
        rows, cols = rng.randint(1, 7), rng.randint(1, 7)
        cost = rng.randint(0, [2, 3, 10][k % 3], size=(rows, cols)).astype(float) * [1, 0.1, -2.5][k % 3]
        maximize = bool(k % 2)
        a, b = linear_sum_assignment(cost, maximize=maximize)
        cases.append({"cost": cost.tolist(), "maximize": maximize, "rows": a.tolist(), "cols": b.tolist()})
    return cases


def format_case(rng):
    """Turns with awkward times (exact decimal ties, values just either side of them, large and tiny
    ones), sorted as pyannote sorts them, and the RTTM text pyannote.core writes for them."""
    starts = [0.0, 0.0005, 1.0005, 2.675, 0.0625, 0.1875, 1.0625, 2.5e-4, 1e-7, 123456.0005, 3.9999995,
              7.1234999999, 1e9 + 0.0625, 1e16]
    starts += [float(x) for x in rng.uniform(0, 5000, 16)]
    durations = [0.0625, 1.0005, 0.0004999, 2.0000005, 0.1235, 0.3125, 1e-9]
    ann = Annotation(uri="meeting_01")
    turns = []
    for i, s in enumerate(sorted(starts)):
        d = durations[i % len(durations)] if i < 20 else float(rng.exponential(3.0))
        segment = Segment(s, s + d)
        if not segment:
            continue
        ann[segment, i] = f"spk{i % 3}"
        turns.append({"speaker": f"spk{i % 3}", "start": segment.start, "end": segment.end})
    return {"uri": "meeting_01", "segments": turns, "rttm": ann.to_rttm()}


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.RandomState(20240611)
    cases = [make_case(rng, k) for k in range(32)]
    with open(os.path.join(OUT, "goldens.json"), "w") as f:
        json.dump(cases, f, separators=(",", ":"), ensure_ascii=False)
    with open(os.path.join(OUT, "format.json"), "w") as f:
        json.dump(format_case(np.random.RandomState(5)), f)
    with open(os.path.join(OUT, "lsap.json"), "w") as f:
        json.dump(lsap_cases(np.random.RandomState(7), 150), f, separators=(",", ":"))


if __name__ == "__main__":
    main()
