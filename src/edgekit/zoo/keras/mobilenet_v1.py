"""Keras twin of zoo/mobilenet_v1.py (depthwise-separable blocks), names = torch paths."""
from __future__ import annotations

from ..mobilenet_v1 import DepthwiseSeparable
from . import layers as K
from .registry import register_twin


def _separable(x, m, name):
    return K.apply(K.apply(x, m.dw, f"{name}.dw"), m.pw, f"{name}.pw")


K.handler(DepthwiseSeparable)(_separable)


build = K.chain("features", "pool:pool", "classifier")


for _name in ("mobilenet_v1", "mobilenet_v1_0_5", "mobilenet_v1_0_25"):
    register_twin(_name, build)
