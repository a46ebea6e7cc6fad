"""ShuffleNet V1 1.0x (Zhang et al. 2017): grouped 1x1 convs, channel shuffle, depthwise 3x3.

torchvision has no ShuffleNet V1. The module layout, state_dict keys, channel-shuffle order
and preprocessing follow Megvii's reference implementation (megvii-model/ShuffleNet-Series,
ShuffleNetV1/), so its published checkpoints load strictly (group 3 is published there;
group 2 follows the paper's Table 1 with the same code):

    first_conv.{0,1}                  3x3 stride-2 conv 24 + BN (+ ReLU), then maxpool
    features.0..15.branch_main_1.*    1x1 group conv + BN + ReLU, 3x3 depthwise + BN
    features.0..15.branch_main_2.*    1x1 group conv + BN (after the channel shuffle)
    classifier.0                      Linear without bias

A unit of stride 2 concatenates a 3x3 average-pooled shortcut with its branch (so the
branch makes ``out - in`` channels); a unit of stride 1 adds the identity. The first 1x1
conv of stage 2 is ungrouped (its input has only 24 channels), as in the paper.
Megvii trained on BGR pixels in 0-255 without normalisation; the cards say so.
"""
from __future__ import annotations

from functools import partial

import torch
from torch import nn
from torch.nn import functional as F

from .card import ModelCard, Preprocess
from .layers import init_weights
from .registry import register

STAGE_CHANNELS = {1: (144, 288, 576), 2: (200, 400, 800), 3: (240, 480, 960),
                  4: (272, 544, 1088), 8: (384, 768, 1536)}  # 1.0x, paper Table 1


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Megvii's order, (C/g, g) -> (g, C/g); the inverse permutation of torchvision's V2
    shuffle. Either mixes groups; this one matches the Megvii checkpoints."""
    b, c, h, w = x.shape
    x = x.reshape(b, c // groups, groups, h, w).permute(0, 2, 1, 3, 4)
    return x.reshape(b, c, h, w)


class ShuffleV1Block(nn.Module):
    def __init__(self, inp: int, oup: int, group: int, first_group: bool, stride: int) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"illegal stride {stride}")
        self.stride = stride
        self.group = group
        mid = oup // 4
        outputs = oup - inp if stride == 2 else oup
        self.branch_main_1 = nn.Sequential(
            nn.Conv2d(inp, mid, 1, 1, 0, groups=1 if first_group else group, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False),
            nn.BatchNorm2d(mid),
        )
        self.branch_main_2 = nn.Sequential(
            nn.Conv2d(mid, outputs, 1, 1, 0, groups=group, bias=False),
            nn.BatchNorm2d(outputs),
        )
        if stride == 2:
            self.branch_proj = nn.AvgPool2d(kernel_size=3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.branch_main_1(x)
        if self.group > 1:
            y = channel_shuffle(y, self.group)
        y = self.branch_main_2(y)
        if self.stride == 1:  # Python attributes fixed at build time, not tensor values
            return F.relu(y + x)
        return torch.cat((self.branch_proj(x), F.relu(y)), 1)


class ShuffleNetV1(nn.Module):
    def __init__(self, group: int = 3, num_classes: int = 1000, stage_repeats=(4, 8, 4),
                 first_channels: int = 24) -> None:
        super().__init__()
        if group not in STAGE_CHANNELS:
            raise ValueError(f"group must be one of {sorted(STAGE_CHANNELS)}, got {group}")
        self.stage_out_channels = STAGE_CHANNELS[group]
        ch = first_channels
        self.first_conv = nn.Sequential(
            nn.Conv2d(3, ch, 3, 2, 1, bias=False), nn.BatchNorm2d(ch), nn.ReLU(inplace=True),
        )
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        blocks: list[nn.Module] = []
        for stage, (repeats, out) in enumerate(zip(stage_repeats, self.stage_out_channels)):
            for i in range(repeats):
                blocks.append(ShuffleV1Block(ch, out, group, first_group=stage == 0 and i == 0,
                                             stride=2 if i == 0 else 1))
                ch = out
        self.features = nn.Sequential(*blocks)
        # Megvii uses AvgPool2d(7), which only fits 224 inputs; global pooling fits any size.
        self.globalpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(ch, num_classes, bias=False))
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(self.maxpool(self.first_conv(x)))
        return self.classifier(torch.flatten(self.globalpool(x), 1))


_PRE = Preprocess(crop=224, resize=256, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), color="BGR")
_SOURCE = ("Zhang et al., ShuffleNet (arXiv:1707.01083); layout and keys of "
           "megvii-model/ShuffleNet-Series ShuffleNetV1 (1.0x)")
_LICENSE = "Apache-2.0 (edgekit implementation after Megvii's MIT-licensed reference); weights: see the weights file"

for _g in (2, 3):
    register(ModelCard(
        name=f"shufflenet_v1_g{_g}",
        family="shufflenet",
        builder=partial(ShuffleNetV1, _g),
        preprocess=_PRE,
        license=_LICENSE,
        source=_SOURCE,
        description=f"ShuffleNet V1 1.0x, {_g} groups, 224x224 BGR 0-255 input, ImageNet-1k classifier",
        torchvision_compatible=False,
    ))
