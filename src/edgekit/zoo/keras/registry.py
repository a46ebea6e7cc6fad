"""KERAS_BUILDERS: zoo name -> fn(torch_module, input_size, name) -> keras.Model (the twin)."""
from __future__ import annotations

from typing import Callable

from ..._registry import Registry

KERAS_BUILDERS: Registry[Callable] = Registry("Keras twin")


def register_twin(name: str, build: Callable) -> Callable:
    return KERAS_BUILDERS.register(name, build)
