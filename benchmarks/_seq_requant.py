"""Layer-by-layer correction of an ORT QDQ file against its float model, on calibration images.

Walks the Conv/Gemm nodes in graph order. For each, X_q = its input in the quantized model with
every earlier layer already corrected, X_f = the same tensor in the float model (the
equalized, unrounded weights W), and the layer's weights / bias are re-chosen so that
Y_f = W X_f + b is matched from X_q:
- "bias": b += mean(Y_f) - mean(Y_q) per output channel (empirical bias correction);
- "gptq-q": weights re-rounded by GPTQ with H = X_q X_q^T (the inputs the layer really gets),
  then the bias correction;
- "ls": weights W* = argmin ||W X_f - W' X_q||^2 (+ ridge), then GPTQ with H_q, then bias.
Activation scales / zero points stay those ORT chose.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from _qdq_sim import QdqGraph, _attr

_MAX_POS = 32768


def correct(qdq_model, float_model, arrays: np.ndarray, mode: str = "bias", damp: float = 0.01,
            ridge: float = 0.0, layers=None, log=None, bias: str = "lin", gemm: bool = False) -> dict:
    """bias: "all" (mean over every output), "lin" (only where the float output lies inside the
    output quantizer's range, where a bias shift moves what the next layer sees one to one),
    "w" (the weight-rounding error alone, E[(W - Q(W)) x_f]), "none"."""
    """Edit ``qdq_model`` (onnx ModelProto) in place; ``float_model`` has the float weights."""
    from edgekit.quantize.weight_rounding import _gptq, _keep_row_max

    torch.set_num_threads(1)
    q = QdqGraph(qdq_model)
    f = QdqGraph(float_model)
    f_index = {n.name: i for i, n in enumerate(f.nodes)}
    x = torch.from_numpy(arrays)
    done = 0
    with torch.no_grad():
        qenv, qpos = {q.input: x}, 0
        fenv, fpos = {f.input: x}, 0
        for i, n in enumerate(q.nodes):
            if n.op_type not in ("Conv", "Gemm") or n.name not in f_index:
                continue
            if layers is not None and n.name not in layers:
                continue
            qenv, qpos = q.run(env=qenv, start=qpos, end=i), i  # the layer itself reruns after its edit
            fn, j = f.nodes[f_index[n.name]], f_index[n.name]
            fenv, fpos = f.run(env=fenv, start=fpos, end=j), j
            xq, xf = qenv[n.input[0]], fenv[fn.input[0]]
            w = f.inits[fn.input[1]].float()
            b = f.inits[fn.input[2]].float() if len(fn.input) > 2 else torch.zeros(w.shape[0])
            wq_name, scale_name = _weight_inits(q, n.input[1])
            groups = _attr(n, "group", 1) if n.op_type == "Conv" else 1
            if mode in ("gptq-q", "ls") and n.op_type == "Conv":
                cq, cf = _cols(n, xq, groups), _cols(n, xf, groups)  # (g, d, P)
                h = torch.bmm(cq, cq.transpose(1, 2)).double()
                w2 = w.reshape(groups, w.shape[0] // groups, -1)
                if mode == "ls":
                    hfq = torch.bmm(cf, cq.transpose(1, 2)).double()
                    eye = torch.eye(h.shape[1], dtype=h.dtype)[None]
                    reg = h + ridge * torch.diagonal(h, dim1=1, dim2=2).mean(1)[:, None, None] * eye
                    w2 = (w2.double() @ hfq @ torch.linalg.pinv(reg)).float()
                wnew = _keep_row_max(_gptq(w2, h, damp), w2).reshape(w.shape)
                scale = w2.abs().amax(2).reshape(-1).clamp_min(1e-12) / 127
                q.inits[wq_name] = torch.round(wnew / _bc(scale, wnew)).clamp(-127, 127).to(torch.int8)
                q.inits[scale_name] = scale.to(q.inits[scale_name].dtype)
                _set_bias(q, n, _get_bias(q, n))  # its int32 grid follows the new weight scale
            if bias != "none" and len(n.input) > 2 and (gemm or n.op_type == "Conv"):
                yf = _apply(fn, xf, w, b)
                if bias == "w":
                    yq = _apply(fn, xf, q._value(n.input[1], {}), b)
                else:
                    yq = q.run(env=qenv, start=i, end=i + 1)[n.output[0]]
                dims = [d for d in range(yf.dim()) if d != 1]
                if bias == "lin" and n.output[0] in q.consumers_q:
                    lo, hi = q.consumers_q[n.output[0]]
                    m = ((yf > lo) & (yf < hi)).float()
                    shift = ((yf - yq) * m).sum(dim=dims) / m.sum(dim=dims).clamp_min(1)
                else:
                    shift = (yf - yq).mean(dim=dims)
                _set_bias(q, n, _get_bias(q, n) + shift)
            done += 1
            if log:
                log(f"{n.name}: corrected")
    q.write_back()
    return {"layers": done, "mode": mode}


def _get_bias(q, n):
    dq = q.producer.get(n.input[2])
    if dq is None:
        return q.inits[n.input[2]].float()
    return q.inits[dq.input[0]].double().float() * q.inits[dq.input[1]].float()


def _set_bias(q, n, value):
    """A float bias, or ORT's int32 bias with scale = input scale x weight scale."""
    dq = q.producer.get(n.input[2])
    if dq is None:
        q.inits[n.input[2]] = value.float()
        return
    in_scale = q.inits[q.producer[n.input[0]].input[1]].float()
    w_scale = q.inits[q.producer[n.input[1]].input[1]].float()
    scale = (in_scale * w_scale).reshape(-1)
    q.inits[dq.input[1]] = scale.to(q.inits[dq.input[1]].dtype)
    q.inits[dq.input[0]] = torch.round(value.double() / scale.double()).to(torch.int32)


def _weight_inits(q, dq_output):
    dq = q.producer[dq_output]
    return dq.input[0], dq.input[1]


def _bc(scale, w):
    return scale.reshape(-1, *[1] * (w.dim() - 1))


def _apply(node, x, w, b):
    if node.op_type == "Gemm":
        return x @ w.T + b
    pads = _attr(node, "pads", [0, 0, 0, 0])
    x = F.pad(x, (pads[1], pads[3], pads[0], pads[2])) if any(pads) else x
    return F.conv2d(x, w, b, stride=_attr(node, "strides", [1, 1]), dilation=_attr(node, "dilations", [1, 1]),
                    groups=_attr(node, "group", 1))


def _cols(node, x, groups):
    """im2col of the conv input, (groups, C/g * kh * kw, P), P subsampled to at most _MAX_POS."""
    pads = _attr(node, "pads", [0, 0, 0, 0])
    x = F.pad(x, (pads[1], pads[3], pads[0], pads[2])) if any(pads) else x
    k = _attr(node, "kernel_shape")
    cols = F.unfold(x, k, dilation=_attr(node, "dilations", [1, 1]), stride=_attr(node, "strides", [1, 1]))
    n, d, p = cols.shape
    cols = cols.reshape(n, groups, d // groups, p).permute(1, 2, 0, 3).reshape(groups, d // groups, n * p)
    step = max(1, cols.shape[2] // _MAX_POS)
    return cols[:, :, ::step].contiguous()
