"""ShuffleNet V2 (Ma et al. 2018), torchvision's module layout and keys.

Channel shuffle is reshape -> transpose -> reshape with sizes read from ``x.shape``
(static once traced), the same order as torchvision: (g, C/g) -> (C/g, g).
"""
from __future__ import annotations

from functools import partial

import torch
from torch import nn

from .card import ModelCard
from .layers import init_weights
from .registry import register


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    b, c, h, w = x.shape
    x = x.reshape(b, groups, c // groups, h, w).transpose(1, 2)
    return x.reshape(b, c, h, w)


def _dw(ch: int, stride: int) -> nn.Conv2d:
    return nn.Conv2d(ch, ch, 3, stride, 1, bias=False, groups=ch)


class InvertedResidual(nn.Module):
    def __init__(self, inp: int, oup: int, stride: int) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"illegal stride {stride}")
        self.stride = stride
        branch = oup // 2
        if stride == 1 and inp != branch * 2:
            raise ValueError(f"stride 1 needs inp == oup (got inp {inp}, oup {oup})")
        if stride > 1:
            self.branch1 = nn.Sequential(
                _dw(inp, stride), nn.BatchNorm2d(inp),
                nn.Conv2d(inp, branch, 1, 1, 0, bias=False), nn.BatchNorm2d(branch), nn.ReLU(inplace=True),
            )
        else:
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(
            nn.Conv2d(inp if stride > 1 else branch, branch, 1, 1, 0, bias=False),
            nn.BatchNorm2d(branch), nn.ReLU(inplace=True),
            _dw(branch, stride), nn.BatchNorm2d(branch),
            nn.Conv2d(branch, branch, 1, 1, 0, bias=False), nn.BatchNorm2d(branch), nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:  # a Python attribute, fixed at build time: no tensor control flow
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    def __init__(self, stages_repeats: list[int], stages_out_channels: list[int], num_classes: int = 1000) -> None:
        super().__init__()
        if len(stages_repeats) != 3 or len(stages_out_channels) != 5:
            raise ValueError("expected 3 stage repeats and 5 stage channel counts")
        self._stage_out_channels = stages_out_channels
        ch = stages_out_channels[0]
        self.conv1 = nn.Sequential(nn.Conv2d(3, ch, 3, 2, 1, bias=False), nn.BatchNorm2d(ch), nn.ReLU(inplace=True))
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        for name, repeats, out in zip(("stage2", "stage3", "stage4"), stages_repeats, stages_out_channels[1:]):
            blocks = [InvertedResidual(ch, out, 2)] + [InvertedResidual(out, out, 1) for _ in range(repeats - 1)]
            setattr(self, name, nn.Sequential(*blocks))
            ch = out
        last = stages_out_channels[-1]
        self.conv5 = nn.Sequential(
            nn.Conv2d(ch, last, 1, 1, 0, bias=False), nn.BatchNorm2d(last), nn.ReLU(inplace=True),
        )
        self.fc = nn.Linear(last, num_classes)
        init_weights(self)  # torchvision keeps PyTorch's default init here; either is fine untrained

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(x))
        x = self.stage4(self.stage3(self.stage2(x)))
        x = self.conv5(x)
        return self.fc(x.mean([2, 3]))


_SOURCE = "Ma et al., ShuffleNet V2 (arXiv:1807.11164); layout of torchvision.models.{}"

for _name, _channels, _what, _params in (
        ("shufflenet_v2_x0_5", [24, 48, 96, 192, 1024], "0.5x", 1_366_792),
        ("shufflenet_v2_x1_0", [24, 116, 232, 464, 1024], "1.0x", 2_278_604)):
    register(ModelCard(name=_name, family="shufflenet", builder=partial(ShuffleNetV2, [4, 8, 4], _channels),
                       source=_SOURCE.format(_name), description=f"ShuffleNet V2 {_what}, 224x224, ImageNet-1k classifier",
                       reference_params=_params))
