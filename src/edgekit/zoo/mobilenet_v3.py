"""MobileNetV3 small and large (Howard et al. 2019), torchvision's module layout and keys.

BatchNorm uses eps=0.001, momentum=0.01 as torchvision does; eps matters for loading
torchvision checkpoints (their statistics were trained with it).
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import torch
from torch import nn

from .card import ModelCard
from .layers import ConvBNAct, SqueezeExcitation, init_weights, make_divisible
from .registry import register


class BlockConfig(NamedTuple):
    in_ch: int
    kernel: int
    expanded: int
    out_ch: int
    use_se: bool
    hardswish: bool  # else ReLU
    stride: int


def _cfg(width_mult: float, *rows) -> list[BlockConfig]:
    adj = partial(_adjust, width_mult=width_mult)
    return [BlockConfig(adj(i), k, adj(e), adj(o), se, act == "HS", s) for i, k, e, o, se, act, s in rows]


def _adjust(ch: int, width_mult: float) -> int:
    return make_divisible(ch * width_mult, 8)


# input, kernel, expanded, output, SE, activation, stride (torchvision's tables)
LARGE = [(16, 3, 16, 16, False, "RE", 1), (16, 3, 64, 24, False, "RE", 2),
         (24, 3, 72, 24, False, "RE", 1), (24, 5, 72, 40, True, "RE", 2),
         (40, 5, 120, 40, True, "RE", 1), (40, 5, 120, 40, True, "RE", 1),
         (40, 3, 240, 80, False, "HS", 2), (80, 3, 200, 80, False, "HS", 1),
         (80, 3, 184, 80, False, "HS", 1), (80, 3, 184, 80, False, "HS", 1),
         (80, 3, 480, 112, True, "HS", 1), (112, 3, 672, 112, True, "HS", 1),
         (112, 5, 672, 160, True, "HS", 2), (160, 5, 960, 160, True, "HS", 1),
         (160, 5, 960, 160, True, "HS", 1)]
SMALL = [(16, 3, 16, 16, True, "RE", 2), (16, 3, 72, 24, False, "RE", 2),
         (24, 3, 88, 24, False, "RE", 1), (24, 5, 96, 40, True, "HS", 2),
         (40, 5, 240, 40, True, "HS", 1), (40, 5, 240, 40, True, "HS", 1),
         (40, 5, 120, 48, True, "HS", 1), (48, 5, 144, 48, True, "HS", 1),
         (48, 5, 288, 96, True, "HS", 2), (96, 5, 576, 96, True, "HS", 1),
         (96, 5, 576, 96, True, "HS", 1)]


class InvertedResidual(nn.Module):
    def __init__(self, cnf: BlockConfig) -> None:
        super().__init__()
        self.use_res_connect = cnf.stride == 1 and cnf.in_ch == cnf.out_ch
        act = nn.Hardswish if cnf.hardswish else nn.ReLU
        layers: list[nn.Module] = []
        if cnf.expanded != cnf.in_ch:
            layers.append(ConvBNAct(cnf.in_ch, cnf.expanded, 1, activation=act))
        layers.append(ConvBNAct(cnf.expanded, cnf.expanded, cnf.kernel, cnf.stride,
                                groups=cnf.expanded, activation=act))
        if cnf.use_se:
            layers.append(SqueezeExcitation(cnf.expanded, make_divisible(cnf.expanded // 4, 8)))
        layers.append(ConvBNAct(cnf.expanded, cnf.out_ch, 1, activation=None))
        self.block = nn.Sequential(*layers)
        self.out_channels = cnf.out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x) if self.use_res_connect else self.block(x)


class MobileNetV3(nn.Module):
    def __init__(self, setting: list[BlockConfig], last_channel: int, num_classes: int = 1000,
                 dropout: float = 0.2) -> None:
        super().__init__()
        layers: list[nn.Module] = [ConvBNAct(3, setting[0].in_ch, 3, 2, activation=nn.Hardswish)]
        layers += [InvertedResidual(c) for c in setting]
        last_in = setting[-1].out_ch
        layers.append(ConvBNAct(last_in, 6 * last_in, 1, activation=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(6 * last_in, last_channel),
            nn.Hardswish(inplace=True),
            nn.Dropout(p=dropout, inplace=True),
            nn.Linear(last_channel, num_classes),
        )
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eps, m.momentum = 0.001, 0.01
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def mobilenet_v3_large(num_classes: int = 1000, width_mult: float = 1.0, dropout: float = 0.2) -> MobileNetV3:
    return MobileNetV3(_cfg(width_mult, *LARGE), _adjust(1280, width_mult), num_classes, dropout)


def mobilenet_v3_small(num_classes: int = 1000, width_mult: float = 1.0, dropout: float = 0.2) -> MobileNetV3:
    return MobileNetV3(_cfg(width_mult, *SMALL), _adjust(1024, width_mult), num_classes, dropout)


_SOURCE = "Howard et al., Searching for MobileNetV3 (arXiv:1905.02244); layout of torchvision.models.{}"

for _name, _builder, _what, _params in (
        ("mobilenet_v3_small", mobilenet_v3_small, "MobileNetV3-Small 1.0", 2_542_856),
        ("mobilenet_v3_large", mobilenet_v3_large, "MobileNetV3-Large 1.0", 5_483_032)):
    register(ModelCard(name=_name, family="mobilenet", builder=_builder, source=_SOURCE.format(_name),
                       description=f"{_what}, 224x224, ImageNet-1k classifier", reference_params=_params))
