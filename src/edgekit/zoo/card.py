"""ModelCard: what a model needs to be fed, what it outputs, and where it comes from."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional

from ..errors import ConfigError

IMAGENET_MEAN = (123.675, 116.28, 103.53)  # on the 0-255 pixel scale
IMAGENET_STD = (58.395, 57.12, 57.375)
MAX_SIDE = 4096  # pixels: the largest input side edgekit takes (as --input-size, cli/params.py)


def _finite_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True)
class Preprocess:
    """Image preprocessing on the 0-255 pixel scale, as torchvision's classification presets.

    resize: the shorter side is resized to this (bilinear), then a centre crop of
    ``crop`` x ``crop``; then ``(pixel - mean) / std`` per channel, channels in ``color`` order.
    """

    crop: int = 224
    resize: int = 256
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    color: str = "RGB"  # or "BGR"

    def __post_init__(self) -> None:
        # also the check of a sidecar's card: any JSON may arrive here, so types come first
        sizes_ok = all(isinstance(v, int) and not isinstance(v, bool) for v in (self.crop, self.resize))
        if not sizes_ok or not 8 <= self.crop <= MAX_SIDE or not self.crop <= self.resize <= 2 * MAX_SIDE:
            raise ConfigError(
                f"Invalid preprocessing: crop {self.crop!r}, resize {self.resize!r}; "
                f"need integers with 8 <= crop <= {MAX_SIDE} and crop <= resize <= {2 * MAX_SIDE}"
            )
        triples = (self.mean, self.std)
        if not all(isinstance(t, tuple) and len(t) == 3 and all(_finite_number(v) for v in t) for t in triples) \
                or any(s <= 0 for s in self.std):
            raise ConfigError("mean and std need 3 finite numbers each, std > 0, e.g. --mean 127,127,127")
        if self.color not in ("RGB", "BGR"):
            raise ConfigError(f"color must be RGB or BGR, not '{self.color}'")

    @classmethod
    def for_size(cls, crop: int, **kw) -> "Preprocess":
        """ImageNet-style preset: resize to round(crop / 0.875), centre crop ``crop``."""
        return cls(crop=crop, resize=round(crop / 0.875), **kw)


@dataclass(frozen=True)
class ModelCard:
    name: str
    family: str
    builder: Optional[Callable] = field(default=None, compare=False, repr=False)
    num_classes: int = 1000
    preprocess: Preprocess = Preprocess()
    classes: str = "imagenet1k"  # a label-set name, or "" when unknown
    labels: tuple[str, ...] = ()  # class names in output order (a trained checkpoint's), if known
    license: str = "BSD-3-Clause (architecture after torchvision); weights: see the weights file"
    source: str = ""
    description: str = ""
    torchvision_compatible: bool = True  # state_dict keys load torchvision checkpoints strictly
    reference_params: Optional[int] = None  # parameter count of the reference implementation

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return (1, 3, self.preprocess.crop, self.preprocess.crop)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("builder", None)
        d["input_shape"] = list(self.input_shape)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ModelCard":
        """A card as to_dict wrote it (a sidecar's); anything else is one ConfigError."""
        try:
            d = dict(d)
            d.pop("input_shape", None)
            pre = d.pop("preprocess", {}) or {}
            pre = Preprocess(**{k: tuple(v) if isinstance(v, list) else v for k, v in dict(pre).items()})
            d["labels"] = tuple(d.get("labels") or ())
            card = cls(preprocess=pre, **d)
        except (TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"invalid model card ({exc})") from None
        if not isinstance(card.name, str) or not isinstance(card.num_classes, int) or isinstance(
                card.num_classes, bool) or not 0 <= card.num_classes <= 1_000_000 \
                or not all(isinstance(label, str) for label in card.labels):
            raise ConfigError(f"invalid model card (name {card.name!r}, num_classes {card.num_classes!r}; labels "
                              "must be strings)")
        return card
