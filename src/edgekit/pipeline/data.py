"""Calibration and evaluation images for one export: loaded once, never overlapping."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ..errors import ConfigError


@dataclass(frozen=True)
class DataOptions:
    calib: Optional[Path] = None  # folder of images or .npy; None: photos shipped with edgekit
    eval: Optional[Path] = None  # folder/.npy for validation; None: the part of calib held out
    eval_fraction: float = 0.5


def load_images(card, path: Path, progress: Callable[[str], None] = lambda m: None):
    """A folder of images (preprocessed by the card) or a .npy of model-ready inputs."""
    from ..data import load_image_set, load_npy
    from ..data.labels import card_class_names

    path = Path(path)
    if path.suffix == ".npy":
        return load_npy(path, card.input_shape)
    return load_image_set(path, card.preprocess, class_names=card_class_names(card),
                          progress=lambda i, n: progress(f"data: {i}/{n} images") if i in (1, n) else None)


def load_data(card, data: DataOptions, need_calibration: bool, warn: list, progress):
    """(calibration set, evaluation set); with no --data the evaluation set is held out of the calibration images."""
    from ..data import default_photos, split_calibration_eval
    from ..data.labels import card_class_names

    if data.calib is None:
        msg = ("no --calib given: using the photos shipped with edgekit; "
               "calibration data from your own domain gives better int8 accuracy")
        if need_calibration:
            warn.append(msg)
            progress("warning: " + msg)
        pool = default_photos(card.preprocess, class_names=card_class_names(card))
    else:
        pool = load_images(card, data.calib, progress)
    if data.eval is not None:
        evalset = load_images(card, data.eval, progress)
        overlap = set(_digests(pool)) & set(_digests(evalset))
        if overlap and need_calibration:
            raise ConfigError(f"{len(overlap)} evaluation images are also calibration images; "
                              "pass disjoint folders to --calib and --data")
        return pool, evalset
    if len(pool) < 2:
        return pool, pool
    calib, evalset = split_calibration_eval(pool, data.eval_fraction)
    progress(f"data: {len(calib)} images for calibration, {len(evalset)} held out for validation")
    return calib, evalset


def _digests(images) -> list[str]:
    return [hashlib.sha256(a.tobytes()).hexdigest() for a in images.arrays]
