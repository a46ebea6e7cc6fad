"""Keras twin of zoo/xception.py (aligned Xception-65): separable convs, dilation by output stride."""
from __future__ import annotations

from ..xception import ClassifierHead, ConvBN, SeparableConv2d, XceptionModule
from . import layers as K
from .registry import register_twin


def _module(x, m, name):
    y = K.sequential(x, m.stack, f"{name}.stack")
    if m.no_skip:
        return y
    short = K.apply(x, m.shortcut, f"{name}.shortcut") if m.shortcut is not None else x
    return K.add(y, short, f"{name}.add")


def _head(x, m, name):
    x = K.global_pool(x, f"{name}.global_pool")
    return K.apply(x, m.fc, f"{name}.fc")


K.handler(ConvBN, SeparableConv2d)(K.sequential)  # children are registered in forward order
K.handler(XceptionModule)(_module)
K.handler(ClassifierHead)(_head)


build = K.chain("stem", "blocks", "head")


for _name in ("xception", "xception_os8"):
    register_twin(_name, build)
