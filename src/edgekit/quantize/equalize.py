"""Channel equalization before int8: rescale channels so one per-tensor uint8 range fits them all.

Linear groups (tensors joined by residual Adds, Conv to Conv) get d_c = (R / r_c)^ALPHA_DENSE;
Clip/Relu outputs read only by depthwise Convs get channels below the max scaled up, capped so
ReLU6 stays exact below MARGIN x the calibration max. Groups are found on the model's ONNX
graph and applied to the torch parameters. Run it before GPTQ (``weight_rounding``).
Why and the measured choice of ALPHA_DENSE and MARGIN: docs/decisions.md, "Channel equalization".
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

ALPHA_DENSE = 0.5
MARGIN = 2.0
_FLOOR = 1e-2  # channels below 1% of the group's max are treated as 1% (dead channels)
TOLERANCE = 1e-4  # relative change of the calibration outputs accepted (float rounding)


def equalize_channels(module, calibration: np.ndarray, input_shape, batch: int = 8) -> dict:
    """Rescale channels of ``module`` in place (float function kept, see above); summary."""
    import torch

    groups = _torch_groups(module, input_shape)
    absmax: dict[int, np.ndarray] = {}

    def record(key, t):
        m = t.detach().abs().amax(dim=(0, *range(2, t.dim()))).numpy()
        absmax[key] = m if key not in absmax else np.maximum(absmax[key], m)

    hooks = []
    for k, g in enumerate(groups):
        for mod, _ in g["consumers"]:
            hooks.append(mod.register_forward_pre_hook(lambda _m, inp, k=k: record(k, inp[0])))
        if g["kind"] == "linear":
            for mod in g["producers"]:
                hooks.append(mod.register_forward_hook(lambda _m, _i, out, k=k: record(k, out)))
    first = torch.from_numpy(np.ascontiguousarray(calibration[:batch]))
    try:
        with torch.no_grad():
            before = _tensor(module(first))
            for i in range(batch, len(calibration), batch):
                module(torch.from_numpy(np.ascontiguousarray(calibration[i:i + batch])))
    finally:
        for h in hooks:
            h.remove()
    scales = {k: torch.from_numpy(_scales(g, absmax[k]).astype(np.float32))
              for k, g in enumerate(groups) if k in absmax}
    with torch.no_grad():
        for k, d in scales.items():
            _apply(groups[k], d)
        # exact on calibration data by construction; a mismatch means the graph was misread
        diff = float((_tensor(module(first)) - before).abs().max() / before.abs().max().clamp_min(1e-12))
        if diff > TOLERANCE:
            for k, d in scales.items():
                _apply(groups[k], 1 / d)
            return {"method": "channel equalization", "skipped": f"changed calibration outputs by {diff:.1e}"}
    return {"method": "channel equalization", "groups": len(scales),
            "channels_rescaled": int(sum((d - 1).abs().gt(1e-6).sum() for d in scales.values())),
            "alpha_dense": ALPHA_DENSE, "clip_margin": MARGIN, "relative_change": diff}


def _tensor(out):
    """The first tensor of a model output (tensor, tuple/list or dict of them)."""
    while not hasattr(out, "abs"):
        out = next(iter(out.values())) if isinstance(out, dict) else out[0]
    return out


def _scales(group, r):
    if not r.max() > 0:  # never active on the calibration data: nothing to balance
        return np.ones_like(r)
    r = np.maximum(r, _FLOOR * r.max())
    if group["kind"] == "linear":
        return (np.exp(np.mean(np.log(r))) / r) ** ALPHA_DENSE
    d = r.max() / r
    if group["cap"] is not None:
        d = np.minimum(d, group["cap"] / (MARGIN * r))
    return np.maximum(d, 1.0)


def _apply(group, d):
    for mod in group["producers"]:
        mod.weight.mul_(d.reshape(-1, *[1] * (mod.weight.dim() - 1)))
        mod.bias.mul_(d)
    for mod, kind in group["consumers"]:
        shape = (1, -1) if kind == "dense" else (-1, 1)  # depthwise: one output per input channel
        mod.weight.div_(d.reshape(*shape, *[1] * (mod.weight.dim() - 2)))


def _torch_groups(module, input_shape) -> list[dict]:
    """Groups found on the ONNX export of ``module``, mapped back to its submodules by
    parameter name (torch.onnx keeps them as initializer names); unmappable groups dropped."""
    import onnx

    from ..formats.onnx import export_torch_to_onnx
    from .equalize_graph import find_groups

    with tempfile.TemporaryDirectory(prefix="edgekit-eq-") as td:
        path = Path(td) / "m.onnx"
        export_torch_to_onnx(module, input_shape, path)
        graph_groups = find_groups(onnx.load(str(path)))
    params = dict(module.named_parameters())
    mods = dict(module.named_modules())

    def owner(param_name):
        mod = mods.get(param_name.rsplit(".", 1)[0]) if "." in param_name else None
        if mod is None or params.get(param_name) is None or getattr(mod, "weight", None) is not params[param_name]:
            return None
        return mod

    out = []
    for g in graph_groups:
        prods = [owner(w) for w in g["producers"]]
        cons = [(owner(w), kind) for w, kind in g["consumers"]]
        if all(p is not None and p.bias is not None for p in prods) and all(c is not None for c, _ in cons):
            out.append({"kind": g["kind"], "cap": g["cap"], "producers": prods, "consumers": cons})
    return out
