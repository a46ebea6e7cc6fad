"""Keras twin of zoo/mobilenet_v2.py: same blocks, NHWC, layer names = torch module paths."""
from __future__ import annotations

from ..mobilenet_v2 import InvertedResidual
from . import layers as K
from .registry import register_twin


def _inverted_residual(x, m, name):
    y = K.sequential(x, m.conv, f"{name}.conv")
    return K.add(x, y, f"{name}.add") if m.use_res_connect else y


K.handler(InvertedResidual)(_inverted_residual)


build = K.chain("features", "pool:pool", "classifier")  # adaptive_avg_pool2d(x, 1) + flatten


register_twin("mobilenet_v2", build)
