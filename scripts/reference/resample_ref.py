"""Float64 numpy re-implementation of torchaudio.functional.resample (defaults) for test fixtures.

Mirrors torchaudio's `_get_sinc_resample_kernel` / `_apply_sinc_resample_kernel` (method
"sinc_interp_hann", lowpass_filter_width=6, rolloff=0.99) with a dense strided convolution, i.e. the
straightforward form, so that lib/audio/resample.ts (a trimmed polyphase form) is checked against an
independent computation. Dev-time only: writes tests/fixtures/resample.json.

    python3 scripts/reference/resample_ref.py
"""

import json
import math
import pathlib

import numpy as np


def sinc_resample_kernel(orig, new, lowpass_filter_width=6, rolloff=0.99):
    g = math.gcd(orig, new)
    orig //= g
    new //= g
    base_freq = min(orig, new) * rolloff
    width = math.ceil(lowpass_filter_width * orig / base_freq)
    idx = np.arange(-width, width + orig, dtype=np.float64)[None, :] / orig
    t = np.arange(0, -new, -1, dtype=np.float64)[:, None] / new + idx
    t *= base_freq
    t = np.clip(t, -lowpass_filter_width, lowpass_filter_width)
    window = np.cos(t * math.pi / lowpass_filter_width / 2) ** 2
    t *= math.pi
    scale = base_freq / orig
    with np.errstate(invalid="ignore", divide="ignore"):
        kernels = np.where(t == 0, 1.0, np.sin(t) / t)
    kernels *= window * scale
    return kernels, width, orig, new  # kernels: (new, 2*width+orig)


def resample(x, orig, new):
    if orig == new:
        return x.copy()
    kernel, width, o, n = sinc_resample_kernel(orig, new)
    length = x.shape[-1]
    padded = np.concatenate([np.zeros(width), x, np.zeros(width + o)])
    k = kernel.shape[1]
    steps = (padded.shape[0] - k) // o + 1
    frames = np.stack([padded[s * o : s * o + k] for s in range(steps)])  # (steps, k)
    out = frames @ kernel.T  # (steps, new): conv1d output transposed
    out = out.reshape(-1)
    target = int(math.ceil(n * length / o))
    return out[:target]


def main():
    rng = np.random.default_rng(20240611)
    cases = [
        (8000, 16000, 300),
        (44100, 16000, 1200),
        (48000, 16000, 900),
        (22050, 16000, 700),
        (11025, 16000, 300),
        (32000, 16000, 500),
        (16000, 8000, 301),
    ]
    out = []
    for orig, new, n in cases:
        # Broadband noise plus a tone, stored as float32 so the TS side gets bit-identical input.
        tt = np.arange(n) / orig
        x = (0.5 * rng.standard_normal(n) + 0.3 * np.sin(2 * np.pi * 440 * tt)).astype(np.float32)
        y = resample(x.astype(np.float64), orig, new)
        out.append(
            {
                "from": orig,
                "to": new,
                "input": [float(np.format_float_scientific(v, unique=True)) for v in x],
                "output": [float(f"{v:.9g}") for v in y],
            }
        )
    path = pathlib.Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "resample.json"
    path.write_text(json.dumps({"generator": "scripts/reference/resample_ref.py", "cases": out}, indent=2) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
