"""Activation ranges of an ONNX model, for ORT's quantize_static as TensorQuantOverrides.

ONNX Runtime runs the float model with every tensor ORT would calibrate exposed as an output
(the same selection as ORT's own calibrators: float inputs/outputs of the op types
quantize_static handles), twice (min/max, then histograms: ``activation_ranges``), and the
chosen (rmin, rmax) per tensor go to quantize_static, which turns them into the scale / zero
point of each QuantizeLinear exactly as for its own calibrators. Checked on MobileNetV2: the
65 QuantizeLinear scales and zero points are the ones computed here.
"""
from __future__ import annotations

import numpy as np

from .._optional import require
from .activation_ranges import Histograms

_BATCH = 4  # images per run: MobileNetV2's exposed tensors are ~28 MB per image


def calibrated_tensors(model) -> list[str]:
    """Float activations ORT's static quantizer calibrates (inputs/outputs of quantizable ops)."""
    onnx = require("onnx", extra="onnx")
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    ops = set(QLinearOpsRegistry) | set(QDQRegistry)
    inferred = onnx.shape_inference.infer_shapes(model)
    infos = {v.name: v for v in list(inferred.graph.value_info) + list(inferred.graph.input)
             + list(inferred.graph.output)}
    inits = {i.name for i in model.graph.initializer}
    floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16}
    names: list[str] = []
    for node in model.graph.node:
        if node.op_type not in ops:
            continue
        for t in list(node.input) + list(node.output):
            v = infos.get(t)
            if (t and t not in inits and t not in names and v is not None
                    and v.type.tensor_type.elem_type in floats):
                names.append(t)
    return names


def session_exposing(model, names: list[str]):
    """An ONNX Runtime session of ``model`` (changed in place) with the tensors ``names`` as outputs."""
    onnx = require("onnx", extra="onnx")
    ort = require("onnxruntime", extra="onnx")
    outputs = {o.name for o in model.graph.output}
    for t in names:
        if t not in outputs:
            model.graph.output.append(onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None))
    so = ort.SessionOptions()
    so.log_severity_level = 3
    # no spin-waiting threads: on a busy 2-core machine this pass took 6.5-8 s with ORT's
    # default spinning, 4.7-5.1 s without (idle cores: the same)
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _exposed(model_path):
    """(session, measured tensors, {Clip/Relu input: its output}) for ``model_path``.

    ORT gives the input of a removable Clip/Relu (consumed by it alone) the output's range,
    so those are not measured; they get the output's override (``_with_followers``)."""
    onnx = require("onnx", extra="onnx")
    model = onnx.load(str(model_path))
    consumers: dict[str, list] = {}
    for node in model.graph.node:
        for t in node.input:
            consumers.setdefault(t, []).append(node)
    follows = {n.input[0]: n.output[0] for n in model.graph.node
               if n.op_type in ("Clip", "Relu") and len(consumers[n.input[0]]) == 1}
    names = [t for t in calibrated_tensors(model) if t not in follows]
    return session_exposing(model, names), names, follows


def _batches(sess, names, arrays):
    input_name = sess.get_inputs()[0].name
    for i in range(0, len(arrays), _BATCH):
        batch = np.ascontiguousarray(arrays[i:i + _BATCH], dtype=np.float32)
        yield len(batch), dict(zip(names, sess.run(names, {input_name: batch})))


def _with_followers(ranges: dict, follows: dict) -> dict:
    over = {t: [{"rmin": np.float32(lo), "rmax": np.float32(hi)}] for t, (lo, hi) in ranges.items()}
    over.update({t: over[out] for t, out in follows.items() if out in over})
    return over


def mse_overrides(model_path, arrays: np.ndarray) -> dict:
    """{tensor: [{"rmin", "rmax"}]} for every calibrated tensor, MSE-optimal per tensor."""
    sess, names, follows = _exposed(model_path)
    hist = Histograms()
    for observe in (hist.add_range, hist.add):  # pass 1: min/max, pass 2: histograms
        for _, outputs in _batches(sess, names, arrays):
            observe(outputs)
    return _with_followers(hist.mse_ranges(), follows)


def averaged_minmax_overrides(model_path, arrays: np.ndarray) -> dict:
    """{tensor: [{"rmin", "rmax"}]}: each image's min and max, averaged over the images (what
    TFLite's and NNCF's "minmax" do; one outlier image cannot stretch a range for all)."""
    sess, names, follows = _exposed(model_path)
    lo = {t: [] for t in names}
    hi = {t: [] for t in names}
    for n, outputs in _batches(sess, names, arrays):
        for t, v in outputs.items():
            per_image = v.ndim > 0 and v.shape[0] == n  # not a constant (Clip bounds are tensors)
            flat = v.reshape(n, -1) if per_image else np.broadcast_to(v.reshape(1, -1), (n, v.size))
            lo[t].extend(flat.min(1))
            hi[t].extend(flat.max(1))
    ranges = {t: (min(float(np.mean(lo[t])), 0.0), max(float(np.mean(hi[t])), 0.0)) for t in names}
    return _with_followers(ranges, follows)
