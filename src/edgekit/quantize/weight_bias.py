"""Bias correction of the weight-rounding error (Nagel et al. 2019, empirical), after GPTQ.

GPTQ keeps each layer's output error small but not zero-mean; per output channel the mean
of conv(x, W - Q(W)) over the calibration images, x the float model's own input to that
layer, is added to the bias. Measured on MobileNetV2 pooled over both photo halves:
docs/int8_accuracy.md, section 5.
"""
from __future__ import annotations

import numpy as np

from .weight_rounding import run_with_hooks


def correct_weight_bias(float_module, rounded, calibration: np.ndarray, batch: int = 8) -> int:
    """b += E[conv(x, W_float - W_rounded)] for every Conv2d/Linear with a bias of ``rounded``
    (changed in place; ``float_module``: the same network before rounding). Returns the count."""
    import torch
    from torch import nn

    floats = dict(float_module.named_modules())
    layers = [(n, m) for n, m in rounded.named_modules()
              if isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None and n in floats]
    sums: dict = {n: 0.0 for n, _ in layers}
    count = {n: 0 for n, _ in layers}

    def hook(mod, inp, _out, n, dw):
        x = inp[0].detach()
        y = x @ dw.T if isinstance(mod, nn.Linear) else mod._conv_forward(x, dw, None).movedim(1, -1)
        y = y.reshape(-1, y.shape[-1])
        sums[n] = sums[n] + y.sum(0)
        count[n] += y.shape[0]

    hooks = [floats[n].register_forward_hook(
        lambda mod, inp, out, n=n, dw=(floats[n].weight - m.weight).detach(): hook(mod, inp, out, n, dw))
        for n, m in layers]
    run_with_hooks(float_module, hooks, calibration, batch)
    with torch.no_grad():
        for n, m in layers:
            if count[n]:
                m.bias += (sums[n] / count[n]).to(m.bias.dtype)
    return sum(1 for n, _ in layers if count[n])
