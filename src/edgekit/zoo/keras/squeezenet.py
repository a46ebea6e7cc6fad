"""Keras twin of zoo/squeezenet.py: Fire modules; ceil-mode max pools become padded pools."""
from __future__ import annotations

from ..squeezenet import Fire
from . import layers as K
from .registry import register_twin


def _fire(x, m, name):
    s = K.apply(K.apply(x, m.squeeze, f"{name}.squeeze"), m.squeeze_activation, f"{name}.squeeze_activation")
    e1 = K.apply(K.apply(s, m.expand1x1, f"{name}.expand1x1"), m.expand1x1_activation, f"{name}.expand1x1_activation")
    e3 = K.apply(K.apply(s, m.expand3x3, f"{name}.expand3x3"), m.expand3x3_activation, f"{name}.expand3x3_activation")
    return K.concat([e1, e3], f"{name}.cat")


K.handler(Fire)(_fire)


build = K.chain("features", "classifier", "flatten:flatten")  # classifier: dropout, conv, relu, global pool


for _name in ("squeezenet1_0", "squeezenet1_1"):
    register_twin(_name, build)
