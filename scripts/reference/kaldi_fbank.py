#!/usr/bin/env python3
"""Float64 numpy reference for the Kaldi fbank front end, and generator of tests/fixtures/fbank.json.

Regenerate the fixture from the repository root (needs only Python 3 and numpy; output is
deterministic):

    python3 scripts/reference/kaldi_fbank.py

This is a development tool: the TypeScript tests only read the JSON it writes.

The definition followed is what pyannote's WeSpeaker wrapper computes:

    feats = torchaudio.compliance.kaldi.fbank(
        waveform * 32768, num_mel_bins=80, frame_length=25, frame_shift=10, dither=0.0,
        sample_frequency=16000, window_type="hamming", use_energy=False)
    feats = feats - feats.mean(dim=0)

with torchaudio's remaining defaults: snip_edges, remove_dc_offset, preemphasis 0.97,
round_to_power_of_two, power spectrum, low_freq 20 Hz, high_freq = Nyquist, log floored at
FLT_EPSILON. It is written independently of lib/audio/fbank.ts (whole-matrix numpy: strided frames,
numpy.fft.rfft, a dense mel matrix) so that the two can check each other.

Fixture layout: {"cases": [case, ...]}, each case holding
    name, description, numSamples,
    options:  passed as-is to fbank() in TypeScript (only subtractMean is ever set),
    input:    {"encoding": "f32le" | "s16le", "base64": ...}; s16le stores integers k whose samples
              are k / 32768, exact in float32, used for the longest clip to halve its size,
    expected: {"frames", "bins", "frameStep", "base64"}: float32 little-endian rows for frames
              0, frameStep, 2 * frameStep, ... (a step above 1 only thins the stored rows of a long
              clip; its mean subtraction still spans every frame).
"""

import base64
import json
import math
from pathlib import Path

import numpy as np

FLT_EPSILON = float(np.finfo(np.float32).eps)
FIXTURE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "fbank.json"


def mel(hz):
    return 1127.0 * np.log(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_matrix(num_bins, n_fft, sample_rate, low_hz=20.0, high_hz=None):
    """Dense (num_bins, n_fft // 2 + 1) Kaldi filterbank; the Nyquist column is zero, as in torchaudio."""
    if high_hz is None:
        high_hz = sample_rate / 2.0
    mel_low, mel_high = mel(low_hz), mel(high_hz)
    step = (mel_high - mel_low) / (num_bins + 1)
    edges = mel_low + step * np.arange(num_bins + 2)
    left, center, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    bin_mel = mel(np.arange(n_fft // 2) * (sample_rate / n_fft))[None, :]
    rising = (bin_mel - left) / (center - left)
    falling = (right - bin_mel) / (right - center)
    weights = np.clip(np.minimum(rising, falling), 0.0, None)
    return np.hstack([weights, np.zeros((num_bins, 1))])


def kaldi_fbank(samples, sample_rate=16000, num_mel_bins=80, frame_length_ms=25.0, frame_shift_ms=10.0,
                scale=32768.0, subtract_mean=True):
    """Log-mel features (frames, num_mel_bins) in float64 of a 1-D float32 array."""
    x = np.asarray(samples, dtype=np.float64) * scale
    win = int(sample_rate * frame_length_ms * 0.001)
    hop = int(sample_rate * frame_shift_ms * 0.001)
    if x.size < win:
        raise ValueError(f"need at least {win} samples, got {x.size}")
    n_fft = 1 << (win - 1).bit_length()

    frames = np.lib.stride_tricks.sliding_window_view(x, win)[::hop].copy()
    frames -= frames.mean(axis=1, keepdims=True)
    previous = np.concatenate([frames[:, :1], frames[:, :-1]], axis=1)
    frames = frames - 0.97 * previous
    frames *= np.hamming(win)[None, :]

    spectrum = np.fft.rfft(frames, n=n_fft, axis=1)
    power = spectrum.real ** 2 + spectrum.imag ** 2
    energies = power @ mel_matrix(num_mel_bins, n_fft, sample_rate).T
    feats = np.log(np.maximum(energies, FLT_EPSILON))
    if subtract_mean:
        feats -= feats.mean(axis=0, keepdims=True)
    return feats


def b64(array, dtype):
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode("ascii")


def make_case(name, description, samples, subtract_mean=True, encoding="f32le", frame_step=1):
    if encoding == "s16le":
        ints = samples
        samples = (ints.astype(np.float64) / 32768.0).astype(np.float32)
        payload = b64(ints, "<i2")
    else:
        samples = samples.astype(np.float32)
        payload = b64(samples, "<f4")
    feats = kaldi_fbank(samples, subtract_mean=subtract_mean)
    return {
        "name": name,
        "description": description,
        "numSamples": int(samples.size),
        "options": {} if subtract_mean else {"subtractMean": False},
        "input": {"encoding": encoding, "base64": payload},
        "expected": {
            "frames": int(feats.shape[0]),
            "bins": int(feats.shape[1]),
            "frameStep": frame_step,
            "base64": b64(feats[::frame_step], "<f4"),
        },
    }


def voiced(n, rng, sr=16000):
    """Harmonic source with vibrato and a syllable-rate envelope, roughly like voiced speech."""
    t = np.arange(n) / sr
    f0 = 125.0 + 25.0 * np.sin(2 * math.pi * 3.0 * t)
    phase = 2 * math.pi * np.cumsum(f0) / sr
    signal = sum(np.sin(h * phase) / h for h in range(1, 40))
    envelope = 0.55 + 0.45 * np.sin(2 * math.pi * 4.0 * t)
    signal = signal * envelope + 0.05 * rng.standard_normal(n)
    return 0.5 * signal / np.max(np.abs(signal))


def chirp_mix(n, rng, sr=16000):
    """Log chirp over the whole band, three steady tones, noise, and a stretch of digital silence."""
    t = np.arange(n) / sr
    f_start, f_end = 60.0, 7600.0
    duration = n / sr
    k = math.log(f_end / f_start) / duration
    signal = 0.2 * np.sin(2 * math.pi * f_start * (np.exp(k * t) - 1.0) / k)
    for freq, amp in ((250.0, 0.05), (1000.0, 0.04), (3150.0, 0.03)):
        signal += amp * np.sin(2 * math.pi * freq * t + rng.uniform(0, 2 * math.pi))
    signal += 0.01 * rng.standard_normal(n)
    signal[20000:24800] = 0.0  # exact zeros: whole frames of it hit the FLT_EPSILON floor
    return np.clip(np.round(signal * 32768.0), -32768, 32767).astype(np.int16)


def main():
    rng = np.random.default_rng(20240611)
    dc_clip = (0.25 + 0.01 * np.sin(2 * math.pi * 440.0 * np.arange(1234) / 16000)
               + 0.005 * rng.standard_normal(1234))
    cases = [
        make_case("n400-noise-0.5-raw", "exactly one frame of uniform noise at ±0.5, no mean subtraction",
                  rng.uniform(-0.5, 0.5, 400), subtract_mean=False),
        make_case("n401-noise-1e-4-raw", "one frame plus one sample of uniform noise at ±1e-4, no mean subtraction",
                  rng.uniform(-1e-4, 1e-4, 401), subtract_mean=False),
        make_case("n1234-dc-0.25-tone-0.01", "DC offset 0.25 under a 440 Hz tone at 0.01 and noise at 0.005",
                  dc_clip),
        make_case("n1234-dc-0.25-tone-0.01-raw", "the same clip without mean subtraction",
                  dc_clip, subtract_mean=False),
        make_case("n16000-voiced-0.5", "1 s of harmonic speech-like signal peaking at 0.5",
                  voiced(16000, rng)),
        make_case("n48000-chirp-tones-noise", "3 s chirp 60 Hz to 7.6 kHz, three tones, noise and 0.3 s of silence",
                  chirp_mix(48000, rng), encoding="s16le", frame_step=5),
    ]
    fixture = {
        "generator": "python3 scripts/reference/kaldi_fbank.py",
        "definition": "torchaudio.compliance.kaldi.fbank(x * 32768, num_mel_bins=80, frame_length=25, "
                      "frame_shift=10, dither=0, window_type='hamming'), minus per-bin mean over frames "
                      "unless options.subtractMean is false; float64 reference rounded to float32",
        "cases": cases,
    }
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(json.dumps(fixture, indent=1) + "\n")
    total = FIXTURE.stat().st_size
    for case in cases:
        print(f"{case['name']}: {case['numSamples']} samples, {case['expected']['frames']} frames")
    print(f"wrote {FIXTURE} ({total / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
