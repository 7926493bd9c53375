#!/usr/bin/env python3
"""Float64 numpy reference of pyannote's segmentation-3.0 network (PyanNet) computed straight from the raw
state dict of its `pytorch_model.bin`, for the golden log-probabilities in
tests/fixtures/segmentation/golden.json.

Regenerate the fixture from the repository root (needs Deno and Python 3 with numpy; deterministic):

    deno run -A scripts/reference/make_segmentation_golden.ts

(Any numpy >= 1.20 will do; to pin one: `python3 -m venv /tmp/segref && /tmp/segref/bin/pip install
numpy==2.4.6`, then `PYTHON=/tmp/segref/bin/python deno run -A
scripts/reference/make_segmentation_golden.ts`.)
That driver writes a random checkpoint (scripts/generate_segmentation.ts) and the test waveforms
(tests/helpers/segmentation_inputs.ts) to a temporary directory and runs

    python3 scripts/reference/segmentation_ref.py JOB.json OUT.json

JOB.json: {"checkpoint": path, "waveforms": path (float32 LE, batch x samples), "batch": int,
"samples": int, "logProbs": path (written: float64 LE, batch x frames x 7), "variants": bool}.
OUT.json: {"shape": [batch, frames, classes], "buffers": {...}, "filters": {...}, "ranges": {...},
"variants": {...}} where `variants` (when asked) holds the largest |difference| of each item's
log-probabilities when the sinc filters, the network, or both are computed in float32 instead of float64.

No torch: the checkpoint is read with the standard library's zipfile and a restricted pickle.Unpickler
(`load_checkpoint` of resnet_unfused_ref.py), independent of the TypeScript reader. The network, from
the published definitions (pyannote.audio 3.3.2 PyanNet and SincNet, asteroid-filterbanks 0.4.0
ParamSincFB and Encoder), in eval mode:

- SincNet: InstanceNorm1d(1, affine) over the waveform; the sinc filterbank convolution (80 filters of
  251 taps, stride 10, no padding), abs; then three times MaxPool1d(3, 3), InstanceNorm1d(affine,
  eps 1e-5, biased variance over time, no running statistics), leaky_relu(0.01), with Conv1d(80, 60, 5)
  and Conv1d(60, 60, 5) before the second and third.
- The filters: low = 50 + |low_hz_|, high = clamp(low + 50 + |band_hz_|, 50, 8000), band = high - low;
  over the half time axis n_ (< 0) with the half window window_, the cosine filter's left half is
  (sin(high n) - sin(low n)) / (n / 2) * window, its centre 2 band, its right half the mirror; the sine
  filter's left half is (cos(low n) - cos(high n)) / (n / 2) * window, centre 0, right half the negated
  mirror; each divided by 2 band. The 40 cosine filters come first, then the 40 sine filters.
- LSTM: 4 bidirectional layers of 128 (gates stacked i, f, g, o; both biases; zero initial state;
  dropout off); the output of a layer is [forward, backward] per frame.
- Two Linear(., 128) + leaky_relu(0.01), Linear(128, 7), log_softmax over the classes.
"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from resnet_unfused_ref import load_checkpoint  # noqa: E402

SAMPLE_RATE = 16000
MIN_LOW_HZ = 50.0
MIN_BAND_HZ = 50.0
STRIDE = 10
EPS = 1e-5
SLOPE = 0.01
LSTM_LAYERS = 4


def sinc_filters(sd, dtype):
    """The 80 x 251 filterbank from the checkpoint's parameters and buffers, computed in `dtype`, and
    how many upper edges the 8 kHz clamp cut."""
    prefix = "sincnet.conv1d.0.filterbank."
    low_hz, band_hz = sd[prefix + "low_hz_"].astype(dtype), sd[prefix + "band_hz_"].astype(dtype)
    n, window = sd[prefix + "n_"].astype(dtype), sd[prefix + "window_"].astype(dtype)
    low = dtype(MIN_LOW_HZ) + np.abs(low_hz)  # (40, 1)
    high = np.clip(low + dtype(MIN_BAND_HZ) + np.abs(band_hz), dtype(MIN_LOW_HZ), dtype(SAMPLE_RATE / 2))
    band = (high - low)[:, 0]
    ft_low, ft_high = low @ n, high @ n  # (40, 125)
    half_n = n / dtype(2)
    cos_left = (np.sin(ft_high) - np.sin(ft_low)) / half_n * window
    sin_left = (np.cos(ft_low) - np.cos(ft_high)) / half_n * window
    cos = np.concatenate([cos_left, 2 * band[:, None], cos_left[:, ::-1]], axis=1)
    sin = np.concatenate([sin_left, np.zeros_like(band)[:, None], -sin_left[:, ::-1]], axis=1)
    scale = 2 * band[:, None]
    clamped = int(np.sum(high[:, 0] == dtype(SAMPLE_RATE / 2)))
    return np.concatenate([cos / scale, sin / scale], axis=0), clamped


def instance_norm(x, weight, bias):
    """x: (channels, time); statistics over time, biased variance."""
    mean = x.mean(axis=1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=1, keepdims=True)
    return (x - mean) / np.sqrt(var + x.dtype.type(EPS)) * weight[:, None] + bias[:, None]


def conv1d(x, weight, bias=None, stride=1):
    """Cross-correlation without padding. x: (in, time), weight: (out, in, kernel) -> (out, frames)."""
    kernel = weight.shape[2]
    windows = np.lib.stride_tricks.sliding_window_view(x, kernel, axis=1)[:, ::stride, :]
    out = np.tensordot(weight, windows, axes=([1, 2], [0, 2]))
    return out if bias is None else out + bias[:, None]


def max_pool3(x):
    frames = x.shape[1] // 3
    return x[:, : 3 * frames].reshape(x.shape[0], frames, 3).max(axis=2)


def leaky_relu(x):
    return np.where(x > 0, x, x * x.dtype.type(SLOPE))


def sigmoid(x):
    half = x.dtype.type(0.5)
    return half * (1 + np.tanh(half * x))


def sincnet(sd, wave, filters):
    """wave: (samples,) -> (60, frames)."""
    x = instance_norm(wave[None, :], sd["sincnet.wav_norm1d.weight"], sd["sincnet.wav_norm1d.bias"])
    x = np.abs(conv1d(x, filters[:, None, :], stride=STRIDE))
    for c in range(3):
        if c > 0:
            x = conv1d(x, sd[f"sincnet.conv1d.{c}.weight"], sd[f"sincnet.conv1d.{c}.bias"])
        x = max_pool3(x)
        x = leaky_relu(instance_norm(x, sd[f"sincnet.norm1d.{c}.weight"], sd[f"sincnet.norm1d.{c}.bias"]))
    return x


def lstm_direction(x, sd, suffix):
    """One direction of one layer over x: (batch, frames, in) -> (batch, frames, hidden)."""
    w_ih, w_hh = sd["lstm.weight_ih" + suffix], sd["lstm.weight_hh" + suffix]
    hidden = w_hh.shape[1]
    projected = x @ w_ih.T + sd["lstm.bias_ih" + suffix] + sd["lstm.bias_hh" + suffix]
    batch, frames, _ = x.shape
    h = np.zeros((batch, hidden), dtype=x.dtype)
    c = np.zeros((batch, hidden), dtype=x.dtype)
    out = np.empty((batch, frames, hidden), dtype=x.dtype)
    order = range(frames - 1, -1, -1) if suffix.endswith("_reverse") else range(frames)
    for t in order:
        gates = projected[:, t] + h @ w_hh.T
        i, f, g, o = (gates[:, k * hidden : (k + 1) * hidden] for k in range(4))
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        out[:, t] = h
    return out


def forward(sd, waves, dtype=np.float64, filter_dtype=None):
    """waves: (batch, samples) -> log-probabilities (batch, frames, 7), computed in `dtype` (the sinc
    filters in `filter_dtype`, default `dtype`)."""
    sd = {k: v.astype(dtype) for k, v in sd.items()}
    filters, _ = sinc_filters(sd, filter_dtype or dtype)
    filters = filters.astype(dtype)
    x = np.stack([sincnet(sd, w.astype(dtype), filters).T for w in waves])  # (batch, frames, 60)
    for layer in range(LSTM_LAYERS):
        suffix = f"_l{layer}"
        backward = lstm_direction(x, sd, suffix + "_reverse")
        x = np.concatenate([lstm_direction(x, sd, suffix), backward], axis=2)
    for k in range(2):
        x = leaky_relu(x @ sd[f"linear.{k}.weight"].T + sd[f"linear.{k}.bias"])
    logits = x @ sd["classifier.weight"].T + sd["classifier.bias"]
    shifted = logits - logits.max(axis=2, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=2, keepdims=True))


def asteroid_buffers():
    """window_ and n_ as asteroid computes them: numpy's Hamming window cast to float32; float32
    arithmetic for 2π · arange(-125, 0) / 16000 (2π rounded to float32, as torch rounds the scalar)."""
    window = np.hamming(251)[:125].astype(np.float32)
    n = (np.arange(-125, 0, dtype=np.float32) / np.float32(SAMPLE_RATE)) * np.float32(2 * np.pi)
    return window, n.reshape(1, 125)


def main(job_path, out_path):
    with open(job_path) as f:
        job = json.load(f)
    sd = load_checkpoint(job["checkpoint"])["state_dict"]
    waves = np.fromfile(job["waveforms"], dtype="<f4").reshape(job["batch"], job["samples"])
    log_probs = forward(sd, waves)
    log_probs.astype("<f8").tofile(job["logProbs"])

    window, n = asteroid_buffers()
    prefix = "sincnet.conv1d.0.filterbank."
    _, clamped = sinc_filters(sd, np.float64)
    argmax = log_probs.argmax(axis=2)
    top = np.exp(log_probs.max(axis=2))  # each frame's largest probability
    out = {
        "shape": list(log_probs.shape),
        "buffers": {
            "windowMatchesNumpyHamming": bool(np.array_equal(sd[prefix + "window_"], window)),
            "nMatchesFloat32Formula": bool(np.array_equal(sd[prefix + "n_"], n)),
        },
        "filters": {
            "negativeLowHz": int(np.sum(sd[prefix + "low_hz_"] < 0)),
            "negativeBandHz": int(np.sum(sd[prefix + "band_hz_"] < 0)),
            "clampedAt8kHz": clamped,
        },
        "ranges": {
            "logProbMin": float(log_probs.min()),
            "logProbMax": float(log_probs.max()),
            "argmaxClassesPerItem": [sorted(set(int(a) for a in row)) for row in argmax],
            "argmaxChangesPerItem": [int(np.sum(row[1:] != row[:-1])) for row in argmax],
            "maxProbabilityRange": [float(top.min()), float(top.max())],
        },
    }
    if job.get("variants"):
        def max_diff(other):
            return [float(d) for d in np.abs(other.astype(np.float64) - log_probs).max(axis=(1, 2))]

        out["variants"] = {
            "maxAbsDiffPerItem": {
                "float32FiltersOnly": max_diff(forward(sd, waves, np.float64, np.float32)),
                "float32NetworkFloat64Filters": max_diff(forward(sd, waves, np.float32, np.float64)),
                "float32Everything": max_diff(forward(sd, waves, np.float32)),
            },
            "note": "float32FiltersOnly: the sinc filters computed in float32 as torch does (sin/cos of "
            "arguments up to ~400 rad), the rest float64; float32NetworkFloat64Filters: filters computed in "
            "float64 then rounded to float32, the network in float32; float32Everything: both in float32.",
        }
    with open(out_path, "w") as f:
        json.dump(out, f, indent=2)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} JOB.json OUT.json")
    main(sys.argv[1], sys.argv[2])
