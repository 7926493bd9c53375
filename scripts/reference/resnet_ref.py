#!/usr/bin/env python3
"""Float64 numpy reference of the WeSpeaker ResNet34-LM network, for the golden embeddings in
tests/fixtures/embeddings.json.

Regenerate the fixture from the repository root (needs Deno and Python 3 with numpy; deterministic):

    deno run -A scripts/reference/make_embedding_goldens.ts

That driver writes random weights and inputs from scripts/generate_weights.ts to a temporary
directory and runs this script on them:

    python3 scripts/reference/resnet_ref.py JOB.json OUT.json

This is a development tool: the TypeScript tests only read the JSON fixture.

Written from the public PyTorch definitions, independently of the native library:

- wespeaker `wespeaker/models/resnet.py` (BasicBlock, ResNet34 with m_channels=32, two_emb_layer
  off) and `wespeaker/models/pooling_layers.py` (TSTP): x (B, T, 80) -> permute (B, 80, T) ->
  unsqueeze (B, 1, F=80, T); conv1 3x3 + (fused) BN + ReLU; 4 stages of BasicBlocks
  [3, 4, 6, 3] x [32, 64, 128, 256] channels, stride 2 in the first block of stages 2-4 (both
  frequency and time), 1x1 strided shortcut there; BasicBlock: out = relu(bn1(conv1(x)));
  out = bn2(conv2(out)); out += shortcut(x); out = relu(out).
  TSTP: mean over time and sqrt(var_unbiased + 1e-7), each (B, C, F') flattened in (C, F') order.
- pyannote `pyannote/audio/models/blocks/pooling.py` (StatsPool) for weighted pooling: weights
  resampled to the number of frames with F.interpolate(mode="nearest") (float32 scale), then
  v1 = sum(w) + 1e-8, mean = sum(x w) / v1, v2 = sum(w^2),
  var = sum((x - mean)^2 w) / (v1 - v2 / v1 + 1e-8), std = sqrt(var).
- then Linear(5120 -> 256) (`seg_1`, here `embedding`), and L2 normalisation.

Weights are read from the MLX safetensors layout (BatchNorm fused, conv weights [O, kH, kW, I] with
H = frequency, W = time) and turned back into PyTorch's [O, I, kH, kW].

JOB.json:
    {"weights": path,
     "cases": [{"name", "frames", "features": [path per item: float32 LE, frames x 80],
                "lengths": [int] | null,
                "masks": null | {"numMasks", "frames", "files": [path per item: float32 LE, S x W]}}],
     "sanity": {"flattenCase": name, "kernelCase": name}}
OUT.json: {"cases": [{"name", "normalized": [B][S][256], "raw": [B][S][256]}], "sanity": {...}}
"""

import json
import struct
import sys
import time

import numpy as np

STAGES = [(1, 3, 32, 1), (2, 4, 64, 2), (3, 6, 128, 2), (4, 3, 256, 2)]  # (L, blocks, channels, stride)


# ---------------------------------------------------------------------------------------------------------
# weights


def read_safetensors(path):
    """Returns {name: float64 array} from a safetensors file (F32 only)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        assert entry["dtype"] == "F32", (name, entry["dtype"])
        begin, end = entry["data_offsets"]
        arr = np.frombuffer(data[base + begin : base + end], dtype="<f4").astype(np.float64)
        out[name] = arr.reshape(entry["shape"])
    return out


def to_torch_layout(weights, swap_kernel_axes=False):
    """MLX [O, kH, kW, I] conv weights -> PyTorch [O, I, kH, kW]. With swap_kernel_axes, the WRONG
    interpretation [O, kW, kH, I] (used only to check that the test would notice)."""
    pt = {}
    for name, w in weights.items():
        if w.ndim == 4:
            pt[name] = w.transpose(0, 3, 2, 1) if swap_kernel_axes else w.transpose(0, 3, 1, 2)
        else:
            pt[name] = w
    return pt


# ---------------------------------------------------------------------------------------------------------
# network


def conv2d(x, w, b, stride):
    """PyTorch Conv2d (cross-correlation), x (C, H, W), w (O, C, kH, kW), zero padding (k - 1) / 2,
    same stride on both axes. Shifted-slice im2col: one float64 matmul per kernel tap."""
    c, h, wd = x.shape
    o, ci, kh, kw = w.shape
    assert ci == c, (ci, c)
    ph, pw = (kh - 1) // 2, (kw - 1) // 2
    ho = (h + 2 * ph - kh) // stride + 1
    wo = (wd + 2 * pw - kw) // stride + 1
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw))) if ph or pw else x
    out = np.zeros((o, ho * wo), dtype=x.dtype)
    for dy in range(kh):
        for dx in range(kw):
            patch = xp[:, dy : dy + stride * (ho - 1) + 1 : stride, dx : dx + stride * (wo - 1) + 1 : stride]
            out += w[:, :, dy, dx] @ patch.reshape(c, ho * wo)
    out += b[:, None]
    return out.reshape(o, ho, wo)


def relu(x):
    return np.maximum(x, 0.0)


def resnet_trunk(conv, has_shortcut, feats, trace=None):
    """The ResNet34 trunk: feats (T, 80) float64 -> layer4 output (256, 10, T'). `conv(x, name, stride)`
    applies the convolution (with whatever normalisation follows it) named as in the MLX layout:
    conv1, layerL.B.conv1, layerL.B.conv2, layerL.B.shortcut."""
    out = relu(conv(feats.T[None, :, :], "conv1", 1))  # input (1, F=80, T)
    if trace is not None:
        trace.append(("stem", out))
    for layer, blocks, _channels, stride in STAGES:
        for b in range(blocks):
            p = f"layer{layer}.{b}."
            s = stride if b == 0 else 1
            y = relu(conv(out, p + "conv1", s))
            y = conv(y, p + "conv2", 1)
            y += conv(out, p + "shortcut", s) if has_shortcut(p + "shortcut") else out
            out = relu(y)
            if trace is not None:
                trace.append((p[:-1], out))
    return out


def trunk(pt, feats, trace=None):
    """The trunk with BatchNorm fused: every conv has a bias."""
    return resnet_trunk(
        lambda x, name, stride: conv2d(x, pt[name + ".weight"], pt[name + ".bias"], stride),
        lambda name: name + ".weight" in pt,
        feats,
        trace,
    )


def flatten_cf(h, order):
    """(C, F', T') -> (C * F', T'): PyTorch's (C, F') order, or the WRONG (F', C) order."""
    c, f, t = h.shape
    if order == "cf":
        return h.reshape(c * f, t)
    return h.transpose(1, 0, 2).reshape(f * c, t)


def tstp(seq):
    """wespeaker TSTP: (D, T') -> (2D,) mean and sqrt(unbiased var + 1e-7)."""
    mean = seq.mean(axis=1)
    var = seq.var(axis=1, ddof=1)
    return np.concatenate([mean, np.sqrt(var + 1e-7)])


def nearest_exact_indices(w_frames, t_frames):
    """mode="nearest-exact" (NOT what pyannote uses; only to show that the goldens tell them apart)."""
    scale = np.float32(w_frames) / np.float32(t_frames)
    return np.array(
        [min(int(np.floor(np.float32((np.float32(i) + np.float32(0.5)) * scale))), w_frames - 1) for i in range(t_frames)]
    )


def nearest_indices(w_frames, t_frames):
    """Source index of each of t_frames outputs under torch.nn.functional.interpolate(mode="nearest")
    from w_frames inputs (CPU kernel: identity when equal, i >> 1 when doubling, otherwise
    min(floor(float32(i * float32(w / t))), w - 1) in float32 arithmetic)."""
    if w_frames == t_frames:
        return np.arange(t_frames)
    if t_frames == 2 * w_frames:
        return np.arange(t_frames) >> 1
    scale = np.float32(w_frames) / np.float32(t_frames)
    idx = []
    for i in range(t_frames):
        src = np.floor(np.float32(np.float32(i) * scale))
        idx.append(min(int(src), w_frames - 1))
    return np.array(idx)


def stats_pool_weighted(seq, w):
    """pyannote StatsPool._pool for one speaker: seq (D, T'), w (T',) -> (2D,)."""
    v1 = w.sum() + 1e-8
    mean = (seq * w).sum(axis=1) / v1
    dx2 = np.square(seq - mean[:, None])
    v2 = np.square(w).sum()
    var = (dx2 * w).sum(axis=1) / (v1 - v2 / v1 + 1e-8)
    return np.concatenate([mean, np.sqrt(var)])


def embed_item(pt, feats, masks=None, order="cf", variant=None):
    """feats (T, 80); masks None or (S, W). Returns raw embeddings (S, 256) (S = 1 unweighted).
    variant (only for the sanity checks): "nearest-exact" resamples the masks the wrong way."""
    h = trunk(pt, feats)
    seq = flatten_cf(h, order)
    if masks is None:
        stats = tstp(seq)[None, :]
    else:
        resample = nearest_exact_indices if variant == "nearest-exact" else nearest_indices
        idx = resample(masks.shape[1], seq.shape[1])
        stats = np.stack([stats_pool_weighted(seq, m[idx]) for m in masks])
    return stats @ pt["embedding.weight"].T + pt["embedding.bias"]


def normalize(raw):
    return raw / np.linalg.norm(raw, axis=-1, keepdims=True)


# ---------------------------------------------------------------------------------------------------------
# job


def load_f32(path, shape):
    arr = np.fromfile(path, dtype="<f4").astype(np.float64)
    assert arr.size == int(np.prod(shape)), (path, arr.size, shape)
    return arr.reshape(shape)


def run_case(pt, case, order="cf", dtype=np.float64, variant=None):
    """Raw embeddings (B, S, 256) of one case. dtype=np.float32 runs everything in float32 instead
    (only to show that a float32 implementation can meet the fixture's tolerance)."""
    raws = []
    for b, path in enumerate(case["features"]):
        feats = load_f32(path, (case["frames"], 80)).astype(dtype)
        if case.get("lengths") and variant != "ignore-lengths":
            feats = feats[: case["lengths"][b]]
        masks = None
        if case.get("masks"):
            m = case["masks"]
            masks = load_f32(m["files"][b], (m["numMasks"], m["frames"])).astype(dtype)
        raws.append(embed_item(pt, feats, masks, order, variant))
    return np.stack(raws)  # (B, S, 256)


def cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def sig(x, digits=9):
    return float(f"{x:.{digits}g}")


def main():
    job_path, out_path = sys.argv[1], sys.argv[2]
    with open(job_path) as f:
        job = json.load(f)
    weights = read_safetensors(job["weights"])
    pt = to_torch_layout(weights)

    results = []
    by_name = {}
    for case in job["cases"]:
        t0 = time.time()
        raw = run_case(pt, case)
        norm = normalize(raw)
        by_name[case["name"]] = (case, raw)
        print(
            f"  {case['name']:<28} B={raw.shape[0]} S={raw.shape[1]} |raw| {np.linalg.norm(raw, axis=-1).min():.3g}"
            f"..{np.linalg.norm(raw, axis=-1).max():.3g}  max|raw| {np.abs(raw).max():.3g}  ({time.time() - t0:.1f} s)"
        )
        results.append(
            {
                "name": case["name"],
                "normalized": [[[sig(v) for v in s] for s in item] for item in norm],
                "raw": [[[sig(v) for v in s] for s in item] for item in raw],
            }
        )

    # ---- a float32 evaluation of the same definitions must meet the tolerance the fixture states
    pt32 = {k: v.astype(np.float32) for k, v in pt.items()}
    f32_cos, f32_abs, f32_raw = 2.0, 0.0, 0.0
    for name, (case, raw) in by_name.items():
        raw32 = run_case(pt32, case, dtype=np.float32).astype(np.float64)
        n64, n32 = normalize(raw), normalize(raw32)
        f32_cos = min(f32_cos, float(np.min(np.sum(n64 * n32, axis=-1))))
        f32_abs = max(f32_abs, float(np.abs(n64 - n32).max()))
        f32_raw = max(f32_raw, float(np.abs(raw - raw32).max() / np.abs(raw).max()))
    print(
        f"    float32 evaluation vs float64: min cosine 1 - {1 - f32_cos:.2e}, max abs diff (normalized) "
        f"{f32_abs:.2e}, max abs diff (raw) / max|raw| {f32_raw:.2e}"
    )
    sanity = {"float32MinCosine": f32_cos, "float32MaxAbsDiffNormalized": f32_abs, "float32MaxRelDiffRaw": f32_raw}
    ok = f32_cos >= 0.99999 and f32_abs <= 1e-4 and f32_raw <= 1e-4

    # ---- power of the test --------------------------------------------------------------------------

    # (a) embeddings of different inputs: every unweighted item against every other one
    distinct = []
    for name, (case, raw) in by_name.items():
        if case.get("masks"):
            continue
        for b in range(raw.shape[0]):
            distinct.append((f"{name}[{b}]", case["featureSeeds"][b], normalize(raw[b, 0])))
    worst = (-2.0, None, None)
    for i in range(len(distinct)):
        for j in range(i + 1, len(distinct)):
            if distinct[i][1] == distinct[j][1]:
                continue  # same feature seed (a truncation of the same clip) is not a "different input"
            c = cosine(distinct[i][2], distinct[j][2])
            if c > worst[0]:
                worst = (c, distinct[i][0], distinct[j][0])
    sanity["maxCosineBetweenDifferentInputs"] = worst[0]
    print(f"(a) different inputs: max cosine {worst[0]:.6f} ({worst[1]} vs {worst[2]}) over {len(distinct)} embeddings")
    ok &= worst[0] < 0.99

    # masks of the same input differ too
    worst_mask = -2.0
    for name, (case, raw) in by_name.items():
        if not case.get("masks") or raw.shape[1] < 2:
            continue
        for b in range(raw.shape[0]):
            for i in range(raw.shape[1]):
                for j in range(i + 1, raw.shape[1]):
                    worst_mask = max(worst_mask, cosine(raw[b, i], raw[b, j]))
    sanity["maxCosineBetweenMasksOfOneInput"] = worst_mask
    print(f"    different masks of one input: max cosine {worst_mask:.6f}")
    ok &= worst_mask < 0.99

    def worst_cosine(names, weights_pt, **mistake):
        """Highest cosine between the goldens of `names` and the reference run with a mistake."""
        worst = -2.0
        for name in names:
            case, raw = by_name[name]
            wrong = run_case(weights_pt, case, **mistake)
            for b in range(raw.shape[0]):
                for s in range(raw.shape[1]):
                    worst = max(worst, cosine(raw[b, s], wrong[b, s]))
        return worst

    # (b) wrong flattening order (F', C) instead of (C, F')
    flat_worst = worst_cosine(job["sanity"]["flattenCases"], pt, order="fc")
    sanity["cosineWithWrongFlattenOrder"] = flat_worst
    print(f"(b) pooled vector flattened (F', C) instead of (C, F'): max cosine {flat_worst:.6f}")
    ok &= flat_worst < 0.99

    # (c) kernel axes swapped: [O, kW, kH, I] instead of [O, kH, kW, I]
    kern_worst = worst_cosine(job["sanity"]["kernelCases"], to_torch_layout(weights, swap_kernel_axes=True))
    sanity["cosineWithKernelAxesSwapped"] = kern_worst
    print(f"(c) conv weights read as [O, kW, kH, I]: max cosine {kern_worst:.6f}")
    ok &= kern_worst < 0.99

    # subtler mistakes, for information: the min cosine over the items they change
    for label, variant, name in [
        ("masks resampled with nearest-exact instead of nearest", "nearest-exact", "weighted-2-masks-segmentation-rate"),
        ("padding frames not excluded (lengths ignored)", "ignore-lengths", "batch-variable-lengths"),
    ]:
        case, raw = by_name[name]
        wrong = run_case(pt, case, variant=variant)
        cos = [cosine(raw[b, s], wrong[b, s]) for b in range(raw.shape[0]) for s in range(raw.shape[1])]
        changed = [c for c in cos if c < 1 - 1e-12]
        key = "cosineWith" + "".join(w.capitalize() for w in variant.split("-"))
        sanity[key] = min(cos)
        print(f"    {label} ({name}): min cosine {min(cos):.6f}, {len(changed)} of {len(cos)} embeddings changed")

    # activation scale through the trunk (for tuning the generator's gains)
    case, _ = by_name[job["sanity"]["traceCase"]]
    feats = load_f32(case["features"][0], (case["frames"], 80))
    trace = []
    trunk(pt, feats, trace)
    parts = []
    for name, a in trace:
        parts.append(f"{name} rms {np.sqrt(np.mean(a * a)):.3g} on {np.mean(a > 0):.2f}")
    print("    activations (" + job["sanity"]["traceCase"] + "): " + "; ".join(parts))
    last = trace[-1][1]
    sanity["layer4Rms"] = float(np.sqrt(np.mean(last * last)))
    sanity["layer4FractionPositive"] = float(np.mean(last > 0))
    sanity["ok"] = bool(ok)

    with open(out_path, "w") as f:
        json.dump({"cases": results, "sanity": sanity}, f)
    if not ok:
        print("SANITY CHECK FAILED: the goldens would not detect a layout error; retune the generator")
        sys.exit(1)


if __name__ == "__main__":
    main()
