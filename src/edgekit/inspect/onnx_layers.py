"""Per-layer error of an int8 QDQ ONNX file against the float ONNX file of the same model.

Each quantized layer (a node with a dequantized input: Conv, Gemm, Add, pooling ...) is found in
the int8 graph, named by the torch module it came from, and its int8 output (the DequantizeLinear
after it, i.e. the value the next layer reads) is compared with the float file's tensor of the
same name, on the images given. Both files are run by ONNX Runtime with those tensors added as
graph outputs; statistics are accumulated batch by batch, so memory stays at one batch.

Channel equalization (quantize/equalize.py) rescales some channels between conv pairs in the
int8 file's model, so each channel is compared after its least-squares gain (q_c ~ g_c f_c), as
benchmarks/tflite_layer_sqnr.py does; ``sqnr_db_raw`` is the plain figure (no gain), which for
the model's output equals validate's SQNR definition.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .._optional import require

QDQ = ("QuantizeLinear", "DequantizeLinear")
SHAPE_OPS = {"Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Constant", "Shape",
             "Gather", "Concat", "Slice", "Cast"}  # move values, do not compute new ones


def module_path(node_name: str, weight: str = "") -> str:
    """The torch module a node came from. A Conv/Gemm's weight keeps its parameter name
    (``features.14.conv.1.0.weight``); other nodes are named by the legacy exporter's scopes
    (``/features/features.16/Add``: each scope is the child's name relative to an ancestor)."""
    base = weight.removesuffix("_DequantizeLinear_Output").removesuffix("_quantized")
    if base.endswith(".weight"):
        return base.removesuffix(".weight")
    full, prev = "", None
    for part in node_name.strip("/").split("/")[:-1]:
        if prev is not None and part.startswith(prev + "."):
            full = full[: len(full) - len(prev)] + part
        else:
            full = f"{full}.{part}" if full else part
        prev = part
    return full


def quantized_layers(model) -> list[dict]:
    """The int8 graph's compute nodes that read dequantized values, in graph (network) order,
    each with its output tensor, the dequantized int8 output (None: left float) and its range."""
    from onnx import numpy_helper

    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for n in model.graph.node:  # a few exporters keep scales in Constant nodes
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            inits.setdefault(n.output[0], numpy_helper.to_array(n.attribute[0].t))
    dq_out = {n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    q_of = {n.input[0]: n for n in model.graph.node if n.op_type == "QuantizeLinear"}
    dq_of = {n.input[0]: n for n in model.graph.node if n.op_type == "DequantizeLinear"}
    dq_node = {n.output[0]: n for n in model.graph.node if n.op_type == "DequantizeLinear"}
    layers = []
    for n in model.graph.node:
        if n.op_type in QDQ or n.op_type in SHAPE_OPS or not any(i in dq_out for i in n.input):
            continue
        out = n.output[0]
        weight = n.input[1] if len(n.input) > 1 else ""
        layer = {"node": n.name, "op": n.op_type, "module": module_path(n.name, weight), "tensor": out,
                 "int8_tensor": None, "output_quantization": None, "weights": None}
        q = q_of.get(out)
        if q is not None and q.output[0] in dq_of:
            scale = inits.get(q.input[1])
            zero = inits.get(q.input[2]) if len(q.input) > 2 else np.zeros((), np.uint8)
            if scale is not None and zero is not None:
                info = np.iinfo(zero.dtype)
                s, z = float(np.ravel(scale)[0]), int(np.ravel(zero)[0])
                layer["output_quantization"] = {"dtype": str(zero.dtype), "scale": s, "zero_point": z,
                                                "range": [(info.min - z) * s, (info.max - z) * s]}
            layer["int8_tensor"] = dq_of[q.output[0]].output[0]
        w = dq_node.get(n.input[1]) if len(n.input) > 1 else None
        if w is not None and w.input[0] in inits:
            ws = np.ravel(inits.get(w.input[1], np.zeros(0)))
            layer["weights"] = {"dtype": str(inits[w.input[0]].dtype), "scales": int(ws.size),
                                "granularity": "per-channel" if ws.size > 1 else "per-tensor"}
        layers.append(layer)
    return layers


def _session(model, outputs: list[str], threads: int):
    onnx = require("onnx", extra="onnx")
    ort = require("onnxruntime", extra="onnx")
    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    m.graph.output.extend(onnx.helper.make_empty_tensor_value_info(t) for t in outputs if t not in have)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = threads
    return ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])


class _Stats:
    """Per-channel sums of f*q, f*f, q*q (float64) and per-image cosines, batch by batch; f is the
    float tensor times the channel gains equalization gave the int8 file (None: all 1)."""

    def __init__(self, gain) -> None:
        """``gain``: per-channel array, None (all 1), or "fit" (each channel's least-squares gain)."""
        self.fit = isinstance(gain, str)
        self.gain = None if self.fit or gain is None or np.size(gain) <= 1 else np.asarray(gain, np.float64)
        self.sums = None
        self.cos: list[float] = []

    def add(self, f: np.ndarray, q: np.ndarray) -> None:
        f, q = f.astype(np.float64), q.astype(np.float64)
        channels = f.shape[1] if f.ndim > 1 else 1
        if self.gain is not None and self.gain.size == channels:
            f = f * self.gain.reshape((1, -1) + (1,) * (f.ndim - 2))
        f2, q2 = (np.moveaxis(t, 1, -1).reshape(-1, channels) if t.ndim > 1 else t.reshape(-1, 1) for t in (f, q))
        sums = np.stack([(f2 * q2).sum(0), (f2 * f2).sum(0), (q2 * q2).sum(0)])
        self.sums = sums if self.sums is None else self.sums + sums
        fi, qi = f.reshape(len(f), -1), q.reshape(len(q), -1)
        norm = np.linalg.norm(fi, axis=1) * np.linalg.norm(qi, axis=1)
        self.cos += list(np.where(norm > 0, (fi * qi).sum(1) / np.maximum(norm, 1e-300), 1.0))

    def figures(self) -> dict:
        if self.fit:  # pooled cosine: per-image cosines would need the gains before the data
            fq, ff, qq = self.sums
            g = np.where(ff > 0, fq / np.maximum(ff, 1e-300), 0.0)
            signal, cross = (g * g * ff).sum(), (g * fq).sum()
            return {"sqnr_db": _db(signal, max(qq.sum() - 2 * cross + signal, 0.0)),
                    "cosine": float(cross / np.sqrt(max(signal * qq.sum(), 1e-300))), "rescaled": True}
        fq, ff, qq = self.sums.sum(1)
        return {"sqnr_db": _db(ff, max(qq - 2 * fq + ff, 0.0)), "cosine": float(np.mean(self.cos)),
                "cosine_min": float(np.min(self.cos)),
                "rescaled": self.gain is not None and bool(np.abs(self.gain - 1).max() > 0.02)}


def _db(signal: float, noise: float) -> float:
    if noise <= 0:
        return float("inf")
    return float(10 * np.log10(signal / noise)) if signal > 0 else float("-inf")


def _initializers(model) -> dict:
    from onnx import numpy_helper

    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}


def channel_gains(int8_model, float_model, float_weights: dict | None = None) -> dict[str, np.ndarray]:
    """Per-channel gain of each int8-graph tensor against the float model (equalization's
    rescaling), propagated from the input through the weights of both files: a Conv/Gemm's
    int8 weight is w8[o, i] = w32[o, i] * g_o / d_i, d being its input's gains, so g_o is the
    least-squares ratio of w8 * d to w32; Q/DQ, Clip/Relu, Add, pooling and reshapes keep gains.
    ``float_weights``, if given, gets each such node's float weight in the int8 file's channel
    scales (w32 * g_o / d_i): what that layer computes when it is kept in float."""
    inits8, inits32 = _initializers(int8_model), _initializers(float_model)
    float_nodes = {n.name: n for n in float_model.graph.node}
    dq_weight = {}
    for n in int8_model.graph.node:
        if n.op_type == "DequantizeLinear" and n.input[0] in inits8:
            w, s = inits8[n.input[0]].astype(np.float64), inits8.get(n.input[1])
            z = inits8.get(n.input[2]) if len(n.input) > 2 else None
            axis = next((a.i for a in n.attribute if a.name == "axis"), 1)
            shape = [1] * w.ndim
            if s is not None and np.size(s) > 1:
                shape[axis] = -1
            zz = 0 if z is None else np.reshape(z.astype(np.float64), shape)
            dq_weight[n.output[0]] = (w - zz) * np.reshape(s.astype(np.float64), shape)
    gains: dict[str, np.ndarray] = {i.name: np.ones(1) for i in int8_model.graph.input}
    for n in int8_model.graph.node:
        ins = [gains.get(i) for i in n.input[:1]]
        g_in = ins[0] if ins else None
        if n.op_type in ("Conv", "Gemm") and g_in is not None and n.input[1] in dq_weight:
            f = float_nodes.get(n.name)
            w32 = inits32.get(f.input[1]) if f is not None and len(f.input) > 1 else None
            w8 = dq_weight[n.input[1]]
            if w32 is None or w32.shape != w8.shape:
                continue
            w32 = w32.astype(np.float64)
            if n.op_type == "Gemm" and not any(a.name == "transB" and a.i for a in n.attribute):
                w8, w32 = w8.T, w32.T
            groups = next((a.i for a in n.attribute if a.name == "group"), 1)
            out_c, in_per_group = w8.shape[0], w8.shape[1]
            src = (np.arange(out_c)[:, None] // (out_c // groups)) * in_per_group + np.arange(in_per_group)[None]
            if g_in.size > 1 and g_in.size != int(src.max()) + 1:
                # the gains reached here through an op that regroups channels (ShuffleNet's
                # Concat of branches): not followed, so this layer and those after it get no
                # rescaling rather than a wrong one (figures then read equalization as error)
                continue
            d = np.broadcast_to(g_in, (int(src.max()) + 1,))[src] if g_in.size > 1 else np.full(src.shape, g_in[0])
            w8d = (w8.reshape(out_c, in_per_group, -1) * d[..., None]).reshape(out_c, -1)
            w32f = w32.reshape(out_c, -1)
            g_out = _gain_fit(w8d, w32f)
            gains[n.output[0]] = g_out
            if float_weights is not None:
                w = (w32.reshape(out_c, in_per_group, -1) * g_out[:, None, None] / d[..., None]).reshape(w8.shape)
                transposed = n.op_type == "Gemm" and not any(a.name == "transB" and a.i for a in n.attribute)
                float_weights[n.name] = (w.T if transposed else w).astype(np.float32)
        elif g_in is not None and (n.op_type in QDQ or n.op_type in SHAPE_OPS or n.op_type in _GAIN_KEEPING):
            for o in n.output:
                gains[o] = g_in
    return gains


_GAIN_KEEPING = {"Clip", "Relu", "Add", "GlobalAveragePool", "AveragePool", "MaxPool"}


def _gain_fit(w8d: np.ndarray, w32: np.ndarray, keep: float = 0.25) -> np.ndarray:
    """Per output channel, the least-squares g in w8d = g * w32, over the weights whose int8
    value is at least ``keep`` of the channel's largest (rounding error <= 2% there). Fitted over
    all weights, g read about 0.8 per layer on a trained Xception's int8 file (GPTQ-rounded
    weights, equalized dw/pw pairs), compounding to 0.001 at the classifier: explain read -54 dB
    there for a file whose output is at 1.79 dB. Over the large weights the classifier's figure
    is 1.79 dB, the model output's as validate measures it, and MobileNetV2's figures are
    unchanged (docs/TRAINING.md, accuracy table)."""
    big = np.abs(w8d) >= keep * np.abs(w8d).max(1, keepdims=True)
    num = (w8d * w32 * big).sum(1)
    den = (w32 * w32 * big).sum(1)
    return num / np.maximum(den, 1e-300)


def layer_errors(int8_path: Path, float_path: Path, arrays: np.ndarray, input_name: str = "input",
                 batch: int = 8, threads: int = 1, progress=None) -> list[dict]:
    """Every quantized layer of ``int8_path`` with its SQNR/cosine against ``float_path`` on
    ``arrays`` (``matched`` False: the float file has no such tensor, so no figures)."""
    from ..errors import ConfigError

    onnx = require("onnx", extra="onnx")
    int8_model, float_model = onnx.load(str(int8_path)), onnx.load(str(float_path))
    layers = quantized_layers(int8_model)
    gains = channel_gains(int8_model, float_model)
    if not layers:
        raise ConfigError(f"'{Path(int8_path).name}' has no QuantizeLinear/DequantizeLinear layers: explain reads "
                          "int8 QDQ files (edgekit's); `edgekit inspect` shows what this one holds")
    float_tensors = {o for n in float_model.graph.node for o in n.output}
    matched = [l for l in layers if l["tensor"] in float_tensors]
    if not matched:
        raise ConfigError(f"'{Path(float_path).name}' has none of the tensors of '{Path(int8_path).name}': "
                          "it is not the float export of the same model")
    q_names = [l["int8_tensor"] or l["tensor"] for l in matched]
    f_names = [l["tensor"] for l in matched]
    q_sess, f_sess = _session(int8_model, q_names, threads), _session(float_model, f_names, threads)
    stats = [_Stats(gains.get(l["tensor"])) for l in matched]
    for start in range(0, len(arrays), batch):
        x = {input_name: arrays[start:start + batch].astype(np.float32)}
        for st, f, q in zip(stats, f_sess.run(f_names, x), q_sess.run(q_names, x)):
            st.add(f, q)
        if progress:
            progress(f"explain: {min(start + batch, len(arrays))}/{len(arrays)} images")
    figures = {l["tensor"]: st.figures() for l, st in zip(matched, stats)}
    return [dict(l, matched=l["tensor"] in figures, sqnr_method="channel gains read from both files' weights",
                 **figures.get(l["tensor"], {})) for l in layers]
