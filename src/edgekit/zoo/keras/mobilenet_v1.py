"""Keras twin of zoo/mobilenet_v1.py (depthwise-separable blocks), names = torch paths."""
from __future__ import annotations

from ..mobilenet_v1 import DepthwiseSeparable
from . import layers as K
from .registry import register_twin


def _separable(x, m, name):
    return K.apply(K.apply(x, m.dw, f"{name}.dw"), m.pw, f"{name}.pw")


K.handler(DepthwiseSeparable)(_separable)


def build(module, input_size: int, name: str = "mobilenet_v1"):
    inp = K.image_input(input_size)
    x = K.apply(inp, module.features, "features")
    x = K.global_pool(x, "pool")
    x = K.apply(x, module.classifier, "classifier")
    return K.model(inp, x, name)


for _name in ("mobilenet_v1", "mobilenet_v1_0_5", "mobilenet_v1_0_25"):
    register_twin(_name, build)
