"""The model registry: one ModelCard per zoo model; family modules register themselves."""
from __future__ import annotations

from .._registry import Registry
from .card import ModelCard

MODELS: Registry[ModelCard] = Registry("model")


def register(card: ModelCard) -> ModelCard:
    return MODELS.register(card.name, card)
