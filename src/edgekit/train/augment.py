"""uint8 image batches -> model inputs: random-window augmentation for training (batched,
one affine resample per batch) and the card's centre crop for validation; then the card's
(pixel - mean) / std in its colour order.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import ConfigError


@dataclass(frozen=True)
class Augment:
    """Random window per image: side ``scale`` x the centre crop's, aspect ``aspect``, centre
    anywhere that keeps the window inside the image plus up to ``translate`` of the image side
    beyond (edge pixels repeated), mirrored left-right when ``flip``. Windows never exceed the
    centre crop's side: zooming out would mostly show repeated edges."""

    flip: bool = True
    scale: tuple[float, float] = (0.8, 1.0)
    aspect: tuple[float, float] = (0.9, 1.1)
    translate: float = 0.1

    def __post_init__(self) -> None:
        if not (0 < self.scale[0] <= self.scale[1] <= 1) or not (0 < self.aspect[0] <= self.aspect[1]) \
                or not 0 <= self.translate < 0.5:
            raise ConfigError(f"Invalid augmentation {self}: need 0 < scale <= 1, aspect > 0, 0 <= translate < 0.5")

    def to_dict(self) -> dict:
        return asdict(self)


def model_inputs(batch, pre, augment: Augment | None = None, generator=None):
    """uint8 (B, S, S, 3) numpy/torch -> float32 (B, 3, crop, crop) normalized like the card."""
    import torch

    x = torch.as_tensor(batch).permute(0, 3, 1, 2).float()
    size, crop = x.shape[-1], pre.crop
    if augment is None:
        off = int(round((size - crop) / 2.0))
        x = x[:, :, off:off + crop, off:off + crop]
    else:
        x = _random_windows(x, crop, augment, generator)
    if pre.color == "BGR":
        x = x.flip(1)
    mean = torch.tensor(pre.mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(pre.std, dtype=torch.float32).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous()


def _random_windows(x, crop: int, aug: Augment, generator):
    import torch
    from torch.nn import functional as F

    n, size = x.shape[0], x.shape[-1]

    def uniform(lo, hi):
        return lo + (hi - lo) * torch.rand(n, generator=generator)

    side = (crop / size) * uniform(*aug.scale)  # window side relative to the image side
    aspect = torch.exp(uniform(torch.log(torch.tensor(aug.aspect[0])), torch.log(torch.tensor(aug.aspect[1]))))
    sx, sy = torch.clamp(side * aspect.sqrt(), max=1.0), torch.clamp(side / aspect.sqrt(), max=1.0)
    # affine_grid works in [-1, 1]: a shift of t image sides is 2t; keep the window mostly inside
    cx = (1 - sx + 2 * aug.translate) * uniform(-1.0, 1.0)
    cy = (1 - sy + 2 * aug.translate) * uniform(-1.0, 1.0)
    sign = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if aug.flip else torch.ones(n)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = sx * sign, cx
    theta[:, 1, 1], theta[:, 1, 2] = sy, cy
    grid = F.affine_grid(theta, (n, 3, crop, crop), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
