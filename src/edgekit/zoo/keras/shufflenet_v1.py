"""Keras twin of zoo/shufflenet_v1.py: grouped 1x1 convs (Conv2D groups=g), Megvii's shuffle."""
from __future__ import annotations

from ..shufflenet_v1 import ShuffleV1Block
from . import layers as K
from .registry import register_twin


def _block(x, m, name):
    from .ops import ChannelShuffle

    y = K.sequential(x, m.branch_main_1, f"{name}.branch_main_1")
    if m.group > 1:
        y = ChannelShuffle(m.group, "megvii", name=f"{name}.shuffle")(y)
    y = K.sequential(y, m.branch_main_2, f"{name}.branch_main_2")
    relu = K._k().layers.ReLU
    if m.stride == 1:
        return relu(name=f"{name}.relu")(K.add(y, x, f"{name}.add"))
    proj = K.apply(x, m.branch_proj, f"{name}.branch_proj")
    return K.concat([proj, relu(name=f"{name}.relu")(y)], f"{name}.cat")


K.handler(ShuffleV1Block)(_block)


build = K.chain("first_conv", "maxpool", "features", "pool:globalpool", "classifier")


for _name in ("shufflenet_v1_g2", "shufflenet_v1_g3"):
    register_twin(_name, build)
