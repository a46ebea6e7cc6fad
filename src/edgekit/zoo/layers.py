"""Building blocks shared by the zoo, with torchvision's module layout (so keys match)."""
from __future__ import annotations

from typing import Callable, Optional

from torch import nn


def make_divisible(v: float, divisor: int = 8, min_value: Optional[int] = None) -> int:
    """Round channels to a multiple of ``divisor`` without going below 90% (torchvision's rule)."""
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class ConvBNAct(nn.Sequential):
    """Conv2d -> BatchNorm2d -> activation; torchvision's Conv2dNormActivation (keys .0 .1)."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        activation: Optional[Callable[..., nn.Module]] = nn.ReLU6,
        dilation: int = 1,
        norm: bool = True,
    ) -> None:
        padding = (kernel_size - 1) // 2 * dilation
        layers: list[nn.Module] = [
            nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding, dilation=dilation,
                      groups=groups, bias=not norm)
        ]
        if norm:
            layers.append(nn.BatchNorm2d(out_ch))
        if activation is not None:
            layers.append(activation(inplace=True) if _takes_inplace(activation) else activation())
        super().__init__(*layers)
        self.out_channels = out_ch


def _takes_inplace(act: Callable[..., nn.Module]) -> bool:
    return act in (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.Hardsigmoid, nn.SiLU)


def init_weights(model: nn.Module) -> None:
    """torchvision's initialisation, so untrained models give non-degenerate outputs."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation with torchvision's keys (fc1, fc2) and ops.misc layout.

    Pooling is a module (no state) so it shows in per-layer summaries; the gate is a
    multiply by a broadcast (N, C, 1, 1) tensor, which every exporter handles.
    """

    def __init__(
        self,
        in_ch: int,
        squeeze_ch: int,
        activation: Callable[..., nn.Module] = nn.ReLU,
        scale_activation: Callable[..., nn.Module] = nn.Hardsigmoid,
    ) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(in_ch, squeeze_ch, 1)
        self.fc2 = nn.Conv2d(squeeze_ch, in_ch, 1)
        self.activation = activation()
        self.scale_activation = scale_activation()

    def forward(self, x):
        scale = self.avgpool(x)
        scale = self.activation(self.fc1(scale))
        scale = self.scale_activation(self.fc2(scale))
        return scale * x
