"""The int8 preparation of prepare.py (channel equalization, then GPTQ weight rounding) done on an
ONNX graph, for models that have no torch module: a Keras model exported by tf2onnx.

The same groups (``equalize_graph.find_groups``), the same scales (``equalize._scales``) and the
same GPTQ (``weight_rounding``) as for torch; the statistics come from ONNX Runtime running the
float graph with the tensors they need exposed as outputs, and the scales and rounded weights
are written into the graph's initializers. The graph is first optimized by ONNX Runtime's basic,
portable level, which folds BatchNorm (and the Mul/Add tf2onnx leaves) into the convolutions.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from .._optional import require
from .equalize import TOLERANCE, _scales

_BATCH = 4


def prepare_onnx_for_int8(src: Path, dst: Path, calibration: np.ndarray, progress=None) -> dict:
    """Write at ``dst`` the graph of ``src`` with equalized, GPTQ-rounded weights; return a summary.
    ``calibration``: float32 images in the graph's own input layout (never evaluation images)."""
    import time

    onnx = require("onnx", extra="onnx")
    say = progress or (lambda _m: None)
    with tempfile.TemporaryDirectory(prefix="edgekit-prep-") as td:
        fused = Path(td) / "fused.onnx"
        _optimize(src, fused)
        model = onnx.load(str(fused))
    inits = {i.name: i for i in model.graph.initializer if i.data_type == onnx.TensorProto.FLOAT}
    weights = {name: onnx.numpy_helper.to_array(t).copy() for name, t in inits.items()}
    t0 = time.perf_counter()
    say("int8 prep: equalizing channel ranges (on the ONNX graph)")
    summary = {"equalization": _equalize(model, weights, calibration)}
    t1 = time.perf_counter()
    say("int8 prep: GPTQ weight rounding (on the ONNX graph)")
    summary["weight_rounding"] = _gptq_round(model, weights, calibration)
    for name, t in inits.items():
        t.CopyFrom(onnx.numpy_helper.from_array(weights[name].astype(np.float32), name))
    onnx.save(model, str(dst))
    summary["seconds"] = {"equalization": round(t1 - t0, 2), "weight_rounding": round(time.perf_counter() - t1, 2)}
    summary["graph"] = "ONNX (onnxruntime basic optimization: BatchNorm folded into the convolutions)"
    return summary


def _optimize(src: Path, dst: Path) -> None:
    ort = require("onnxruntime", extra="onnx")
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    so.optimized_model_filepath = str(dst)
    so.log_severity_level = 3
    ort.InferenceSession(str(src), so, providers=["CPUExecutionProvider"])


def _run(model, weights: dict, names: list[str], calibration: np.ndarray, limit: int | None = None):
    """Yield {name: value} per batch of ``calibration`` for the graph with ``weights``."""
    from .onnx_ranges import session_exposing

    onnx = require("onnx", extra="onnx")
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for t in probe.graph.initializer:
        if t.name in weights:
            t.CopyFrom(onnx.numpy_helper.from_array(weights[t.name].astype(np.float32), t.name))
    sess = session_exposing(probe, names)
    feed = sess.get_inputs()[0].name
    end = len(calibration) if limit is None else min(limit, len(calibration))
    for i in range(0, end, _BATCH):
        batch = np.ascontiguousarray(calibration[i:min(i + _BATCH, end)], dtype=np.float32)
        yield dict(zip(names, sess.run(names, {feed: batch})))


def _nodes_by_weight(model) -> dict:
    return {n.input[1]: n for n in model.graph.node if n.op_type in ("Conv", "Gemm", "MatMul") and len(n.input) > 1}


def _equalize(model, weights: dict, calibration: np.ndarray) -> dict:
    from .equalize_graph import find_groups

    groups = find_groups(model)
    node_of = _nodes_by_weight(model)
    watch = {}  # tensor -> groups whose per-channel |max| it feeds
    for k, g in enumerate(groups):
        for w, _ in g["consumers"]:
            watch.setdefault(node_of[w].input[0], []).append(k)
        if g["kind"] == "linear":
            for w in g["producers"]:
                watch.setdefault(node_of[w].output[0], []).append(k)
    out_name = model.graph.output[0].name
    absmax: dict[int, np.ndarray] = {}
    before = None
    for values in _run(model, weights, list(watch) + [out_name], calibration):
        before = values[out_name] if before is None else before
        for t, ks in watch.items():
            m = np.abs(values[t]).max(axis=tuple(i for i in range(values[t].ndim) if i != 1))
            for k in ks:
                absmax[k] = m if k not in absmax else np.maximum(absmax[k], m)
    if not absmax:
        return {"method": "channel equalization", "groups": 0}
    original = {n: w.copy() for n, w in weights.items()}
    scales = {k: _scales(groups[k], absmax[k]).astype(np.float32) for k in absmax}
    for k, d in scales.items():
        g = groups[k]
        for w in g["producers"]:
            weights[w] *= d.reshape(-1, *[1] * (weights[w].ndim - 1))
            weights[node_of[w].input[2]] *= d
        for w, kind in g["consumers"]:
            shape = (1, -1) if kind == "dense" else (-1, 1)
            weights[w] /= d.reshape(*shape, *[1] * (weights[w].ndim - 2))
    after = next(_run(model, weights, [out_name], calibration, limit=_BATCH))[out_name]
    diff = float(np.abs(after - before[:len(after)]).max() / max(np.abs(before[:len(after)]).max(), 1e-12))
    if diff > TOLERANCE:  # exact by construction; a mismatch means the graph was misread
        weights.update(original)
        return {"method": "channel equalization", "skipped": f"changed calibration outputs by {diff:.1e}"}
    return {"method": "channel equalization", "groups": len(scales),
            "channels_rescaled": int(sum((np.abs(d - 1) > 1e-6).sum() for d in scales.values())),
            "relative_change": diff}


def _layer(node, w: np.ndarray):
    """(weight as (groups, out/groups, fan_in/groups), fake conv for the Hessian or None, put back)."""
    from onnx import helper

    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if node.op_type == "Conv":
        if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", b"VALID") or w.ndim != 4:
            return None
        g = int(attrs.get("group", 1))
        pads = list(attrs.get("pads", [0, 0, 0, 0]))
        conv = SimpleNamespace(kernel_size=tuple(w.shape[2:]), stride=tuple(attrs.get("strides", [1, 1])),
                               dilation=tuple(attrs.get("dilations", [1, 1])), groups=g,
                               _reversed_padding_repeated_twice=(pads[1], pads[3], pads[0], pads[2]))
        return w.reshape(g, w.shape[0] // g, -1), conv, lambda q: q.reshape(w.shape)
    if node.op_type == "Gemm" and attrs.get("transB", 0):
        return w[None], None, lambda q: q[0]
    if (node.op_type == "MatMul" or (node.op_type == "Gemm" and not attrs.get("transA", 0))) and w.ndim == 2:
        return w.T[None], None, lambda q: q[0].T
    return None


def _gptq_round(model, weights: dict, calibration: np.ndarray, damp: float = 0.01) -> dict:
    import torch

    from .weight_grid import grid_for, pairs_known, row_steps
    from .weight_rounding import _input_hessian, round_layer

    layers = {}
    for w, node in _nodes_by_weight(model).items():
        if w in weights and node.input[0] not in weights:
            found = _layer(node, weights[w])
            if found is not None:
                layers[w] = (node.input[0], *found)
    stats: dict[str, torch.Tensor] = {}
    signed: dict[str, bool] = {}  # input went negative: a saturation-safe grid (quantize/weight_grid.py)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # see prepare.py: 2 OpenMP threads on a shared 2-core machine spin
    try:
        for values in _run(model, weights, sorted({v[0] for v in layers.values()}), calibration):
            for w, (inp, _, conv, _) in layers.items():
                x = torch.from_numpy(values[inp])
                h = (_input_hessian(conv, x) if conv is not None
                     else (lambda f: (f.T @ f).double()[None])(x.reshape(-1, x.shape[-1]).float()))
                stats[w] = h if w not in stats else stats[w] + h
                signed[w] = signed.get(w, False) or bool(values[inp].min() < 0)
        changed = 0
        safe = {}
        for w, (_, w2, conv, put_back) in layers.items():
            w2 = torch.from_numpy(np.ascontiguousarray(w2))
            known = pairs_known("linear", (1, 1), 1) if conv is None else pairs_known("conv", conv.kernel_size, conv.groups)
            grid = grid_for("signed-inputs", signed.get(w, False), known)
            if grid != "8-bit":
                safe[w] = grid
            q = round_layer(w2, stats[w], damp, grid)
            scale = w2.abs().amax(2, keepdim=True).clamp_min(1e-12) / row_steps(w2, grid)
            changed += int((torch.round(q / scale) != torch.round(w2 / scale)).sum())
            weights[w] = np.ascontiguousarray(put_back(q.numpy()))
    finally:
        torch.set_num_threads(threads)
    return {"method": "gptq", "layers": len(layers), "weights_rounded_differently": changed,
            "saturation_safe_layers": safe,
            "calibration_images": int(len(calibration))}
