"""ModelCard: what a model needs to be fed, what it outputs, and where it comes from."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable, Optional

from ..errors import ConfigError

IMAGENET_MEAN = (123.675, 116.28, 103.53)  # on the 0-255 pixel scale
IMAGENET_STD = (58.395, 57.12, 57.375)


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
        if self.crop < 8 or self.resize < self.crop:
            raise ConfigError(
                f"Invalid preprocessing: crop {self.crop}, resize {self.resize}; "
                "need crop >= 8 and resize >= crop"
            )
        if len(self.mean) != 3 or len(self.std) != 3 or any(s <= 0 for s in self.std):
            raise ConfigError("mean and std need 3 values each, std > 0, e.g. --mean 127,127,127")
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
        d = dict(d)
        d.pop("input_shape", None)
        pre = d.pop("preprocess", {}) or {}
        pre = Preprocess(**{k: tuple(v) if isinstance(v, list) else v for k, v in pre.items()})
        d["labels"] = tuple(d.get("labels") or ())
        return cls(preprocess=pre, **d)
