"""A torch interpreter for the QDQ ONNX files ORT's quantize_static writes (CNN ops only).

Runs the graph node by node in float32 with QuantizeLinear/DequantizeLinear as fake
quantization, so intermediate tensors of the quantized model can be read and its
initializers (weights, biases, scales) edited and written back. ORT's integer kernels
compute the same function up to requantization rounding (checked by ``check``).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


class QdqGraph:
    def __init__(self, model) -> None:
        from onnx import numpy_helper

        self.model = model
        self.inits = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in model.graph.initializer}
        self.nodes = [n for n in model.graph.node]
        for n in self.nodes:  # Constant nodes become initializers
            if n.op_type == "Constant":
                self.inits[n.output[0]] = torch.from_numpy(numpy_helper.to_array(n.attribute[0].t).copy())
        self.nodes = [n for n in self.nodes if n.op_type != "Constant"]
        self.input = model.graph.input[0].name
        self.output = model.graph.output[0].name
        self.producer = {o: n for n in self.nodes for o in n.output}
        # weights / biases: dequantized from the initializers at each use, so edits take effect
        self.const_dq = {n.output[0]: n for n in self.nodes
                         if n.op_type == "DequantizeLinear" and n.input[0] in self.inits}

        self.consumers_q = {}  # tensor -> (lo, hi) of the QuantizeLinear reading it
        for n in self.nodes:
            if n.op_type == "QuantizeLinear" and n.input[0] not in self.inits:
                sc, zp = self.inits[n.input[1]].float(), self.inits[n.input[2]]
                lo, hi = (0, 255) if zp.dtype == torch.uint8 else (-128, 127)
                self.consumers_q[n.input[0]] = (float((lo - zp.float()) * sc), float((hi - zp.float()) * sc))
        self.last_use = {}
        for i, n in enumerate(self.nodes):
            for t in n.input:
                self.last_use[t] = i
        self.last_use[self.output] = len(self.nodes)

    def run(self, x=None, env=None, start=0, end=None, keep=(), quantize=True):
        """Run nodes[start:end] on ``env`` (a fresh one with the input ``x`` when start is 0);
        tensors no later node reads are dropped, except ``keep``."""
        env = dict(env or {})
        if start == 0 and x is not None:
            env[self.input] = torch.as_tensor(x)
        end = len(self.nodes) if end is None else end
        keep = set(keep)
        for i in range(start, end):
            n = self.nodes[i]
            if n.output[0] in self.const_dq:
                continue
            ins = [self._value(t, env) for t in n.input]
            if not quantize and n.op_type in ("QuantizeLinear", "DequantizeLinear") and n.input[0] not in self.inits:
                out = ins[0]
            else:
                out = _OPS[n.op_type](n, *ins)
            env[n.output[0]] = out
            for t in n.input:
                if t in env and self.last_use.get(t, -1) <= i and t not in keep:
                    del env[t]
        return env

    def _value(self, t, env):
        if not t:
            return None
        if t in env:
            return env[t]
        if t in self.const_dq:
            n = self.const_dq[t]
            return _dq(n, *[self.inits.get(x) if x else None for x in n.input])
        return self.inits.get(t)

    def write_back(self) -> None:
        """Copy the (edited) initializers into the ONNX model."""
        from onnx import numpy_helper

        for init in self.model.graph.initializer:
            if init.name in self.inits:
                dtype = numpy_helper.to_array(init).dtype
                init.CopyFrom(numpy_helper.from_array(self.inits[init.name].numpy().astype(dtype), init.name))


def _attr(n, name, default=None):
    from onnx import helper

    for a in n.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _q(n, x, scale, zp=None):
    axis = _attr(n, "axis", 1)
    zp = zp if zp is not None else torch.zeros((), dtype=torch.uint8)
    lo, hi = (0, 255) if zp.dtype == torch.uint8 else (-128, 127) if zp.dtype == torch.int8 else (-2**31, 2**31 - 1)
    s, z = _bcast(scale, x, axis), _bcast(zp, x, axis).float()
    return (torch.clamp(torch.round(x / s) + z, lo, hi) - z) * s  # returned already dequantized


def _dq(n, x, scale, zp=None):
    if x.dtype.is_floating_point:  # output of our fake QuantizeLinear
        return x
    axis = _attr(n, "axis", 1)
    z = _bcast(zp, x, axis).float() if zp is not None else 0.0
    return (x.float() - z) * _bcast(scale, x, axis)


def _bcast(v, x, axis):
    if v.dim() == 0 or v.numel() == 1:
        return v.float().reshape(())
    shape = [1] * x.dim()
    shape[axis] = -1
    return v.float().reshape(shape)


def _conv(n, x, w, b=None):
    pads = _attr(n, "pads", [0, 0, 0, 0])
    x = F.pad(x, (pads[1], pads[3], pads[0], pads[2])) if any(pads) else x
    return F.conv2d(x, w, b, stride=_attr(n, "strides", [1, 1]), dilation=_attr(n, "dilations", [1, 1]),
                    groups=_attr(n, "group", 1))


def _gemm(n, a, b, c=None):
    b = b.T if _attr(n, "transB", 0) else b
    y = a @ b
    return y + c if c is not None else y


def _maxpool(n, x):
    pads = _attr(n, "pads", [0, 0, 0, 0])
    x = F.pad(x, (pads[1], pads[3], pads[0], pads[2]), value=float("-inf")) if any(pads) else x
    return F.max_pool2d(x, _attr(n, "kernel_shape"), _attr(n, "strides", [1, 1]))


_OPS = {
    "QuantizeLinear": _q,
    "DequantizeLinear": _dq,
    "Conv": _conv,
    "Gemm": _gemm,
    "Clip": lambda n, x, lo=None, hi=None: torch.clamp(x, None if lo is None else float(lo), None if hi is None else float(hi)),
    "Relu": lambda n, x: F.relu(x),
    "Add": lambda n, a, b: a + b,
    "Mul": lambda n, a, b: a * b,
    "GlobalAveragePool": lambda n, x: x.mean((2, 3), keepdim=True),
    "Flatten": lambda n, x: torch.flatten(x, _attr(n, "axis", 1)),
    "Reshape": lambda n, x, s: x.reshape([int(v) if int(v) != 0 else x.shape[i] for i, v in enumerate(s)]),
    "MaxPool": _maxpool,
    "Concat": lambda n, *xs: torch.cat(xs, _attr(n, "axis")),
}


def check(path, arrays) -> float:
    """SQNR (dB) of this interpreter's logits against ONNX Runtime's on ``arrays``."""
    import onnx
    import onnxruntime as ort

    g = QdqGraph(onnx.load(str(path)))
    with torch.no_grad():
        sim = g.run(torch.from_numpy(arrays))[g.output].numpy()
    so = ort.SessionOptions()
    so.log_severity_level = 3
    real = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]).run(None, {g.input: arrays})[0]
    return float(10 * np.log10((real ** 2).sum() / ((real - sim) ** 2).sum()))
