"""Labels of an evaluation folder, as class indices of the model's outputs.

Two layouts say what each image shows:
- ``labels.csv`` beside the images: ``file,accepted_imagenet1k_idx`` (space-separated indices, any
  of which counts as right) or ``file,label`` (an index, or a class name of the model card);
- one subfolder per class (DIR/<class name>/*.jpg, every image exactly one level deep), the
  folder names being class names of the model card (a trained checkpoint's, or ImageNet-1k's).
  When most folder names are classes, any other is an error (a typo, or a class the model does
  not have); when at most half are, the folders are taken for another layout: no labels, a note.

Class names match ignoring case, and '_', '-' and '/' against spaces ("tiger_cat" is "tiger cat";
a folder cannot hold '/', so Fashion-MNIST's "T-shirt/top" is the folder "T-shirt_top").
"""
from __future__ import annotations

import csv
import functools
from importlib import resources
from pathlib import Path
from typing import NamedTuple, Optional, Sequence

from ..errors import DataError


class Labels(NamedTuple):
    by_name: dict  # image name -> accepted class indices
    source: str  # "labels.csv", "class subfolders", or "" (none)
    note: str = ""  # why a folder's layout was not read as labels, if it looked like it could be


def card_class_names(card) -> tuple[str, ...]:
    """The class names of the card's outputs, in output order: a trained checkpoint's, else
    ImageNet-1k's for a card that says so; () when unknown."""
    if card is None:
        return ()
    if card.labels:
        return tuple(card.labels)
    return imagenet1k_names() if card.classes == "imagenet1k" else ()


@functools.lru_cache(maxsize=1)
def imagenet1k_names() -> tuple[str, ...]:
    text = resources.files("edgekit.data").joinpath("imagenet1k_labels.txt").read_text()
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def _key(name: str) -> str:
    return " ".join(name.replace("_", " ").replace("-", " ").replace("/", " ").lower().split())


def _index(class_names: Sequence[str]) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for i, n in enumerate(class_names):  # ImageNet-1k names two classes 'crane': either counts
        out.setdefault(_key(n), set()).add(i)
    return out


def read_labels(folder: Path, names: list[str], class_names: Optional[Sequence[str]] = None) -> Labels:
    """Labels of the images ``names`` (relative to ``folder``) from labels.csv or class subfolders."""
    folder = Path(folder)
    if (folder / "labels.csv").is_file():
        return _from_csv(folder / "labels.csv", class_names)
    return _from_subfolders(names, class_names or ())


def _from_csv(path: Path, class_names: Optional[Sequence[str]]) -> Labels:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if rows and "accepted_imagenet1k_idx" in rows[0] and class_names and tuple(class_names) != imagenet1k_names():
        return Labels({}, "", f"labels.csv gives ImageNet-1k classes; the model's {len(class_names)} classes are others")
    class_names = class_names or ()
    index = _index(class_names)
    out: dict[str, set[int]] = {}
    for row in rows:
        value = (row.get("accepted_imagenet1k_idx") or row.get("label") or "").strip()
        if "file" not in row or not value:
            raise DataError(f"{path}: cannot read row {row}; expected columns file,accepted_imagenet1k_idx "
                            "(class indices) or file,label (a class index or name)")
        tokens = value.split()
        if all(t.isdigit() for t in tokens):
            out[row["file"]] = {int(t) for t in tokens}
        elif _key(value) in index:
            out[row["file"]] = index[_key(value)]
        else:
            raise DataError(f"{path}: '{row['file']}' is labelled '{value}', which is not a class of the model"
                            f"{_valid(class_names)}; use the model card's class names or indices")
    return Labels(out, "labels.csv")


def _from_subfolders(names: list[str], class_names: Sequence[str]) -> Labels:
    parts = [n.split("/") for n in names]
    folders = sorted({p[0] for p in parts if len(p) == 2})
    if len(folders) < 2 or any(len(p) != 2 for p in parts):
        return Labels({}, "")
    index = _index(class_names)
    unknown = [f for f in folders if _key(f) not in index]
    if 2 * len(unknown) >= len(folders):  # not meant as class folders (sources, dates, ...): no labels, a note
        why = "the model card names no classes" if not class_names else \
            f"{len(unknown)} of {len(folders)} subfolder names are no class name of the model (e.g. '{unknown[0]}')"
        return Labels({}, "", f"subfolders not read as labels: {why}")
    if unknown:  # most are classes: the others are typos or classes the model does not have
        raise DataError(f"{len(unknown)} of {len(folders)} class folders are not classes of the model: "
                        f"{', '.join(repr(u) for u in unknown[:5])}{' ...' if len(unknown) > 5 else ''}"
                        f"{_valid(class_names)}; rename them to the model card's class names or remove them")
    return Labels({n: index[_key(p[0])] for n, p in zip(names, parts)}, "class subfolders")


def _valid(class_names: Sequence[str]) -> str:
    if not class_names:
        return " (the model card names no classes: label by index)"
    shown = ", ".join(repr(c) for c in class_names[:5])
    return f" (its {len(class_names)} classes: {shown}{', ...' if len(class_names) > 5 else ''})"
