"""Engines behind one interface; ENGINES maps an engine name to its opener.

Every engine takes and returns float32 arrays in the model card's layout (NCHW for
images); int8 I/O quantization and NHWC transposes happen inside the engine, so
validation never branches on format.
"""
from __future__ import annotations

import importlib

from .base import ENGINES, DEFAULT_ENGINE_FOR_FORMAT, Engine, open_engine

for _mod in ("onnxruntime_engine", "tflite_engine", "openvino_engine", "reference_engine"):
    try:
        importlib.import_module(f"{__name__}.{_mod}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"{__name__}.{_mod}":
            raise

__all__ = ["ENGINES", "DEFAULT_ENGINE_FOR_FORMAT", "Engine", "open_engine"]
