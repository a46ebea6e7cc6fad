"""Keras twin of zoo/mobilenet_v3.py: inverted residuals with squeeze-excitation.

Hardswish / Hardsigmoid map to Keras' ``hard_swish`` / ``hard_sigmoid`` (Keras 3 defines
both as torch does: x * relu6(x + 3) / 6 and relu6(x + 3) / 6).
"""
from __future__ import annotations

from ..layers import SqueezeExcitation
from ..mobilenet_v3 import InvertedResidual
from . import layers as K
from .registry import register_twin


def _inverted_residual(x, m, name):
    y = K.sequential(x, m.block, f"{name}.block")
    return K.add(x, y, f"{name}.add") if m.use_res_connect else y


def _squeeze_excitation(x, m, name):
    s = K.apply(x, m.avgpool, f"{name}.avgpool")
    s = K.apply(s, m.fc1, f"{name}.fc1")
    s = K.apply(s, m.activation, f"{name}.activation")
    s = K.apply(s, m.fc2, f"{name}.fc2")
    s = K.apply(s, m.scale_activation, f"{name}.scale_activation")
    return K.multiply(x, s, f"{name}.mul")


K.handler(InvertedResidual)(_inverted_residual)
K.handler(SqueezeExcitation)(_squeeze_excitation)


build = K.chain("features", "pool:avgpool", "classifier")


for _name in ("mobilenet_v3_small", "mobilenet_v3_large"):
    register_twin(_name, build)
