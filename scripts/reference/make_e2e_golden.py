"""End-to-end golden: a WAV file -> embedding, through the independent references only.

Writes tests/fixtures/e2e_8k_stereo_s16.wav (1.6 s, 8 kHz, 2 channels, 16-bit PCM: so the file path
exercises decoding, channel averaging and resampling) and tests/fixtures/e2e.json with the embedding
the float64 references give for it: channel mean -> resample_ref (torchaudio's sinc resampling to
16 kHz) -> kaldi_fbank (pyannote's fbank + mean normalisation) -> resnet_ref (ResNet34 + TSTP).

From the repository root (numpy needed; the weights come from the seeded generator):

    deno run -A scripts/generate_weights.ts build/test-weights.safetensors
    python3 scripts/reference/make_e2e_golden.py build/test-weights.safetensors
"""
import hashlib
import json
import os
import sys
import wave

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kaldi_fbank import kaldi_fbank  # noqa: E402
from resample_ref import resample  # noqa: E402
from resnet_ref import embed_item, normalize, read_safetensors, to_torch_layout  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
WAV_NAME = "e2e_8k_stereo_s16.wav"
RATE = 8000


def speech_like(n, rng):
    """Two 'talkers': harmonic voices with vibrato and syllable-rate envelopes, plus breath noise."""
    t = np.arange(n) / RATE
    channels = []
    for f0, syllables in ((130.0, 4.0), (210.0, 5.5)):
        phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))) / RATE
        voice = sum(np.sin(k * phase) / k for k in range(1, 12))
        envelope = np.clip(np.sin(2 * np.pi * syllables * t + rng.uniform(0, 6)), 0, None) ** 2
        channels.append(0.3 * voice * envelope + 0.02 * rng.standard_normal(n))
    pcm = np.clip(np.round(np.stack(channels, axis=1) * 32767), -32768, 32767).astype("<i2")
    return pcm  # (frames, channels)


def main():
    weights_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "test-weights.safetensors")
    rng = np.random.default_rng(20261124)
    pcm = speech_like(int(1.6 * RATE), rng)
    wav_path = os.path.join(FIXTURES, WAV_NAME)
    with wave.open(wav_path, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())

    # The library averages channels in float64 and stores float32, then resamples that float32 signal.
    mono = np.float32((pcm.astype(np.float64) / 32768.0).mean(axis=1)).astype(np.float64)
    at16k = np.float32(resample(mono, RATE, 16000))
    feats = kaldi_fbank(at16k)
    pt = to_torch_layout(read_safetensors(weights_path))
    raw = embed_item(pt, feats)[0]
    with open(weights_path, "rb") as f:
        weights_sha = hashlib.sha256(f.read()).hexdigest()
    golden = {
        "description": "embedding of " + WAV_NAME + " by the float64 references (see make_e2e_golden.py)",
        "wav": WAV_NAME,
        "weightsSha256": weights_sha,
        "frames": int(feats.shape[0]),
        "normalized": [float(f"{v:.9g}") for v in normalize(raw)],
        "raw": [float(f"{v:.9g}") for v in raw],
    }
    with open(os.path.join(FIXTURES, "e2e.json"), "w") as f:
        json.dump(golden, f, indent=2)
        f.write("\n")
    print(f"wrote {wav_path} and e2e.json: {feats.shape[0]} frames")


if __name__ == "__main__":
    main()
