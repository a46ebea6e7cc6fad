"""Any model a user names: a zoo name, a TorchScript / .pt2 file, module:factory, or a Keras file."""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Optional, Sequence

from .keras.user_model import is_keras_model_path, load_keras_user_model
from .loaded import LoadedModel, get_model
from .registry import MODELS
from .user_model import card_from_options, load_user_model


def is_user_model(spec: str) -> bool:
    return Path(spec).suffix in (".pt", ".pt2", ".pth", ".jit", ".ts") or bool(re.fullmatch(r"[\w.]+:\w+", spec))


def load_model(spec: str, weights: Optional[Path] = None, input_size: Optional[int] = None,
               mean: Optional[Sequence[float]] = None, std: Optional[Sequence[float]] = None,
               resize: Optional[int] = None, color: Optional[str] = None, num_classes: Optional[int] = None,
               trust_code: bool = False) -> LoadedModel:
    """A LoadedModel for a zoo name or a user's model (never downloads). For a zoo model the
    preprocessing options override its card's (noted in ``notes["preprocess_overridden"]``)."""
    if spec not in MODELS and is_keras_model_path(spec):  # .keras / .h5 / SavedModel directory
        card = card_from_options(name=Path(spec).stem or Path(spec).name, input_size=input_size or 224, mean=mean,
                                 std=std, resize=resize, color=color or "RGB", num_classes=num_classes)
        return load_keras_user_model(spec, card, trust_code=trust_code)
    if is_user_model(spec) and spec not in MODELS:
        card = card_from_options(name=Path(spec.split(":")[-1]).stem, input_size=input_size, mean=mean, std=std,
                                 resize=resize, color=color or "RGB", num_classes=num_classes)
        return load_user_model(spec, card, trust_code=trust_code)
    loaded = get_model(spec, weights, **({"num_classes": num_classes} if num_classes else {}))
    changes: dict = {}
    if input_size:
        changes.update(crop=input_size, resize=resize or round(input_size / 0.875))
    elif resize:
        changes.update(resize=resize)
    changes.update({k: v for k, v in (("mean", mean), ("std", std), ("color", color)) if v})
    if not changes:
        return loaded
    card = replace(loaded.card, preprocess=replace(loaded.card.preprocess, **changes))
    return replace(loaded, card=card, notes={**loaded.notes, "preprocess_overridden": sorted(changes)})
