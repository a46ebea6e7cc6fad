"""Image preprocessing that matches torchvision's Resize + CenterCrop + Normalize exactly.

Kept dependency-light (PIL + numpy) so the same code serves calibration, validation
and the device side. Output: float32 CHW in the card's colour order.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".ppm")


def load_image(path: Path, pre) -> np.ndarray:
    """Read one image and return it preprocessed as float32 (3, crop, crop)."""
    arr = resized_rgb(path, pre.resize, pre.crop).astype(np.float32)
    if pre.color == "BGR":
        arr = arr[..., ::-1]
    arr = (arr - np.asarray(pre.mean, np.float32)) / np.asarray(pre.std, np.float32)
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def resized_rgb(path: Path, resize: int, crop: int) -> np.ndarray:
    """Read one image as RGB uint8 (crop, crop, 3): shorter side resized to ``resize``, centre crop."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            img = im.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"Cannot read image '{path}': {exc}. Remove it or pass another folder") from None
    return np.asarray(_center_crop(_resize_shorter(img, resize), crop), dtype=np.uint8)


def _resize_shorter(img, size: int):
    from PIL import Image

    w, h = img.size
    if w <= h:
        new_w, new_h = size, int(size * h / w)
    else:
        new_w, new_h = int(size * w / h), size
    return img.resize((new_w, new_h), Image.BILINEAR)


def _center_crop(img, size: int):
    w, h = img.size
    if w < size or h < size:
        raise DataError(f"Image is {w}x{h} after resize, smaller than the {size}px crop")
    left = int(round((w - size) / 2.0))
    top = int(round((h - size) / 2.0))
    return img.crop((left, top, left + size, top + size))
