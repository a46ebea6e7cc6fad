"""Where calibration and evaluation images come from: a folder, a .npy file, or the photos
shipped inside the package; and a deterministic split so calibration never sees eval data."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from .._finite import require_finite_arrays
from ..errors import DataError
from .labels import read_labels
from .preprocess import IMAGE_EXTENSIONS, load_image

DEFAULT_PHOTOS = Path(__file__).parent / "photos"


@dataclass
class ImageSet:
    """Preprocessed images (N, C, H, W float32) with their names and optional accepted labels."""

    arrays: np.ndarray
    names: list[str]
    labels: dict[str, set[int]] = field(default_factory=dict)  # name -> accepted class indices
    origin: str = ""  # absolute path of the folder or .npy, so a sidecar's record is found from any cwd
    label_source: str = ""  # "labels.csv", "class subfolders", or "" (none)
    label_note: str = ""  # why the folder's layout was not read as labels, if it looked like it could be

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, names: list[str]) -> "ImageSet":
        idx = [self.names.index(n) for n in names]
        return ImageSet(self.arrays[idx], list(names), {n: self.labels[n] for n in names if n in self.labels},
                        self.origin, self.label_source, self.label_note)

    def summary(self) -> dict:
        out = {"origin": self.origin, "count": len(self), "sha256_of_names": _names_hash(self.names)}
        if self.labels or self.label_note:
            out["labels"] = {"source": self.label_source, "labelled": len(self.labels), "note": self.label_note}
        return out


def list_images(folder: Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"Data folder '{folder}' does not exist. Pass a folder of images (jpg/png/...) or a .npy file")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    images = [p for p in files if p.suffix.lower() in IMAGE_EXTENSIONS]
    if not images:
        what = "is empty" if not files else f"holds no images ({len(files)} other files, e.g. '{files[0].name}')"
        raise DataError(
            f"Data folder '{folder}' {what}. Valid: {', '.join(IMAGE_EXTENSIONS)}. "
            "Point --calib/--data at a folder of photos from your domain"
        )
    return images


def load_image_set(folder: Path, pre, limit: Optional[int] = None, progress=None,
                   class_names: Optional[Sequence[str]] = None) -> ImageSet:
    """The images of ``folder``, preprocessed, with labels (data/labels.py) as indices of
    ``class_names`` (the model's outputs; default: ImageNet-1k indices in labels.csv only)."""
    folder = Path(folder)
    files = list_images(folder)
    if limit is not None:
        files = files[:limit]
    names = [p.relative_to(folder).as_posix() for p in files]
    arrays = []
    for i, p in enumerate(files):
        arrays.append(load_image(p, pre))
        if progress:
            progress(i + 1, len(files))
    stacked = np.stack(arrays)
    require_finite_arrays(stacked, names, f"Images in '{folder}' after preprocessing",
                          "Check the model card's mean and std (--mean/--std): they must be finite, std > 0")
    labels = read_labels(folder, names, class_names)
    return ImageSet(stacked, names, {n: labels.by_name[n] for n in names if n in labels.by_name}, str(folder.resolve()),
                    labels.source, labels.note)


def load_npy(path: Path, input_shape: tuple[int, ...]) -> ImageSet:
    """A .npy of model-ready float32 inputs, (N, C, H, W) matching the model input."""
    path = Path(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"Cannot read '{path}' as a .npy array ({exc})") from None
    if arr.ndim == len(input_shape) - 1:
        arr = arr[None]
    if arr.ndim != len(input_shape) or tuple(arr.shape[1:]) != tuple(input_shape[1:]) or len(arr) == 0:
        raise DataError(
            f"'{path}' has shape {arr.shape}; expected (N, {', '.join(map(str, input_shape[1:]))}) "
            "preprocessed like the model card"
        )
    names = [f"{path.name}[{i}]" for i in range(len(arr))]
    arr = arr.astype(np.float32)
    require_finite_arrays(arr, names, f"Inputs in '{path}'", "A .npy of inputs must hold preprocessed images, all values finite")
    return ImageSet(arr, names, origin=str(path.resolve()))


def default_photos(pre, progress=None, class_names: Optional[Sequence[str]] = None) -> ImageSet:
    """The permissively licensed photos shipped inside edgekit (licenses in photos/LICENSES.csv)."""
    s = load_image_set(DEFAULT_PHOTOS, pre, progress=progress, class_names=class_names)
    s.origin = DEFAULT_ORIGIN
    return s


DEFAULT_ORIGIN = "edgekit default photos (package data)"


def origin_path(origin: str) -> Path:
    """The folder or .npy an ImageSet's recorded origin names (the shipped photos by their name)."""
    return DEFAULT_PHOTOS if origin == DEFAULT_ORIGIN else Path(origin)


def split_calibration_eval(images: ImageSet, eval_fraction: float = 0.5) -> tuple[ImageSet, ImageSet]:
    """Deterministic split by a hash of each name, so a photo's side never changes between runs."""
    ranked = sorted(images.names, key=lambda n: hashlib.sha256(n.encode()).hexdigest())
    n_eval = max(1, int(round(len(ranked) * eval_fraction)))
    if len(ranked) < 2:
        raise DataError("Need at least 2 images to split them into calibration and evaluation sets")
    eval_names = set(ranked[:n_eval])
    calib = [n for n in images.names if n not in eval_names]
    evals = [n for n in images.names if n in eval_names]
    return images.subset(calib), images.subset(evals)


def _names_hash(names: list[str]) -> str:
    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]
