"""The Engine protocol and registry."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from ..._registry import Registry


class Engine(Protocol):
    name: str
    runtime_version: str

    def run(self, x: np.ndarray) -> np.ndarray:
        """float32 input batch (N, C, H, W) -> float32 outputs (N, ...)."""

    def close(self) -> None: ...


# name -> opener(path, threads) -> Engine
ENGINES: Registry[Callable[..., Engine]] = Registry("engine")
DEFAULT_ENGINE_FOR_FORMAT = {"onnx": "onnxruntime", "tflite": "litert", "openvino": "openvino"}


def open_engine(path: Path, engine: str | None = None, threads: int = 1, **kw) -> Engine:
    from ...formats import format_of

    fmt = format_of(path)
    return ENGINES.get(engine or DEFAULT_ENGINE_FOR_FORMAT[fmt])(Path(path), threads=threads, **kw)
