"""Bias correction for TFLite int8 weights (after Nagel et al. 2019, data-free quantization):
each conv / dense bias is shifted so the layer keeps its float output mean."""
from __future__ import annotations

import numpy as np

from ..formats.tflite import operator_names, schema

_WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def compute_ops(model_bytes: bytes, skip=frozenset()) -> list[tuple[str, int, int, int]]:
    """(op name, activation input, weight, bias or -1) of every conv / dense op of subgraph 0
    whose index is not in ``skip``."""
    model = schema().Model.GetRootAsModel(model_bytes, 0)
    codes = operator_names(model)
    sg = model.Subgraphs(0)
    out = []
    for o in range(sg.OperatorsLength()):
        op = sg.Operators(o)
        name = codes[op.OpcodeIndex()]
        if name in _WEIGHTED and op.InputsLength() >= 2 and o not in skip:
            ins = op.InputsAsNumpy().tolist()
            out.append((name, ins[0], ins[1], ins[2] if len(ins) > 2 else -1))
    return out


def bias_corrections(model, ops, means: dict, per_channel: bool) -> dict[int, np.ndarray]:
    """{bias tensor index: correction} so each int8-weight layer keeps its float output mean.

    Rounding weights to the int8 grid shifts each output channel's mean by
    E[conv(x, W - Q(W))]; with the per-channel mean of x over the calibration images
    that is (W - Q(W)) summed over the kernel taps, times the input channel means
    (exact for 1x1 convs and dense layers, ignoring zero padding for larger kernels).
    Q is the MLIR quantizer's weight grid: symmetric, narrow range, scale max|w| / 127
    per output channel.
    """
    out = {}
    sg = model.subgraphs[0]
    for name, x_idx, w_idx, b_idx in ops:
        if b_idx < 0 or x_idx not in means:
            continue
        w = _const(model, sg.tensors[w_idx])
        if w is None:
            continue
        axis = 3 if name == "DEPTHWISE_CONV_2D" else 0
        dw = w - _int8_grid(w, axis if per_channel else None)
        mean = means[x_idx]
        if name == "FULLY_CONNECTED":
            corr = dw.reshape(dw.shape[0], -1) @ mean
        elif name == "DEPTHWISE_CONV_2D":
            taps = dw.reshape(-1, dw.shape[3]).sum(0)  # (C*m,)
            corr = taps * np.repeat(mean, dw.shape[3] // mean.shape[0])
        else:  # CONV_2D, possibly grouped: filter (O, kh, kw, I/g)
            taps = dw.sum(axis=(1, 2))  # (O, I/g)
            groups = mean.shape[0] // taps.shape[1]
            per_group = taps.shape[0] // groups
            corr = np.concatenate([taps[g * per_group:(g + 1) * per_group]
                                   @ mean[g * taps.shape[1]:(g + 1) * taps.shape[1]] for g in range(groups)])
        out[b_idx] = corr.astype(np.float32)
    return out


def apply_bias_corrections(model, ops, means: dict, per_channel: bool) -> int:
    """Add the corrections to the biases of ``model`` (a ModelT, edited in place); how many."""
    fb = schema()
    sg = model.subgraphs[0]
    users: dict = {}
    for t in sg.tensors:
        users[t.buffer] = users.get(t.buffer, 0) + 1
    corrected = 0
    for b_idx, corr in bias_corrections(model, ops, means, per_channel).items():
        t = sg.tensors[b_idx]
        bias = _const(model, t)
        if bias is None or bias.shape != corr.shape:
            continue
        data = np.frombuffer((bias + corr).astype(np.float32).tobytes(), np.uint8)
        if users.get(t.buffer, 0) > 1:  # a deduplicated buffer: give this bias its own
            model.buffers.append(fb.BufferT())
            t.buffer = len(model.buffers) - 1
        model.buffers[t.buffer].data = data
        corrected += 1
    return corrected


def _int8_grid(w: np.ndarray, axis) -> np.ndarray:
    if axis is None:
        scale = np.abs(w).max() / 127.0
    else:
        reduce = tuple(a for a in range(w.ndim) if a != axis)
        scale = np.abs(w).max(axis=reduce, keepdims=True) / 127.0
    scale = np.where(scale == 0, 1.0, scale)
    return np.clip(np.round(w / scale), -127, 127) * scale


def _const(model, tensor):
    buf = model.buffers[tensor.buffer] if tensor.buffer < len(model.buffers) else None
    if buf is None or buf.data is None or len(buf.data) == 0 or tensor.type != 0:  # FLOAT32 only
        return None
    return np.frombuffer(np.asarray(buf.data, np.uint8).tobytes(), np.float32).reshape(tensor.shape)
