"""MobileNetV1 (Howard et al. 2017) with a width multiplier ``alpha``.

torchvision has no MobileNetV1, so the keys are our own, kept short and regular:

    features.0.{0,1}              3x3 stride-2 conv 32 + BN (+ ReLU)
    features.1..13.dw.{0,1}       3x3 depthwise conv + BN (+ ReLU)
    features.1..13.pw.{0,1}       1x1 pointwise conv + BN (+ ReLU)
    classifier.1                  Linear (classifier.0 is Dropout)

Channels are ``int(c * alpha)`` as in the Keras reference (no rounding to a multiple of
8). At alpha 1.0 the model has 4,231,976 parameters: Keras' 4,253,864 minus the 21,888
BatchNorm moving statistics Keras counts as (non-trainable) parameters (likewise 0.5 and 0.25).
MACs at 224: 569M / 149M / 41M, as in the paper's Table 6.
ReLU as in the paper (Keras uses ReLU6; pass ``activation=nn.ReLU6`` for that).
"""
from __future__ import annotations

from functools import partial
from typing import Callable

import torch
from torch import nn

from .card import ModelCard
from .layers import ConvBNAct, init_weights
from .registry import register


class DepthwiseSeparable(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int, activation: Callable[..., nn.Module]) -> None:
        super().__init__()
        self.dw = ConvBNAct(in_ch, in_ch, 3, stride, groups=in_ch, activation=activation)
        self.pw = ConvBNAct(in_ch, out_ch, 1, activation=activation)
        self.out_channels = out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pw(self.dw(x))


class MobileNetV1(nn.Module):
    # (output channels, stride) of the 13 depthwise-separable blocks
    SETTING = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
               (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]

    def __init__(
        self,
        num_classes: int = 1000,
        alpha: float = 1.0,
        dropout: float = 0.001,  # Keras' default; irrelevant at inference
        activation: Callable[..., nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        if alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        ch = int(32 * alpha)
        features: list[nn.Module] = [ConvBNAct(3, ch, 3, 2, activation=activation)]
        for c, s in self.SETTING:
            out = int(c * alpha)
            features.append(DepthwiseSeparable(ch, out, s, activation))
            ch = out
        self.features = nn.Sequential(*features)
        self.last_channel = ch
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(ch, num_classes))
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = nn.functional.adaptive_avg_pool2d(x, 1)
        return self.classifier(torch.flatten(x, 1))


_LICENSE = "Apache-2.0 (edgekit implementation after the paper); weights: see the weights file"
_SOURCE = ("Howard et al., MobileNets (arXiv:1704.04861); channel rule of "
           "keras.applications.MobileNet; edgekit's own state_dict keys")

# Keras' totals (4,253,864 / 1,342,536 / 475,544) minus the BN moving statistics
for _name, _alpha, _params in [("mobilenet_v1", 1.0, 4_231_976),
                               ("mobilenet_v1_0_5", 0.5, 1_331_592),
                               ("mobilenet_v1_0_25", 0.25, 470_072)]:
    register(ModelCard(
        name=_name,
        family="mobilenet",
        builder=partial(MobileNetV1, alpha=_alpha),
        license=_LICENSE,
        source=_SOURCE,
        description=f"MobileNetV1 {_alpha}, 224x224, ImageNet-1k classifier",
        torchvision_compatible=False,
        reference_params=_params,
    ))
