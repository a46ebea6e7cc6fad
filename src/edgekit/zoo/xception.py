"""Aligned Xception-65 (Chen et al. 2018, DeepLabV3+) with a classification head.

torchvision has no Xception. The layout and state_dict keys follow timm's
``xception65`` (timm/models/xception_aligned.py), itself a port of the TensorFlow DeepLab
ImageNet checkpoints, so those weights load strictly:

    stem.0, stem.1                3x3 conv 32 stride 2, 3x3 conv 64 (.conv .bn, ReLU)
    blocks.0-2   entry flow       128, 256, 728 channels, each downsampling by 2
    blocks.3-18  middle flow      16 x 728, identity shortcut
    blocks.19    exit flow        728 -> 728, 1024, 1024, downsampling by 2
    blocks.20    exit flow        1536, 1536, 2048, no shortcut, ReLU inside the separable convs
    head.fc                       Linear after global average pooling

Every block is three separable convs (3x3 depthwise + BN, 1x1 pointwise + BN); strided
separable convs replace Xception's max pooling ("aligned"). ``output_stride`` (8, 16, 32)
turns later strides into dilations as DeepLab does; it changes no weights, only the
resolution of the last feature maps and the compute.

We register ``xception`` at output stride 32: the classification setting its ImageNet
weights were trained at, and the cheapest. ``xception_os8`` is DeepLab's dense setting
(about 4x the compute); output stride 16 is available as ``get_model("xception", output_stride=16)``.
"""
from __future__ import annotations

from functools import partial
from typing import Optional, Union

import torch
from torch import nn

from .card import ModelCard, Preprocess
from .layers import init_weights
from .registry import register

_BN = partial(nn.BatchNorm2d, eps=0.001)  # TF DeepLab's epsilon, as timm


def _pad(kernel: int, stride: int, dilation: int) -> int:
    return ((stride - 1) + dilation * (kernel - 1)) // 2  # timm's symmetric "same-ish" padding


class ConvBN(nn.Module):
    """Conv -> BN (-> ReLU); keys .conv .bn as timm's ConvNormAct."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, act: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride, _pad(kernel, stride, 1), bias=False)
        self.bn = _BN(out_ch)
        self.act = nn.ReLU(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class SeparableConv2d(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, dilation: int = 1, act: bool = False) -> None:
        super().__init__()
        self.conv_dw = nn.Conv2d(in_ch, in_ch, 3, stride, _pad(3, stride, dilation), dilation=dilation,
                                 groups=in_ch, bias=False)
        self.bn_dw = _BN(in_ch)
        self.act_dw = nn.ReLU(inplace=True) if act else nn.Identity()
        self.conv_pw = nn.Conv2d(in_ch, out_ch, 1, bias=False)
        self.bn_pw = _BN(out_ch)
        self.act_pw = nn.ReLU(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act_dw(self.bn_dw(self.conv_dw(x)))
        return self.act_pw(self.bn_pw(self.conv_pw(x)))


class XceptionModule(nn.Module):
    def __init__(self, in_ch: int, out_chs: Union[int, tuple[int, int, int]], stride: int = 1,
                 dilation: int = 1, start_with_relu: bool = True, no_skip: bool = False) -> None:
        super().__init__()
        out_chs = (out_chs,) * 3 if isinstance(out_chs, int) else tuple(out_chs)
        self.in_channels, self.out_channels = in_ch, out_chs[-1]
        self.no_skip = no_skip
        self.shortcut: Optional[nn.Module] = None
        if not no_skip and (self.out_channels != in_ch or stride != 1):
            self.shortcut = ConvBN(in_ch, self.out_channels, 1, stride, act=False)
        self.stack = nn.Sequential()
        for i in range(3):
            if start_with_relu:
                # not in place for the first: the block input is still needed by the shortcut
                self.stack.add_module(f"act{i + 1}", nn.ReLU(inplace=i > 0))
            self.stack.add_module(f"conv{i + 1}", SeparableConv2d(
                in_ch, out_chs[i], stride if i == 2 else 1, dilation, act=not start_with_relu))
            in_ch = out_chs[i]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.stack(x)
        if self.no_skip:  # Python attributes fixed at build time
            return y
        return y + (self.shortcut(x) if self.shortcut is not None else x)


class ClassifierHead(nn.Module):
    def __init__(self, in_ch: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(in_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(torch.flatten(self.global_pool(x), 1)))


class XceptionAligned(nn.Module):
    def __init__(self, num_classes: int = 1000, output_stride: int = 32, middle_blocks: int = 16,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if output_stride not in (8, 16, 32):
            raise ValueError(f"output_stride must be 8, 16 or 32, got {output_stride}")
        self.output_stride = output_stride
        self.stem = nn.Sequential(ConvBN(3, 32, 3, 2), ConvBN(32, 64, 3, 1))
        cfg: list[dict] = [
            dict(in_ch=64, out_chs=128, stride=2),  # entry flow
            dict(in_ch=128, out_chs=256, stride=2),
            dict(in_ch=256, out_chs=728, stride=2),
            *[dict(in_ch=728, out_chs=728, stride=1) for _ in range(middle_blocks)],  # middle flow
            dict(in_ch=728, out_chs=(728, 1024, 1024), stride=2),  # exit flow
            dict(in_ch=1024, out_chs=(1536, 1536, 2048), stride=1, no_skip=True, start_with_relu=False),
        ]
        blocks: list[nn.Module] = []
        stride, dilation = 2, 1  # after the stem
        for b in cfg:
            b["dilation"] = dilation
            if b["stride"] > 1:
                if stride * b["stride"] > output_stride:  # DeepLab: keep resolution, dilate what follows
                    dilation *= b["stride"]
                    b["stride"] = 1
                else:
                    stride *= b["stride"]
            blocks.append(XceptionModule(**b))
        self.blocks = nn.Sequential(*blocks)
        self.num_features = 2048
        self.head = ClassifierHead(self.num_features, num_classes, dropout)
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


# timm's xception65 config: 299 crop, crop_pct 0.903 (resize 331), Inception mean/std 0.5
_PRE = Preprocess(crop=299, resize=331, mean=(127.5, 127.5, 127.5), std=(127.5, 127.5, 127.5))
_SOURCE = ("Chen et al., DeepLabV3+ (arXiv:1802.02611) Aligned Xception-65; layout and keys of "
           "timm xception65 (TF DeepLab ImageNet weights)")
_LICENSE = "Apache-2.0 (edgekit implementation after timm's, Apache-2.0); weights: see the weights file"

for _name, _stride, _what in (("xception", 32, "output stride 32"),
                              ("xception_os8", 8, "output stride 8 (dilated, DeepLab-style)")):
    register(ModelCard(name=_name, family="xception", builder=partial(XceptionAligned, output_stride=_stride),
                       preprocess=_PRE, license=_LICENSE, source=_SOURCE,
                       description=f"Aligned Xception-65, {_what}, 299x299, ImageNet-1k classifier",
                       torchvision_compatible=False))
