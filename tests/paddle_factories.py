"""Paddle models written the way Paddle's tutorials write them (own names, ConvBNLayer blocks), for
test_paddle.py: ``build_mobilenet_v1`` exports; ``build_plain_list`` keeps its blocks in a Python
list (Paddle then registers neither their parameters nor their sublayers); ``build_not_a_layer``
returns something else. BatchNorm statistics are random so the logits are not near-constant."""
from __future__ import annotations

import numpy as np
import paddle
from paddle import nn


class ConvBNLayer(nn.Layer):
    def __init__(self, in_c, out_c, k, stride, padding, groups=1):
        super().__init__()
        self._conv = nn.Conv2D(in_c, out_c, k, stride, padding, groups=groups, bias_attr=False)
        self._bn = nn.BatchNorm2D(out_c)

    def forward(self, x):
        return nn.functional.relu(self._bn(self._conv(x)))


class DepthwiseSeparable(nn.Layer):
    def __init__(self, in_c, out_c, stride):
        super().__init__()
        self._depthwise_conv = ConvBNLayer(in_c, in_c, 3, stride, 1, groups=in_c)
        self._pointwise_conv = ConvBNLayer(in_c, out_c, 1, 1, 0)

    def forward(self, x):
        return self._pointwise_conv(self._depthwise_conv(x))


SETTING = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
           (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]


class MobileNetV1(nn.Layer):
    def __init__(self, class_num=1000, plain_list=False):
        super().__init__()
        self.conv1 = ConvBNLayer(3, 32, 3, 2, 1)
        blocks, ch = [], 32
        for c, s in SETTING:
            blocks.append(DepthwiseSeparable(ch, c, s))
            ch = c
        self.blocks = blocks if plain_list else nn.LayerList(blocks)
        self.pool = nn.AdaptiveAvgPool2D(1)
        self.fc = nn.Linear(ch, class_num)

    def forward(self, x):
        x = self.conv1(x)
        for block in self.blocks:
            x = block(x)
        return self.fc(paddle.flatten(self.pool(x), 1))


def _randomized(net):
    rng = np.random.default_rng(0)
    for m in net.sublayers():
        if isinstance(m, nn.BatchNorm2D):
            c = m._mean.shape[0]
            m._mean.set_value((rng.standard_normal(c) * 0.1).astype("float32"))
            m._variance.set_value((rng.random(c) + 0.5).astype("float32"))
            m.weight.set_value((rng.random(c) + 0.5).astype("float32"))
            m.bias.set_value((rng.standard_normal(c) * 0.1).astype("float32"))
        elif isinstance(m, nn.Linear):
            m.weight.set_value((rng.standard_normal(m.weight.shape) / m.weight.shape[0] ** 0.5).astype("float32"))
    net.eval()
    return net


def build_mobilenet_v1():
    paddle.seed(0)
    return _randomized(MobileNetV1())


def build_plain_list():
    return MobileNetV1(plain_list=True)


def build_not_a_layer():
    return {"weights": "not a model"}
