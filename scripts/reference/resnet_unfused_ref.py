#!/usr/bin/env python3
"""Float64 numpy reference of the WeSpeaker ResNet34-LM network computed straight from a PyTorch
checkpoint's state dict, with every BatchNorm as its own layer, for the golden embeddings in
tests/fixtures/unfused.json (the converter's parity test: lib/hub/convert/torch.ts fuses BatchNorm into
the convolutions, this script does not).

Regenerate the fixture from the repository root (needs Deno and Python 3 with numpy; deterministic):

    deno run -A scripts/reference/make_unfused_golden.ts

That driver writes a full-size random checkpoint (tests/helpers/torch_writer.ts) and the inputs to a
temporary directory and runs this script on them:

    python3 scripts/reference/resnet_unfused_ref.py JOB.json OUT.json

JOB.json: {"checkpoints": [path, ...], "eps": float, "cases": [{"name", "frames", "features": path
(float32 LE, frames x 80, frame-major)}]}: the embeddings come from the first checkpoint; every other
one must hold the same network (pyannote's and WeSpeaker's packaging of one state dict).
OUT.json: {"cases": [{"name", "normalized": [256], "raw": [256]}], "sanity": {...}}

No torch needed: the checkpoint is read with the standard library's zipfile and a restricted
pickle.Unpickler (`load_checkpoint`, also used by make_checkpoints.py to check its own output), an
implementation independent of the TypeScript reader under test. Network definitions as in
resnet_ref.py (whose conv2d, flatten_cf, tstp helpers are reused): wespeaker's BasicBlock is
out = relu(bn1(conv1(x))); out = bn2(conv2(out)); out += shortcut(x) (1x1 conv + BN when strided);
out = relu(out), with eval-mode BatchNorm (x - running_mean) / sqrt(running_var + eps) * weight + bias.
"""

import collections
import io
import json
import os
import pickle
import struct
import sys
import zipfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from resnet_ref import conv2d, flatten_cf, normalize, resnet_trunk, sig, tstp  # noqa: E402

# ---------------------------------------------------------------------------------------------------------
# checkpoint reader

STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "BFloat16Storage": np.dtype("<u2"),  # the upper half of a float32: see _bfloat16
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}
STORAGE_DTYPES["UntypedStorage"] = np.dtype("u1")
TORCH_DTYPES = {"float32": np.dtype("<f4"), "float64": np.dtype("<f8"), "float16": np.dtype("<f2")}
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class _StorageType:
    def __init__(self, name):
        self.name = name
        self.dtype = STORAGE_DTYPES[name]


class _Storage:
    def __init__(self, array, name):
        self.array = array
        self.name = name


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    arr = storage.array
    if len(size) and min(size) > 0:
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        assert last < arr.size, ("view outside its storage", offset, size, stride, arr.size)
    view = np.lib.stride_tricks.as_strided(
        arr[offset:] if arr.size else arr, shape=tuple(size), strides=tuple(s * arr.itemsize for s in stride)
    )
    out = view.astype(np.float64) if storage.name != "BFloat16Storage" else _bfloat16(view)
    return out.copy()


def _rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype, metadata=None):
    return _rebuild_tensor_v2(_Storage(storage.array.view(dtype), dtype.name), offset, size, stride)


def _bfloat16(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


class _Inert(dict):
    """Any global not needed here (pyannote Specifications, enums, TorchVersion...): accepts anything."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass


class _Unpickler(pickle.Unpickler):
    def __init__(self, f, storage):
        super().__init__(f)
        self._storage = storage

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if (module, name) == ("torch._utils", "_rebuild_tensor_v3"):
            return _rebuild_tensor_v3
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return lambda data, *_: data
        if (module, name) == ("torch._tensor", "_rebuild_from_type_v2"):
            return lambda func, _type, args, _state: func(*args)
        if module in ("torch", "torch.storage") and name in STORAGE_DTYPES:
            return _StorageType(name)
        if module == "torch" and name in TORCH_DTYPES:
            return TORCH_DTYPES[name]
        return type(name, (_Inert,), {"__module__": module})

    def persistent_load(self, pid):
        typename, storage_type, key, _location, numel = pid[:5]
        assert typename == "storage", pid
        return _Storage(self._storage(key, storage_type, numel), storage_type.name)


def _load_zip(path):
    with zipfile.ZipFile(path) as zf:
        (pkl,) = [n for n in zf.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        root = pkl[: -len("data.pkl")]
        order = zf.read(root + "byteorder").decode() if root + "byteorder" in zf.namelist() else "little"
        assert order == "little", order

        def storage(key, storage_type, numel):
            arr = np.frombuffer(zf.read(f"{root}data/{key}"), dtype=storage_type.dtype)
            assert arr.size == numel, (key, arr.size, numel)
            return arr

        return _Unpickler(io.BytesIO(zf.read(pkl)), storage).load()


def _load_legacy(path):
    with open(path, "rb") as fp:
        f = io.BytesIO(fp.read())
    assert pickle.load(f) == LEGACY_MAGIC
    assert pickle.load(f) == 1001
    pickle.load(f)  # sys_info
    start = f.tell()
    # The storages follow the pickle, and their element types are only known from it: a first pass
    # learns them, a second one builds the tensors.
    declared = {}

    def declare(key, storage_type, numel):
        declared[key] = (storage_type, numel)
        return np.zeros(numel, dtype=storage_type.dtype)

    _Unpickler(f, declare).load()
    arrays = {}
    for key in pickle.load(f):
        storage_type, numel = declared[key]
        (count,) = struct.unpack("<q", f.read(8))
        assert count == numel, (key, count, numel)
        arrays[key] = np.frombuffer(f.read(numel * storage_type.dtype.itemsize), dtype=storage_type.dtype)
    f.seek(start)
    return _Unpickler(f, lambda key, _type, _numel: arrays[key]).load()


def load_checkpoint(path):
    """The unpickled object of a torch.save file (zip or legacy format); tensors as float64 arrays."""
    with open(path, "rb") as f:
        is_zip = f.read(4) == b"PK\x03\x04"
    return _load_zip(path) if is_zip else _load_legacy(path)


def state_dict_of(obj):
    """A Lightning checkpoint's state_dict, or the bare state dict; without pyannote's `resnet.` prefix."""
    sd = obj["state_dict"] if "state_dict" in obj else obj
    return {k[len("resnet.") :] if k.startswith("resnet.") else k: v for k, v in sd.items()}


# ---------------------------------------------------------------------------------------------------------
# network


def batch_norm(x, sd, name, eps):
    """Eval-mode BatchNorm2d over the channels of x (C, H, W)."""
    mean, var = sd[name + ".running_mean"], sd[name + ".running_var"]
    weight, bias = sd[name + ".weight"], sd[name + ".bias"]
    scale = weight / np.sqrt(var + eps)
    return (x - mean[:, None, None]) * scale[:, None, None] + bias[:, None, None]


def conv_bn(x, sd, conv, bn, stride, eps):
    w = sd[conv + ".weight"]
    return batch_norm(conv2d(x, w, sd.get(conv + ".bias", np.zeros(w.shape[0])), stride), sd, bn, eps)


def trunk(sd, feats, eps, trace=None):
    """The trunk with each BatchNorm a separate layer after its conv (PyTorch key names)."""

    def conv(x, name, stride):
        if name.endswith("shortcut"):
            return conv_bn(x, sd, name + ".0", name + ".1", stride, eps)
        return conv_bn(x, sd, name, name[: -len("conv1")] + "bn" + name[-1], stride, eps)  # convK -> bnK

    return resnet_trunk(conv, lambda name: name + ".0.weight" in sd, feats, trace)


def embed(sd, feats, eps, trace=None):
    """Raw (un-normalised) embedding (256,) of feats (T, 80): TSTP pooling then seg_1."""
    stats = tstp(flatten_cf(trunk(sd, feats, eps, trace), "cf"))
    return stats @ sd["seg_1.weight"].T + sd["seg_1.bias"]


# ---------------------------------------------------------------------------------------------------------
# job


def main():
    job_path, out_path = sys.argv[1], sys.argv[2]
    with open(job_path) as f:
        job = json.load(f)
    sd, *others = [state_dict_of(load_checkpoint(path)) for path in job["checkpoints"]]
    for path, other in zip(job["checkpoints"][1:], others):
        for key, value in sd.items():
            assert np.array_equal(other[key], value), (path, key)
    results, normalized = [], []
    for case in job["cases"]:
        feats = np.fromfile(case["features"], dtype="<f4").astype(np.float64).reshape(case["frames"], 80)
        trace = []
        raw = embed(sd, feats, job["eps"], trace)
        norm = normalize(raw)
        normalized.append(norm)
        last = trace[-1][1]
        print(
            f"  {case['name']}: |raw| {np.linalg.norm(raw):.3g}, layer4 rms {np.sqrt(np.mean(last * last)):.3g}, "
            f"{np.mean(last > 0):.2f} positive"
        )
        results.append({"name": case["name"], "normalized": [sig(v) for v in norm], "raw": [sig(v) for v in raw]})
    worst = max(float(a @ b) for i, a in enumerate(normalized) for b in normalized[i + 1 :])
    print(f"  max cosine between different inputs: {worst:.6f}")
    with open(out_path, "w") as f:
        json.dump({"cases": results, "sanity": {"maxCosineBetweenDifferentInputs": worst}}, f)
    if worst >= 0.99:
        print("SANITY CHECK FAILED: the goldens would not tell different inputs apart")
        sys.exit(1)


if __name__ == "__main__":
    main()
