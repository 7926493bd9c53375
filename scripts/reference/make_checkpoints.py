#!/usr/bin/env python3
"""Writes the small PyTorch checkpoint fixtures of tests/convert_torch.test.ts, in the real formats of
torch.save, with the Python standard library and numpy only (no torch). From the repository root:

    python3 scripts/reference/make_checkpoints.py

Deterministic (seeded numpy generator, fixed zip timestamps). Writes to tests/fixtures/torch/:

- pyannote_small.bin: a pyannote/Lightning checkpoint like pyannote's pytorch_model.bin (root
  `pytorch_model/`): `state_dict` (an OrderedDict with `_metadata`, keys `resnet.…` in module order,
  int64 `num_batches_tracked`), `pyannote.audio` (versions with a torch TorchVersion, architecture,
  a pickled `Specifications` dataclass holding `Problem`/`Resolution` enum members),
  `hyper_parameters` (a Lightning AttributeDict), epoch, global_step, and so on. The network keeps
  ResNet34's key structure but has a few channels per layer, to stay small.
- avg_model_small.pt: WeSpeaker's avg_model.pt for the same tensors (root `avg_model/`): a plain dict
  without the `resnet.` prefix, `projection.weight` (the ArcMargin head), and num_batches_tracked as
  float32 0-d tensors (average_model.py divides every tensor by the number of checkpoints).
- views.pt: tensors that are not one-tensor-per-contiguous-storage: a transpose, a channels-last conv
  weight, a slice with a storage offset, a stepped slice, two tensors sharing a storage, float16,
  bfloat16, float64, int64, int32, bool, a 0-d and an empty tensor; and the other ways torch pickles
  a tensor: an nn.Parameter (_rebuild_parameter), a subclass (_rebuild_from_type_v2), and
  _rebuild_tensor_v3 over an UntypedStorage with a dtype.
- views_legacy.pt: the same dict in torch's legacy (pre-1.6, `_use_new_zipfile_serialization=False`)
  format.
- expected.safetensors: every tensor of those files as float32, contiguous, named `<file>/<key>`
  (of avg_model_small.pt only `projection.weight`: the rest are pyannote_small.bin's).
- pickles.json: one sample object pickled with protocols 2-5 by Python's own pickler, with a JSON
  description of what the TypeScript unpickler must return; plus a pickle that would run
  `os.system` if it were loaded by pickle.load.

How torch.save writes (torch/serialization.py, caffe2/serialize/inline_container.cc): a protocol-2
pickle whose persistent ids are ('storage', <storage class>, key, 'cpu', numel) for storages, and
whose tensors reduce to torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
requires_grad, OrderedDict()); the zip is STORED, each entry's data 64-byte aligned with an 'FB'
extra field, in the order data.pkl, byteorder, data/<key> (keys sorted as strings), version,
.data/serialization_id. Stand-in classes and functions registered under the real module names make
pickle write the same GLOBAL opcodes.
"""

import collections
import dataclasses
import enum
import io
import json
import os
import pickle
import struct
import sys
import types
import zlib
from typing import List, Optional, Tuple

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from resnet_unfused_ref import LEGACY_MAGIC, load_checkpoint  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures", "torch")
STAGE_BLOCKS = [3, 4, 6, 3]
SMALL_CHANNELS = [2, 3, 3, 4]  # ResNet34-LM has [32, 64, 128, 256]
SMALL_EMBEDDING = (3, 8)  # seg_1: [embedding dim, pooled statistics]
PROJECTION_CLASSES = 5

# ---------------------------------------------------------------------------------------------------------
# stand-ins for the objects a real checkpoint pickles, registered under their real names


def _module(name):
    for i in range(1, name.count(".") + 2):
        sys.modules.setdefault(".".join(name.split(".")[:i]), types.ModuleType(".".join(name.split(".")[:i])))
    return sys.modules[name]


def stand_in(module):
    """Decorator: pickle names the object `module.<its name>` (pickle checks that the module holds it)."""

    def register(obj):
        obj.__module__ = module
        obj.__qualname__ = obj.__name__
        setattr(_module(module), obj.__name__, obj)
        return obj

    return register


def torch_function(module, name):
    """A stand-in for a torch function: pickle writes its name; nothing ever calls it."""

    def function(*args):
        raise RuntimeError(f"stand-in for {module}.{name}: only ever pickled")

    function.__name__ = name
    return stand_in(module)(function)


_rebuild_tensor_v2 = torch_function("torch._utils", "_rebuild_tensor_v2")
_rebuild_tensor_v3 = torch_function("torch._utils", "_rebuild_tensor_v3")
_rebuild_parameter = torch_function("torch._utils", "_rebuild_parameter")
_rebuild_from_type_v2 = torch_function("torch._tensor", "_rebuild_from_type_v2")
Parameter = stand_in("torch.nn.parameter")(type("Parameter", (), {}))
STORAGE_CLASSES = {
    name: stand_in("torch")(type(name, (), {}))
    for name in ["FloatStorage", "HalfStorage", "BFloat16Storage", "DoubleStorage", "LongStorage", "IntStorage", "BoolStorage"]
}
STORAGE_CLASSES["UntypedStorage"] = stand_in("torch.storage")(type("UntypedStorage", (), {}))


class TorchDtype:
    """torch.float32 & co.: pickled by name, as a global of the torch module."""

    def __init__(self, name):
        self.name = name
        setattr(_module("torch"), name, self)

    def __reduce__(self):
        return self.name


TorchDtype.__module__ = "torch"
FLOAT32 = TorchDtype("float32")


@stand_in("torch.torch_version")
class TorchVersion(str):
    pass


@stand_in("lightning_fabric.utilities.data")
class AttributeDict(dict):
    pass


@stand_in("pyannote.audio.core.task")
class Problem(enum.Enum):
    BINARY_CLASSIFICATION = 0
    MONO_LABEL_CLASSIFICATION = 1
    MULTI_LABEL_CLASSIFICATION = 2
    REPRESENTATION = 3
    REGRESSION = 4


@stand_in("pyannote.audio.core.task")
class Resolution(enum.Enum):
    FRAME = 1
    CHUNK = 2


@stand_in("pyannote.audio.core.task")
@dataclasses.dataclass
class Specifications:
    problem: Problem
    resolution: Resolution
    duration: float
    min_duration: Optional[float] = None
    warm_up: Optional[Tuple[float, float]] = (0.0, 0.0)
    classes: Optional[List[str]] = None
    powerset_max_classes: Optional[int] = None
    permutation_invariant: bool = False


class Storage:
    """A torch storage: a flat little-endian array and the storage class torch names it by."""

    def __init__(self, array, storage_class):
        self.array = np.ascontiguousarray(array)
        self.storage_class = STORAGE_CLASSES[storage_class]


class Tensor:
    """A view (offset and strides in elements) into a Storage, pickled as torch pickles tensors:
    `rebuild` "v2" is a plain tensor, "parameter" an nn.Parameter, "subclass" a tensor subclass with
    state (_rebuild_from_type_v2), "v3" a float32 tensor over an UntypedStorage (torch >= 2.1 does so
    for dtypes without a typed storage class)."""

    def __init__(self, storage, offset, size, stride, rebuild="v2"):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)
        self.rebuild = rebuild

    @classmethod
    def of(cls, array, storage_class="FloatStorage"):
        """A contiguous tensor owning its storage."""
        strides = tuple(int(np.prod(array.shape[i + 1 :])) for i in range(array.ndim))
        return cls(Storage(array.ravel(), storage_class), 0, array.shape, strides)

    def __reduce_ex__(self, protocol):
        args = (self.storage, self.offset, self.size, self.stride, False, collections.OrderedDict())
        if self.rebuild == "parameter":
            return _rebuild_parameter, (Tensor(*args[:4]), True, collections.OrderedDict())
        if self.rebuild == "subclass":
            return _rebuild_from_type_v2, (_rebuild_tensor_v2, Parameter, args, {})
        if self.rebuild == "v3":
            return _rebuild_tensor_v3, args + (FLOAT32,)
        return _rebuild_tensor_v2, args

    def values(self):
        """The tensor's values as float32, contiguous (what the reader must return)."""
        arr = self.storage.array
        if self.rebuild == "v3":
            arr = arr.view(np.float32)
        if self.storage.storage_class.__name__ == "BFloat16Storage":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        view = np.lib.stride_tricks.as_strided(
            arr[self.offset :], shape=self.size, strides=tuple(s * arr.itemsize for s in self.stride)
        )
        return view.astype(np.float32)


class TorchPickler(pickle.Pickler):
    """torch.save's pickler: storages become persistent ids, keyed like torch does."""

    def __init__(self, f, legacy=False):
        super().__init__(f, protocol=2)
        self.legacy = legacy
        self.storages = {}  # key -> Storage
        self._keys = {}  # id(storage) -> key

    def persistent_id(self, obj):
        if not isinstance(obj, Storage):
            return None
        if id(obj) not in self._keys:
            n = len(self._keys)
            # zip: "0", "1", ...; legacy: str(storage._cdata), an address (here decreasing, so that
            # the sorted key list is not the order of first use).
            self._keys[id(obj)] = str(140234567890000 - 96 * n) if self.legacy else str(n)
            self.storages[self._keys[id(obj)]] = obj
        pid = ("storage", obj.storage_class, self._keys[id(obj)], "cpu", obj.array.size)
        return pid + (None,) if self.legacy else pid


def write_torch_zip(path, root, obj):
    """The archive as torch's PyTorchStreamWriter (miniz) lays it out: STORED entries, no timestamps,
    each local header's extra field padded ("FB", length, "Z"...) so that the data starts on a
    64-byte boundary, no extra field in the central directory."""
    buf = io.BytesIO()
    pickler = TorchPickler(buf)
    pickler.dump(obj)
    records = [("data.pkl", buf.getvalue()), ("byteorder", b"little")]
    records += [(f"data/{key}", pickler.storages[key].array.tobytes()) for key in sorted(pickler.storages)]
    records += [("version", b"3\n"), (".data/serialization_id", b"1507612213730493412600000000000000000000")]
    out, central = bytearray(), bytearray()
    for name, data in records:
        name = f"{root}/{name}".encode()
        crc = zlib.crc32(data)
        pad = -(len(out) + 30 + len(name) + 4) % 64
        extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, crc, len(data), len(data), len(name), 0, 0, 0, 0, 0, len(out))
        central += name
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, crc, len(data), len(data), len(name), len(extra))
        out += name + extra + data
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(records), len(records), len(central), len(out), 0)
    with open(path, "wb") as f:
        f.write(bytes(out + central + eocd))


def write_torch_legacy(path, obj):
    f = io.BytesIO()
    pickle.dump(LEGACY_MAGIC, f, protocol=2)
    pickle.dump(1001, f, protocol=2)
    pickle.dump({"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}, f, protocol=2)
    pickler = TorchPickler(f, legacy=True)
    pickler.dump(obj)
    keys = sorted(pickler.storages)
    pickle.dump(keys, f, protocol=2)
    for key in keys:
        arr = pickler.storages[key].array
        f.write(struct.pack("<q", arr.size))
        f.write(arr.tobytes())
    with open(path, "wb") as out:
        out.write(f.getvalue())


# ---------------------------------------------------------------------------------------------------------
# contents


def small_state_dict(rng):
    """A cut-down WeSpeaker ResNet34 state dict (same keys as the real one, in module order)."""
    sd = collections.OrderedDict()
    metadata = collections.OrderedDict([("", {"version": 1})])

    def conv(name, out, inp, k):
        w = rng.normal(0, np.sqrt(2 / (inp * k * k)), (out, inp, k, k)).astype(np.float32)
        sd[name + ".weight"] = Tensor.of(w)
        metadata[name] = {"version": 1}

    def bn(name, channels):
        sd[name + ".weight"] = Tensor.of((1 + 0.1 * rng.standard_normal(channels)).astype(np.float32))
        sd[name + ".bias"] = Tensor.of((0.1 * rng.standard_normal(channels)).astype(np.float32))
        sd[name + ".running_mean"] = Tensor.of((0.1 * rng.standard_normal(channels)).astype(np.float32))
        sd[name + ".running_var"] = Tensor.of(rng.uniform(0.5, 1.5, channels).astype(np.float32))
        sd[name + ".num_batches_tracked"] = Tensor.of(np.array(int(rng.integers(1, 10**6)), dtype=np.int64), "LongStorage")
        metadata[name] = {"version": 2}

    conv("conv1", SMALL_CHANNELS[0], 1, 3)
    bn("bn1", SMALL_CHANNELS[0])
    inp = SMALL_CHANNELS[0]
    for stage, (blocks, out) in enumerate(zip(STAGE_BLOCKS, SMALL_CHANNELS)):
        metadata[f"layer{stage + 1}"] = {"version": 1}
        for b in range(blocks):
            p = f"layer{stage + 1}.{b}."
            metadata[p[:-1]] = {"version": 1}
            conv(p + "conv1", out, inp if b == 0 else out, 3)
            bn(p + "bn1", out)
            conv(p + "conv2", out, out, 3)
            bn(p + "bn2", out)
            if b == 0 and stage > 0:
                metadata[p + "shortcut"] = {"version": 1}
                conv(p + "shortcut.0", out, inp, 1)
                bn(p + "shortcut.1", out)
        inp = out
    sd["seg_1.weight"] = Tensor.of(rng.normal(0, 0.3, SMALL_EMBEDDING).astype(np.float32))
    sd["seg_1.bias"] = Tensor.of(rng.normal(0, 0.1, SMALL_EMBEDDING[0]).astype(np.float32))
    metadata["seg_1"] = {"version": 1}
    return sd, metadata


def pyannote_checkpoint(sd, metadata):
    state_dict = collections.OrderedDict(("resnet." + k, v) for k, v in sd.items())
    state_dict._metadata = collections.OrderedDict(
        ("resnet" + ("." + k if k else ""), v) for k, v in metadata.items()
    )
    state_dict._metadata[""] = {"version": 1}
    state_dict._metadata.move_to_end("", last=False)
    return {
        "epoch": 0,
        "global_step": 0,
        "pytorch-lightning_version": "2.1.3",
        "state_dict": state_dict,
        "loops": {},
        "callbacks": {},
        "optimizer_states": [],
        "lr_schedulers": [],
        "hparams_name": "kwargs",
        "hyper_parameters": AttributeDict(
            sample_rate=16000,
            num_channels=1,
            num_mel_bins=80,
            frame_length=25,
            frame_shift=10,
            dither=0.0,
            window_type="hamming",
            use_energy=False,
        ),
        "pyannote.audio": {
            "versions": {"torch": TorchVersion("2.1.2+cu121"), "pyannote.audio": "3.1.0"},
            "architecture": {"module": "pyannote.audio.models.embedding.wespeaker", "class": "WeSpeakerResNet34"},
            "specifications": Specifications(problem=Problem.REPRESENTATION, resolution=Resolution.CHUNK, duration=5.0),
        },
    }


def avg_model(sd, rng):
    out = {}
    for key, t in sd.items():
        # average_model.py's true_divide turns the int64 counters into floats.
        out[key] = Tensor.of(t.values()) if key.endswith("num_batches_tracked") else t
    out["projection.weight"] = Tensor.of(rng.normal(0, 0.1, (PROJECTION_CLASSES, SMALL_EMBEDDING[0])).astype(np.float32))
    return out


def views(rng):
    def f32(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    matrix = Storage(f32(3, 4).ravel(), "FloatStorage")
    nhwc = Storage(f32(2, 2, 2, 3).ravel(), "FloatStorage")  # a (2, 3, 2, 2) conv weight, channels last
    shared = Storage(f32(10), "FloatStorage")
    steps = Storage(f32(3, 6).ravel(), "FloatStorage")
    half = np.array([1.0, -2.5, 65504.0, 2.0**-10, 2.0**-24, -0.0], dtype=np.float16)
    bf16 = (np.array([1.5, -3.0e38, 2.0**-130, 0.1], dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16)
    return {
        "transposed": Tensor(matrix, 0, (4, 3), (1, 4)),
        "channels_last": Tensor(nhwc, 0, (2, 3, 2, 2), (12, 1, 6, 3)),
        "offset_slice": Tensor(shared, 3, (5,), (1,)),
        "shared_matrix": Tensor(shared, 0, (2, 5), (5, 1)),
        "stepped": Tensor(steps, 1, (3, 3), (6, 2)),
        "float16": Tensor(Storage(half, "HalfStorage"), 0, (2, 3), (3, 1)),
        "bfloat16": Tensor(Storage(bf16, "BFloat16Storage"), 0, (4,), (1,)),
        "float64": Tensor.of(np.array([[1 / 3, -1e-40], [1e30, 2.0**60 + 1]], dtype=np.float64), "DoubleStorage"),
        "int64": Tensor.of(np.array([0, -1, 2**40, 7], dtype=np.int64), "LongStorage"),
        "int32": Tensor.of(np.array([-(2**31), 2**31 - 1, 5], dtype=np.int32), "IntStorage"),
        "bool": Tensor.of(np.array([True, False, True]), "BoolStorage"),
        "scalar": Tensor.of(np.array(4.25, dtype=np.float32)),
        "empty": Tensor(Storage(np.zeros(0, dtype=np.float32), "FloatStorage"), 0, (0, 3), (3, 1)),
        "parameter": Tensor(matrix, 2, (2, 2), (4, 1), rebuild="parameter"),
        "subclass": Tensor(shared, 1, (3,), (2,), rebuild="subclass"),
        "untyped_v3": Tensor(Storage(f32(6).view(np.uint8), "UntypedStorage"), 1, (2, 2), (1, 2), rebuild="v3"),
    }


# ---------------------------------------------------------------------------------------------------------
# pickles.json: Python's own pickler, protocols 2-5


@stand_in("wespeaker_fixture")
class KeywordOnly:
    """Pickled with NEWOBJ_EX (protocol 4+): __getnewargs_ex__ has keyword arguments."""

    def __new__(cls, *args, **kwargs):
        return super().__new__(cls)

    def __init__(self, a, key):
        self.a, self.key = a, key

    def __getnewargs_ex__(self):
        return (self.a,), {"key": self.key}

    def __getstate__(self):
        return None


@stand_in("wespeaker_fixture")
class RunsACommand:
    """What a malicious pickle does: pickle.load would call os.system."""

    def __reduce__(self):
        return os.system, ("touch wespeaker-unpickled-me",)


def sample(protocol):
    shared = [1, "two"]
    value = {
        "none": None,
        "bools": [True, False],
        "ints": [0, 1, 255, 256, 65535, 65536, -1, -(2**31), 2**31 - 1, 2**31, 2**53 - 1, 2**53 + 1, -(2**63), 2**100],
        "floats": [0.5, -1e-300, 1e300, 3.141592653589793, -2.75],
        "text": "héllo ☃ 𝄞 " + "x" * 300,
        "bytes": bytes(range(256)) * 2,
        "short bytes": b"\x00\xffab",
        "tuples": ((), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)),
        "set": {1, 2, 3},
        "frozenset": frozenset({"a"}),
        "shared": shared,
        "shared again": shared,
        "ordered": collections.OrderedDict([("b", 1), ("a", 2)]),
        "nested": {"list": [[1], [2, [3, {"deep": ()}]]], 7: "int key"},
        "enum": Problem.REPRESENTATION,
        "specifications": Specifications(Problem.REPRESENTATION, Resolution.CHUNK, duration=2.5, warm_up=(0.5, 0.25)),
        "attribute dict": AttributeDict(sample_rate=16000),
        "version": TorchVersion("2.1.2"),
    }
    if protocol == 2:
        value["many"] = [None] * 1001  # more than one APPENDS batch
    if protocol >= 4:
        value["keyword only"] = KeywordOnly(1, key="k")
    return value


def describe(v):
    """The JSON form tests/convert_torch.test.ts gives the TypeScript unpickler's result."""
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, enum.Enum):
        return {"object": f"{type(v).__module__}.{type(v).__qualname__}", "args": [describe(v.value)]}
    if isinstance(v, TorchVersion):
        return {"object": "torch.torch_version.TorchVersion", "args": [str(v)]}
    if isinstance(v, AttributeDict):
        return {"object": "lightning_fabric.utilities.data.AttributeDict", "args": [], "items": describe(dict(v))}
    if isinstance(v, KeywordOnly):
        return {"object": "wespeaker_fixture.KeywordOnly", "args": [describe(v.a)], "kwargs": describe({"key": v.key})}
    if dataclasses.is_dataclass(v):
        return {"object": f"{type(v).__module__}.{type(v).__qualname__}", "args": [], "state": describe(vars(v))}
    if isinstance(v, int):
        return {"int": str(v)}
    if isinstance(v, float):
        assert not v.is_integer() or abs(v) > 2**53, "an integral float would read back as an int"
        return {"float": v}
    if isinstance(v, str):
        return v
    if isinstance(v, bytes):
        return {"bytes": v.hex()}
    if isinstance(v, list):
        return {"list": [describe(x) for x in v]}
    if isinstance(v, tuple):
        return {"tuple": [describe(x) for x in v]}
    if isinstance(v, dict):
        return {"dict": [[describe(k), describe(x)] for k, x in v.items()]}
    if isinstance(v, (set, frozenset)):
        return {"set": sorted((describe(x) for x in v), key=json.dumps)}
    raise TypeError(type(v))


def pickles():
    cases = [
        {"name": f"protocol {p}", "hex": pickle.dumps(sample(p), protocol=p).hex(), "expected": describe(sample(p))}
        for p in (2, 3, 4, 5)
    ]
    evil = pickle.dumps(RunsACommand(), protocol=2)
    cases.append(
        {
            "name": "os.system call",
            "hex": evil.hex(),
            "expected": {"object": f"{os.system.__module__}.system", "args": ["touch wespeaker-unpickled-me"]},
        }
    )
    return cases


# ---------------------------------------------------------------------------------------------------------


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, arr in tensors.items():
        data = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text.encode() + b"".join(blobs))


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20250604)
    sd, metadata = small_state_dict(rng)
    files = {
        "pyannote_small.bin": (pyannote_checkpoint(sd, metadata), lambda p, o: write_torch_zip(p, "pytorch_model", o)),
        "avg_model_small.pt": (avg_model(sd, rng), lambda p, o: write_torch_zip(p, "avg_model", o)),
        "views.pt": (views(rng), lambda p, o: write_torch_zip(p, "archive", o)),
    }
    files["views_legacy.pt"] = (files["views.pt"][0], write_torch_legacy)
    expected = {}
    for name, (obj, write) in files.items():
        path = os.path.join(OUT, name)
        write(path, obj)
        tensors = obj["state_dict"] if "state_dict" in obj else obj
        # Read back with the independent reader of resnet_unfused_ref.py.
        loaded = load_checkpoint(path)
        loaded = loaded["state_dict"] if "state_dict" in loaded else loaded
        assert list(loaded) == list(tensors), name
        for key, t in tensors.items():
            want = t.values()
            assert np.array_equal(loaded[key].astype(np.float32), want), (name, key)
            # avg_model_small.pt holds pyannote_small.bin's tensors (the tests check that): only its
            # head is recorded.
            if name != "avg_model_small.pt" or key.startswith("projection."):
                expected[f"{name}/{key}"] = want
        print(f"wrote {path}: {os.path.getsize(path)} bytes, {len(tensors)} tensors")
    write_safetensors(os.path.join(OUT, "expected.safetensors"), expected)
    with open(os.path.join(OUT, "pickles.json"), "w") as f:
        f.write('{"regenerate": "python3 scripts/reference/make_checkpoints.py", "cases": [\n')
        f.write(",\n".join(json.dumps(case, ensure_ascii=False, separators=(",", ":")) for case in pickles()))
        f.write("\n]}\n")
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"tests/fixtures/torch: {total} bytes in all")


if __name__ == "__main__":
    main()
