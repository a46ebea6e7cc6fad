"""TrainConfig: epochs, batch, learning-rate schedule, augmentation, split; checked on creation."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Optional

from ..errors import ConfigError
from .augment import Augment

SCRATCH_EPOCHS, FINETUNE_EPOCHS = 30, 10
# AdamW, batch 64. From scratch on 3,000 Fashion-MNIST images x 4 epochs (MobileNetV1 0.25,
# 32 px): 2e-3 reached 28% test top-1, 1e-2 61%; 5e-3 sits between, safer for deeper nets.
SCRATCH_LR, FINETUNE_LR = 5e-3, 5e-4


@dataclass(frozen=True)
class TrainConfig:
    """``epochs``/``lr`` None: 30 epochs at 5e-3 from scratch, 10 at 5e-4 from ``--weights``.

    AdamW (weight decay on weights of rank >= 2 only), linear warm-up over ``warmup`` of the
    steps, then cosine decay to zero, stepped per batch. ``steps_per_epoch`` caps an epoch
    (a random subset of the training images each epoch) for data sets too large to pass over.
    """

    epochs: Optional[int] = None
    batch_size: int = 64
    lr: Optional[float] = None
    weight_decay: float = 0.05
    warmup: float = 0.03
    label_smoothing: float = 0.0
    val_fraction: float = 0.2
    seed: int = 0
    augment: Augment = field(default_factory=Augment)
    freeze_backbone: bool = False
    steps_per_epoch: Optional[int] = None
    save_every_s: float = 300.0  # a resume point mid-epoch at most this often (and at each epoch end)

    def __post_init__(self) -> None:
        if self.epochs is not None and (not isinstance(self.epochs, int) or self.epochs < 1):
            raise ConfigError(f"--epochs must be a whole number >= 1, not {self.epochs}; "
                              f"e.g. --epochs {FINETUNE_EPOCHS}")
        if self.batch_size < 2:
            raise ConfigError(f"--batch-size must be >= 2 (BatchNorm needs two images), not {self.batch_size}")
        if self.lr is not None and not (0 < self.lr < 1 and math.isfinite(self.lr)):
            raise ConfigError(f"--lr must be between 0 and 1, not {self.lr}; e.g. --lr {FINETUNE_LR}")
        if not 0 < self.val_fraction < 1:
            raise ConfigError(f"--val-fraction must be between 0 and 1, not {self.val_fraction}; e.g. 0.2")
        if not 0 <= self.warmup < 1 or not 0 <= self.label_smoothing < 1 or self.weight_decay < 0:
            raise ConfigError("warmup and label smoothing must lie in [0, 1), weight decay >= 0")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ConfigError(f"steps per epoch must be >= 1, not {self.steps_per_epoch}")

    def resolved(self, finetune: bool) -> "TrainConfig":
        from dataclasses import replace

        return replace(self, epochs=self.epochs or (FINETUNE_EPOCHS if finetune else SCRATCH_EPOCHS),
                       lr=self.lr or (FINETUNE_LR if finetune else SCRATCH_LR))

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("save_every_s")  # when resume points are written does not change the result
        return d

    def lr_at(self, step: int, total: int) -> float:
        warm = max(1, int(self.warmup * total))
        if step < warm:
            return self.lr * (step + 1) / warm
        return 0.5 * self.lr * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))
