#!/usr/bin/env python3
"""Writes tests/fixtures/onnx_small.onnx and tests/fixtures/onnx_small.json: a tiny ONNX model made
with the official `onnx` package, so that lib/hub/convert/onnx.ts is tested on bytes our own encoder
(scripts/export_onnx.ts) did not write.

Regenerate from the repository root (deterministic; needs `pip install onnx onnxruntime numpy`):

    python3 scripts/reference/make_onnx_fixture.py

The model is a cut-down speaker network in the real format: feats [B, T, 4] -> Transpose ->
Unsqueeze (axes from a Constant node) -> Conv 3x3 -> BatchNormalization (parameters partly through
Cast) -> Relu -> ReduceMean over time -> Reshape -> Add (a Constant value_floats) -> Gemm (transB=1)
-> embs [B, 3], with sherpa-onnx style metadata_props. Its initializers are stored every way the
reader must handle: raw_data and float_data (FLOAT), raw_data and int32_data (FLOAT16), double_data
(DOUBLE), int64_data with a negative value (INT64), raw_data and int32_data (INT32, in two
initializers no node reads). Attributes cover FLOAT, INT, STRING, TENSOR, FLOATS and INTS (with a
negative entry). The model passes onnx.checker and runs in ONNX Runtime.

The JSON holds what the reader must return, read back with `onnx` itself: every initializer's dims,
data type and values (as float32 for float types) and which field stores them, every node's op type,
inputs, outputs and attributes, the metadata and the opset.
"""

import json
import os

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT_ONNX = os.path.join(ROOT, "tests", "fixtures", "onnx_small.onnx")
OUT_JSON = os.path.join(ROOT, "tests", "fixtures", "onnx_small.json")


def build():
    conv_w = ((np.arange(18, dtype=np.float32) - 9) / 8).reshape(2, 1, 3, 3)
    inits = [
        numpy_helper.from_array(conv_w, "conv.weight"),  # FLOAT in raw_data
        helper.make_tensor("conv.bias", TensorProto.FLOAT, [2], [0.25, -0.5]),  # float_data
        helper.make_tensor("bn.scale", TensorProto.FLOAT, [2], [1.5, 0.75]),  # float_data
        numpy_helper.from_array(np.array([0.125, -2.5], dtype=np.float16), "bn.bias"),  # FLOAT16 raw_data
        helper.make_tensor("bn.mean", TensorProto.DOUBLE, [2], [0.1, -0.3]),  # double_data
        # FLOAT16 without raw_data: helper stores the half-precision bits in int32_data.
        helper.make_tensor("bn.var", TensorProto.FLOAT16, [2], np.array([0.5, 2.0], dtype=np.float16)),
        helper.make_tensor("reshape.shape", TensorProto.INT64, [2], [0, -1]),  # int64_data, negative
        numpy_helper.from_array(
            ((np.arange(24, dtype=np.float32) % 7 - 3) / 4).reshape(3, 8), "seg.weight"
        ),
        numpy_helper.from_array(np.array([0.5, -1.0, 2.0], dtype=np.float32), "seg.bias"),
        # INT32 in raw_data and in int32_data; no node reads them (ONNX Runtime drops them with a warning).
        numpy_helper.from_array(np.array([[7, -8, 2**31 - 1]], dtype=np.int32), "spare.int32.raw"),
        helper.make_tensor("spare.int32.list", TensorProto.INT32, [2], [-(2**31), 5]),
    ]
    nodes = [
        helper.make_node("Transpose", ["feats"], ["x_ft"], name="/Transpose", perm=[0, 2, 1]),
        helper.make_node(
            "Constant",
            [],
            ["unsqueeze.axes"],
            name="/Constant",
            value=numpy_helper.from_array(np.array([1], dtype=np.int64)),
        ),
        helper.make_node("Unsqueeze", ["x_ft", "unsqueeze.axes"], ["x4"], name="/Unsqueeze"),
        helper.make_node(
            "Conv",
            ["x4", "conv.weight", "conv.bias"],
            ["conv_out"],
            name="/conv/Conv",
            auto_pad="NOTSET",
            kernel_shape=[3, 3],
            pads=[1, 1, 1, 1],
            strides=[1, 1],
            dilations=[1, 1],
            group=1,
        ),
        # The FLOAT16 and DOUBLE initializers reach BatchNormalization through Casts (its parameters
        # must share the input's type in ONNX Runtime).
        helper.make_node("Cast", ["bn.bias"], ["bn.bias.f"], name="/Cast", to=TensorProto.FLOAT),
        helper.make_node("Cast", ["bn.mean"], ["bn.mean.f"], name="/Cast_1", to=TensorProto.FLOAT),
        helper.make_node("Cast", ["bn.var"], ["bn.var.f"], name="/Cast_2", to=TensorProto.FLOAT),
        helper.make_node(
            "BatchNormalization",
            ["conv_out", "bn.scale", "bn.bias.f", "bn.mean.f", "bn.var.f"],
            ["bn_out"],
            name="/bn/BatchNormalization",
            epsilon=1e-5,
            momentum=0.9,
        ),
        helper.make_node("Relu", ["bn_out"], ["relu_out"], name="/Relu"),
        helper.make_node("ReduceMean", ["relu_out"], ["mean"], name="/pool/ReduceMean", axes=[-1], keepdims=0),
        helper.make_node("Reshape", ["mean", "reshape.shape"], ["flat"], name="/pool/Reshape"),
        helper.make_node("Constant", [], ["offset"], name="/Constant_1", value_floats=[0.0] * 8),
        helper.make_node("Add", ["flat", "offset"], ["stats"], name="/pool/Add"),
        helper.make_node(
            "Gemm", ["stats", "seg.weight", "seg.bias"], ["embs"], name="/seg/Gemm", alpha=1.0, beta=1.0, transB=1
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "small_graph",
        [helper.make_tensor_value_info("feats", TensorProto.FLOAT, ["B", "T", 4])],
        [helper.make_tensor_value_info("embs", TensorProto.FLOAT, ["B", 3])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="make_onnx_fixture.py")
    model.ir_version = 8
    for key, value in [
        ("framework", "wespeaker"),
        ("language", "English"),
        ("url", "https://example.invalid/small.onnx"),
        ("comment", "tiny fixture, ünïcode ok"),
        ("sample_rate", "16000"),
        ("output_dim", "3"),
        ("normalize_samples", "0"),
    ]:
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    return model


def attribute_json(a):
    value = helper.get_attribute_value(a)
    if a.type == onnx.AttributeProto.TENSOR:
        return {"type": a.type, "tensor": tensor_json(value)}
    if a.type == onnx.AttributeProto.STRING:
        value = value.decode("utf-8")
    elif a.type == onnx.AttributeProto.FLOAT:
        value = float(np.float32(value))
    elif a.type == onnx.AttributeProto.FLOATS:
        value = [float(np.float32(v)) for v in value]
    elif a.type == onnx.AttributeProto.INTS:
        value = [int(v) for v in value]
    return {"type": a.type, "value": value}


def tensor_json(t):
    arr = numpy_helper.to_array(t)
    if arr.dtype.kind == "f":
        values = [float(np.float32(v)) for v in arr.reshape(-1)]
    else:
        values = [int(v) for v in arr.reshape(-1)]
    return {"name": t.name, "dims": [int(d) for d in t.dims], "dataType": t.data_type, "values": values}


def main():
    model = build()
    onnx.checker.check_model(model, full_check=True)
    data = model.SerializeToString()
    with open(OUT_ONNX, "wb") as f:
        f.write(data)

    # Read back from the bytes with onnx itself, and run it once, so the JSON describes a real, valid model.
    back = onnx.load_from_string(data)
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # the unused INT32 initializers are meant to be there
    session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    feats = (np.arange(2 * 5 * 4, dtype=np.float32).reshape(2, 5, 4) % 5 - 2) / 2
    (embs,) = session.run(["embs"], {"feats": feats})
    assert embs.shape == (2, 3) and np.isfinite(embs).all(), embs

    storage = {}
    for t in back.graph.initializer:
        storage[t.name] = [f.name for f, _ in t.ListFields() if f.name in ("raw_data", "float_data", "int32_data", "double_data", "int64_data")]
    expected = {
        "irVersion": back.ir_version,
        "producerName": back.producer_name,
        "opsetImports": [{"domain": o.domain, "version": o.version} for o in back.opset_import],
        "metadata": {p.key: p.value for p in back.metadata_props},
        "inputs": [{"name": "feats", "elemType": 1, "shape": ["B", "T", 4]}],
        "outputs": [{"name": "embs", "elemType": 1, "shape": ["B", 3]}],
        "initializers": [tensor_json(t) for t in back.graph.initializer],
        "storage": storage,
        "nodes": [
            {
                "name": n.name,
                "opType": n.op_type,
                "inputs": list(n.input),
                "outputs": list(n.output),
                "attributes": {a.name: attribute_json(a) for a in n.attribute},
            }
            for n in back.graph.node
        ],
    }
    with open(OUT_JSON, "w") as f:
        json.dump(expected, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {OUT_ONNX} ({len(data)} bytes) and {OUT_JSON}; storage: {storage}")


if __name__ == "__main__":
    main()
