"""Error-compensating weight rounding (GPTQ, Frantar et al. 2022) before any int8 converter.

Every Conv/Linear weight ends on a symmetric per-output-channel integer grid (quantize/weight_grid.py:
8 bits, scale max|w| / 127, the one ORT, TFLite and NNCF use; or, for layers an x86 kernel could
saturate, 8 bits with bounded neighbour pairs or 7 bits), so each converter reproduces these
integers. Why, and what it costs: docs/decisions.md, "GPTQ weight rounding".
"""
from __future__ import annotations

import numpy as np

from .weight_grid import PAIR_BOUND, QMAX, QMAX_7BIT, grid_for, pairs_known, row_steps

_MAX_POSITIONS = 32768  # output positions per batch used for a layer's input statistics


def gptq_round_weights(module, calibration: np.ndarray, damp: float = 0.01, batch: int = 8,
                       progress=None, saturation_safe: str = "none") -> dict:
    """Round every Conv2d/Linear weight of ``module`` in place; return a summary.
    ``saturation_safe``: which layers get a grid no x86 int8 kernel saturates (weight_grid.grid_for):
    "none", "signed-inputs" (layers whose input went negative on the calibration images) or "all"."""
    import torch
    from torch import nn

    layers = [(n, m) for n, m in module.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    stats = {id(m): None for _, m in layers}
    signed = {id(m): False for _, m in layers}

    def hook(mod, inp, _out):
        h = _input_hessian(mod, inp[0].detach())
        stats[id(mod)] = h if stats[id(mod)] is None else stats[id(mod)] + h
        signed[id(mod)] = signed[id(mod)] or bool(inp[0].min() < 0)

    run_with_hooks(module, [m.register_forward_hook(hook) for _, m in layers], calibration, batch)
    changed = 0
    safe = {}
    for k, (name, m) in enumerate(layers):
        if stats[id(m)] is None:
            continue  # never executed on this data: leave for the converter's own rounding
        conv = isinstance(m, nn.Conv2d)
        grid = grid_for(saturation_safe, signed[id(m)],
                        pairs_known("conv" if conv else "linear", m.kernel_size if conv else (1, 1), m.groups if conv else 1))
        if grid != "8-bit":
            safe[name] = grid
        w = m.weight.data
        groups = m.groups if conv else 1
        w2 = w.reshape(groups, w.shape[0] // groups, -1).float()  # (g, out/g, fan_in/g)
        q = round_layer(w2, stats[id(m)], damp, grid)
        m.weight.data = q.reshape(w.shape).to(w.dtype)
        scale = w2.abs().amax(2, keepdim=True).clamp_min(1e-12) / row_steps(w2, grid)
        changed += int((torch.round(q / scale) != torch.round(w2 / scale)).sum())  # vs nearest
        if progress:
            progress(k + 1, len(layers))
    return {"method": "gptq", "layers": len(layers), "weights_rounded_differently": changed,
            "saturation_safe_layers": safe, "calibration_images": int(len(calibration))}


def round_layer(w2, h, damp: float, grid: str):
    """GPTQ-rounded values of one layer's weights (g, out, d) on ``grid`` (weight_grid.py)."""
    q = _gptq(w2, h, damp, grid=grid)
    return q if grid == "pairs" else _keep_row_max(q, w2, QMAX_7BIT if grid == "7-bit" else QMAX)


def _input_hessian(mod, x):
    """Sum of x x^T over (a subsample of) the output positions, per group: (groups, d, d).

    Computed in float32 (accumulated in float64 across batches): the statistic only weights
    GPTQ's error feedback, and float64 im2col was 2/3 of GPTQ's time. Layers with more than
    _MAX_POSITIONS output positions per batch use every k-th row and column of them (8192
    instead of 32768 measured 0.5 dB lower weight-only SQNR).
    """
    import torch
    from torch import nn

    x = x.float()
    if isinstance(mod, nn.Linear):
        x = x.reshape(-1, x.shape[-1])
        return (x.T @ x).double()[None]
    (kh, kw), (sh, sw), (dh, dw), g = mod.kernel_size, mod.stride, mod.dilation, mod.groups
    pad = tuple(mod._reversed_padding_repeated_twice)  # (left, right, top, bottom), also for "same"
    xp = nn.functional.pad(x, pad) if any(pad) else x
    n, c, hgt, wid = xp.shape
    ho, wo = (hgt - dh * (kh - 1) - 1) // sh + 1, (wid - dw * (kw - 1) - 1) // sw + 1
    k = max(1, int(np.ceil(np.sqrt(n * ho * wo / _MAX_POSITIONS))))
    if (kh, kw) == (1, 1) and g == 1:
        cols = xp[:, :, ::sh * k, ::sw * k].permute(1, 0, 2, 3).reshape(1, c, -1)  # (1, d, P)
    else:
        taps = [xp[:, :, i * dh: i * dh + sh * (ho - 1) + 1: sh * k, j * dw: j * dw + sw * (wo - 1) + 1: sw * k]
                for i in range(kh) for j in range(kw)]  # each (N, C, ho/k, wo/k)
        cols = torch.stack(taps, 2)  # (N, C, kh*kw, P'), channel-major like unfold
        cols = cols.reshape(n, g, (c // g) * kh * kw, -1).permute(1, 2, 0, 3).reshape(g, (c // g) * kh * kw, -1)
    return torch.bmm(cols, cols.transpose(1, 2)).double()


def _gptq(w, h, damp, block: int = 128, grid: str = "8-bit"):
    """GPTQ on weight matrices w (g, out, d) with input Hessians h (g, d, d), batched over
    groups (depthwise convs have one group per channel); returns values on ``grid``. On the
    "pairs" grid each weight's bound is 128 minus its rounded left neighbour's |integer|, which
    GPTQ's column order (left to right) has already fixed."""
    import torch

    w = w.clone()
    steps = row_steps(w, grid)  # (g, out, 1): the largest integer of each row
    scale = w.abs().amax(2, keepdim=True).clamp_min(1e-12) / steps
    h = h.clone()
    diag = torch.diagonal(h, dim1=1, dim2=2)
    dead = diag == 0  # inputs that are always zero: their weights do not matter
    diag[dead] = 1.0
    w[dead[:, None, :].expand_as(w)] = 0.0
    diag += damp * diag.mean(1, keepdim=True)
    d = w.shape[2]
    try:  # the inverse's Cholesky factor in float64, the column loop in float32 (2x faster)
        u = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True).to(w.dtype)
    except RuntimeError:  # numerically singular statistics: plain rounding (no error feedback)
        u = torch.eye(d, dtype=w.dtype).expand(w.shape[0], d, d)
    s, top = scale[:, :, 0], steps[:, :, 0]
    left = torch.zeros_like(top)  # |integer| of the previous column (pairs grid)
    q = torch.zeros_like(w)
    for b0 in range(0, d, block):
        b1 = min(b0 + block, d)
        wb = w[:, :, b0:b1].clone()
        errs = torch.zeros_like(wb)
        ub = u[:, b0:b1, b0:b1]
        for i in range(b1 - b0):
            bound = torch.minimum(top, PAIR_BOUND - left) if grid == "pairs" else top
            k = torch.maximum(torch.minimum(torch.round(wb[:, :, i] / s), bound), -bound)
            left = k.abs()
            qi = k * s
            q[:, :, b0 + i] = qi
            err = (wb[:, :, i] - qi) / ub[:, i, i][:, None]
            wb[:, :, i:] -= err[:, :, None] * ub[:, i, i:][:, None, :]
            errs[:, :, i] = err
        w[:, :, b1:] -= errs @ u[:, b0:b1, b1:]
    return q


def _keep_row_max(q, w, qmax: int = QMAX):
    """Put each row's largest |weight| back on +-127 steps where GPTQ's error feedback moved it
    below: converters recompute the scale as max|w| / 127, and a row whose max came out at
    126 steps would be re-rounded onto a different grid, GPTQ's work lost (measured on
    MobileNetV2: ORT re-rounded 221 rows in 39 of the 53 layers without this)."""
    import torch

    scale = w.abs().amax(2, keepdim=True).clamp_min(1e-12) / qmax
    steps = torch.round(q / scale)
    short = (steps.abs().amax(2, keepdim=True) < qmax) & (w.abs().amax(2, keepdim=True) > 0)
    if short.any():
        top = w.abs().argmax(2, keepdim=True)
        at_top = torch.arange(w.shape[2])[None, None] == top
        steps = torch.where(short & at_top, torch.sign(torch.gather(w, 2, top)) * qmax, steps)
    return steps * scale


def run_with_hooks(module, handles, calibration: np.ndarray, batch: int) -> None:
    """Run ``module`` on the calibration images (no grad), then remove the hooks ``handles``."""
    import torch

    try:
        with torch.no_grad():
            for i in range(0, len(calibration), batch):
                module(torch.from_numpy(np.ascontiguousarray(calibration[i:i + batch])))
    finally:
        for h in handles:
            h.remove()
