"""Fashion-MNIST (Zalando, MIT licence) from Debian's ``dataset-fashion-mnist`` package.

Read from its IDX files (gzip) where apt installs them; nothing is downloaded. Images are
28x28 grayscale; ``read_fashion_mnist`` resizes them with PIL's bilinear filter (as
edgekit's preprocessing resizes photos) and replicates the gray channel to RGB.
"""
from __future__ import annotations

import gzip
import struct
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import DataError

DEFAULT_ROOT = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
          "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def available(root: Path = DEFAULT_ROOT) -> bool:
    return all((Path(root) / f).is_file() for pair in _FILES.values() for f in pair)


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (big-endian header: magic with dtype code and rank, then the dims) as uint8."""
    path = Path(path)
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"Cannot read '{path}' ({exc}). Reinstall it: apt-get install --reinstall dataset-fashion-mnist") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:  # 0x08: unsigned byte
        raise DataError(f"'{path}' is not an IDX file of unsigned bytes")
    rank = raw[3]
    dims = struct.unpack(f">{rank}I", raw[4:4 + 4 * rank])
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * rank)
    if data.size != int(np.prod(dims)):
        raise DataError(f"'{path}' holds {data.size} bytes of data; its header says {dims}")
    return data.reshape(dims)


def read_fashion_mnist(split: str, size: int = 28, limit: Optional[int] = None,
                       root: Path = DEFAULT_ROOT) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(images uint8 (N, size, size, 3), labels int64 (N,), names like 'train/00042')."""
    if split not in _FILES:
        raise DataError(f"Fashion-MNIST split '{split}' does not exist; valid: train, test")
    root = Path(root)
    if not available(root):
        raise DataError(f"Fashion-MNIST is not installed in {root}. Install it: apt-get install dataset-fashion-mnist")
    img_file, lbl_file = _FILES[split]
    images = read_idx(root / img_file)
    labels = read_idx(root / lbl_file).astype(np.int64)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    if images.ndim != 3 or len(images) != len(labels):
        raise DataError(f"Fashion-MNIST {split}: {images.shape} images for {labels.shape} labels")
    if size != images.shape[1]:
        images = _resize(images, size)
    rgb = np.repeat(images[..., None], 3, axis=-1)
    return rgb, labels, [f"{split}/{i:05d}" for i in range(len(labels))]


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    out = np.empty((len(images), size, size), np.uint8)
    for i, im in enumerate(images):
        out[i] = np.asarray(Image.fromarray(im).resize((size, size), Image.BILINEAR))
    return out
