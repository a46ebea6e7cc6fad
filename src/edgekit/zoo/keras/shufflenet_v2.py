"""Keras twin of zoo/shufflenet_v2.py: channel split, two branches, channel shuffle."""
from __future__ import annotations

from ..shufflenet_v2 import InvertedResidual
from . import layers as K
from .registry import register_twin


def _block(x, m, name):
    from .ops import ChannelShuffle, ChannelSplit

    if m.stride == 1:
        x1, x2 = ChannelSplit(2, name=f"{name}.chunk")(x)
        out = K.concat([x1, K.sequential(x2, m.branch2, f"{name}.branch2")], f"{name}.cat")
    else:
        out = K.concat([K.sequential(x, m.branch1, f"{name}.branch1"),
                        K.sequential(x, m.branch2, f"{name}.branch2")], f"{name}.cat")
    return ChannelShuffle(2, "torchvision", name=f"{name}.shuffle")(out)


K.handler(InvertedResidual)(_block)


build = K.chain("conv1", "maxpool", "stage2", "stage3", "stage4", "conv5", "pool:pool", "fc")  # pool: x.mean([2, 3])


for _name in ("shufflenet_v2_x0_5", "shufflenet_v2_x1_0"):
    register_twin(_name, build)
