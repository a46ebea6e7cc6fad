"""The model zoo: PyTorch builders of mobile architectures, one ModelCard each.

``get_model(name, weights)`` never downloads: weights come from a local file.
Importing this package imports torch; ``import edgekit`` alone does not.
"""
from __future__ import annotations

import importlib

from .._optional import require_torch

require_torch()  # one clear line instead of an ImportError deep inside a family module

from .card import ModelCard, Preprocess
from .loaded import LoadedModel, get_model
from .registry import MODELS

# One module per family; each registers its cards on import.
_FAMILIES = ["mobilenet_v1", "mobilenet_v2", "mobilenet_v3", "squeezenet",
             "shufflenet_v2", "shufflenet_v1", "xception"]
for _family in _FAMILIES:
    importlib.import_module(f"{__name__}.{_family}")


def list_models() -> list[str]:
    return MODELS.names()


__all__ = ["MODELS", "ModelCard", "Preprocess", "LoadedModel", "get_model", "list_models"]
