"""Labelled images for training: a folder with one subfolder per class, or a labels.csv.

Images are decoded once, up front, to RGB uint8 at the card's ``resize`` (shorter side, then a
centre square), so an unreadable file is found before any training, and augmentation works on
small in-memory arrays. Unreadable files are refused by default (one line naming the first and
the count); ``skip_unreadable`` trains without them and records how many were skipped.
"""
from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..data.preprocess import IMAGE_EXTENSIONS, resized_rgb
from ..errors import DataError


@dataclass
class LabelledImages:
    images: np.ndarray  # uint8 (N, S, S, 3) RGB
    labels: np.ndarray  # int64 (N,)
    names: list[str]  # relative paths (fixed per file: the split ranks them)
    classes: tuple[str, ...]
    origin: str = ""
    skipped: list[str] = field(default_factory=list)  # unreadable files left out

    def __len__(self) -> int:
        return len(self.names)

    def take(self, idx) -> "LabelledImages":
        idx = np.asarray(idx, dtype=np.int64)
        return LabelledImages(self.images[idx], self.labels[idx], [self.names[i] for i in idx],
                              self.classes, self.origin, self.skipped)

    def names_sha256(self) -> str:
        return hashlib.sha256("\n".join(self.names).encode()).hexdigest()[:16]

    def summary(self) -> dict:
        return {"origin": self.origin, "count": len(self), "classes": list(self.classes),
                "per_class": np.bincount(self.labels, minlength=len(self.classes)).tolist(),
                "sha256_of_names": self.names_sha256(), "skipped_unreadable": len(self.skipped)}


def split_train_val(data: LabelledImages, val_fraction: float) -> tuple[LabelledImages, LabelledImages]:
    """Per class, files ranked by the sha256 of their name; the first ``val_fraction`` validate.

    The split depends on file names only, so it is the same on every run and on resume.
    """
    if not 0 < val_fraction < 1:
        raise DataError(f"Validation fraction {val_fraction} is out of range; valid: between 0 and 1, e.g. 0.2")
    train_idx, val_idx = [], []
    for c, name in enumerate(data.classes):
        members = [i for i in range(len(data)) if data.labels[i] == c]
        if len(members) < 2:
            raise DataError(f"Class '{name}' has {len(members)} image; each class needs at least 2 "
                            "(one to train on, one to validate). Add images to it")
        members.sort(key=lambda i: hashlib.sha256(data.names[i].encode()).hexdigest())
        n_val = min(max(int(round(len(members) * val_fraction)), 1), len(members) - 1)
        val_idx += members[:n_val]
        train_idx += members[n_val:]
    return data.take(sorted(train_idx)), data.take(sorted(val_idx))


def read_labelled_folder(folder: Path, size: int, crop: Optional[int] = None, skip_unreadable: bool = False,
                         progress: Callable[[str], None] = lambda m: None) -> LabelledImages:
    """Decode every image of ``folder`` (class subfolders, or labels.csv with file,label)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"Data folder '{folder}' does not exist. Pass a folder with one subfolder "
                        "of images per class (DIR/cat/*.jpg, DIR/dog/*.jpg) or a labels.csv")
    files, labels, classes = _from_csv(folder) if (folder / "labels.csv").is_file() else _from_subfolders(folder)
    arrays, names, kept, skipped = [], [], [], []
    for i, (path, label) in enumerate(zip(files, labels)):
        try:
            arrays.append(resized_rgb(path, size, crop or size))
        except DataError as exc:
            skipped.append((path.relative_to(folder).as_posix(), str(exc)))
            continue
        names.append(path.relative_to(folder).as_posix())
        kept.append(label)
        if (i + 1) % 500 == 0 or i + 1 == len(files):
            progress(f"data: decoded {i + 1}/{len(files)} images")
    if skipped and not skip_unreadable:
        raise DataError(f"{len(skipped)} of {len(files)} images cannot be read (first: {skipped[0][0]}). "
                        "Remove or fix them, or pass --skip-unreadable to train without them")
    if skipped:
        progress(f"warning: skipped {len(skipped)} unreadable images (first: {skipped[0][0]})")
    data = LabelledImages(np.stack(arrays) if arrays else np.zeros((0, size, size, 3), np.uint8),
                          np.asarray(kept, np.int64), names, tuple(classes), str(folder),
                          [s[0] for s in skipped])
    for c, name in enumerate(classes):  # a class whose every image was skipped
        if not np.any(data.labels == c):
            raise DataError(f"Class '{name}' has no readable image left; add readable images to it")
    return data


def _from_subfolders(folder: Path):
    subdirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not subdirs:
        raise DataError(f"Data folder '{folder}' has no class subfolders and no labels.csv. Put each class's "
                        "images in its own subfolder (DIR/cat/*.jpg, DIR/dog/*.jpg) or add labels.csv (file,label)")
    _need_two(folder, [d.name for d in subdirs])
    files, labels = [], []
    for c, d in enumerate(subdirs):
        found = sorted(p for p in d.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
                       and not p.name.startswith("."))
        if not found:
            raise DataError(f"Class folder '{d}' holds no images (valid: {', '.join(IMAGE_EXTENSIONS)}). "
                            "Add images to it or remove the folder")
        files += found
        labels += [c] * len(found)
    return files, labels, [d.name for d in subdirs]


def _from_csv(folder: Path):
    path = folder / "labels.csv"
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "file" not in rows[0] or "label" not in rows[0]:
        raise DataError(f"{path} needs a header 'file,label' and one row per image (label: the class name)")
    classes = sorted({r["label"].strip() for r in rows if (r.get("label") or "").strip()})
    _need_two(folder, classes)
    index = {c: i for i, c in enumerate(classes)}
    files, labels = [], []
    for r in rows:
        label, p = (r.get("label") or "").strip(), folder / (r.get("file") or "")
        if not label or not r.get("file"):
            raise DataError(f"{path}: row {r} has an empty file or label")
        if not p.is_file():
            raise DataError(f"{path}: '{r['file']}' does not exist in {folder}")
        files.append(p)
        labels.append(index[label])
    return files, labels, classes


def _need_two(folder: Path, classes: list[str]) -> None:
    if len(classes) < 2:
        found = f"1 class ('{classes[0]}')" if classes else "no class"
        raise DataError(f"Data folder '{folder}' has {found}; a classifier needs at least 2. "
                        "Add one subfolder of images per class (or more labels in labels.csv)")
