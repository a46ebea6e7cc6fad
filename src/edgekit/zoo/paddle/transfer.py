"""Weights between a Paddle model and its torch twin, copied in layer order and proved numerically.

Layer order is registration order on both sides (torch ``modules()``, Paddle ``sublayers()``);
each Conv2d / BatchNorm2d / Linear must face its Paddle namesake type with the same shapes
(Paddle's Linear weight is (in, out): transposed; BatchNorm's _mean/_variance are the running
statistics). Then both run the same random input and must agree to 1e-4 of the logit range, so a
Paddle model whose forward computes something else than its layers suggest is refused, not exported.
"""
from __future__ import annotations

import numpy as np

from ...errors import ConfigError, UnsupportedError
from ..keras.transfer import TOLERANCE, TwinReport

_KINDS = {"Conv2d": "Conv2D", "BatchNorm2d": "BatchNorm2D", "Linear": "Linear"}


def torch_layers(module) -> list:
    return [m for m in module.modules() if type(m).__name__ in _KINDS]


def paddle_layers(layer) -> list:
    return [m for m in layer.sublayers(include_self=True) if type(m).__name__ in _KINDS.values()]


def signature_matches(module, layer) -> bool:
    """Whether the torch module and the Paddle layer have the same weight layers, in the same order."""
    t, p = torch_layers(module), paddle_layers(layer)
    return len(t) == len(p) and all(_KINDS[type(a).__name__] == type(b).__name__ and _shapes(a) == _pshapes(b)
                                    for a, b in zip(t, p))


def _shapes(m) -> list:
    kind = type(m).__name__
    if kind == "Linear":
        return [tuple(m.weight.shape[::-1])] + ([tuple(m.bias.shape)] if m.bias is not None else [])
    return [tuple(v.shape) for v in (m.weight, m.bias) if v is not None]


def _pshapes(m) -> list:
    return [tuple(v.shape) for v in (m.weight, m.bias) if v is not None]


def copy_paddle_to_torch(layer, module) -> TwinReport:
    import torch

    params = 0
    with torch.no_grad():
        for t, p in zip(torch_layers(module), paddle_layers(layer)):
            w = p.weight.numpy()
            t.weight.copy_(torch.from_numpy(w.T.copy() if type(t).__name__ == "Linear" else w))
            if t.bias is not None and p.bias is not None:
                t.bias.copy_(torch.from_numpy(p.bias.numpy()))
            if type(t).__name__ == "BatchNorm2d":
                t.running_mean.copy_(torch.from_numpy(p._mean.numpy()))
                t.running_var.copy_(torch.from_numpy(p._variance.numpy()))
                t.eps = float(p._epsilon)
            params += sum(int(v.numel()) for v in t.state_dict().values() if v.dtype.is_floating_point)
    return TwinReport(len(torch_layers(module)), params)


def copy_torch_to_paddle(module, layer) -> TwinReport:
    params = 0
    for t, p in zip(torch_layers(module), paddle_layers(layer)):
        w = t.weight.detach().numpy()
        p.weight.set_value(w.T.copy() if type(t).__name__ == "Linear" else w)
        if t.bias is not None and p.bias is not None:
            p.bias.set_value(t.bias.detach().numpy())
        if type(t).__name__ == "BatchNorm2d":
            p._mean.set_value(t.running_mean.numpy())
            p._variance.set_value(t.running_var.numpy())
        params += sum(int(v.numel()) for v in t.state_dict().values() if v.dtype.is_floating_point)
    return TwinReport(len(torch_layers(module)), params)


def check_twins(layer, module, input_shape, report: TwinReport, seed: int = 0) -> TwinReport:
    """Run the Paddle model and the torch twin on one random input; refuse if they differ."""
    import paddle
    import torch

    x = np.random.default_rng(seed).standard_normal((1, *input_shape[1:])).astype(np.float32)
    layer.eval()
    module.eval()
    with paddle.no_grad():
        got = layer(paddle.to_tensor(x)).numpy()
    with torch.no_grad():
        ref = module(torch.from_numpy(x)).numpy()
    if got.shape != ref.shape:
        raise UnsupportedError(f"The Paddle model outputs shape {got.shape}, its torch twin {ref.shape}")
    report.max_abs_diff = float(np.abs(ref - got).max())
    report.logit_range = float(ref.max() - ref.min())
    if not report.relative_diff <= TOLERANCE:
        raise UnsupportedError(
            f"The Paddle model's forward does not compute what its layers' twin computes (max diff "
            f"{report.max_abs_diff:.3g}, logit range {report.logit_range:.3g}): its weight layers match but its "
            "forward differs (another activation, order or wiring); edgekit would export a different network")
    return report


def unregistered_layers(layer) -> list[str]:
    """'Net.blocks (13 layers)' for every attribute that keeps Paddle layers in a plain list, tuple
    or dict: Paddle registers neither their parameters nor their sublayers."""
    from paddle import nn

    found = []
    for owner in layer.sublayers(include_self=True):
        for attr, value in vars(owner).items():
            items = list(value.values()) if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else []
            n = sum(isinstance(v, nn.Layer) for v in items)
            if n and not attr.startswith("_"):
                found.append(f"{type(owner).__name__}.{attr} ({n} layer{'s' if n > 1 else ''})")
    return found


def refuse_unregistered(layer, spec: str) -> None:
    found = unregistered_layers(layer)
    if found:
        raise ConfigError(
            f"Paddle model '{spec}' keeps layers in a plain Python list ({', '.join(found[:3])}): Paddle registers "
            "neither their parameters nor their sublayers, so they would be missing from the export; wrap the "
            "list in paddle.nn.LayerList(...) or paddle.nn.Sequential(...)")
