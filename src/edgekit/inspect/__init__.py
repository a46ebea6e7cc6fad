"""`edgekit inspect`: what is inside an exported file (operators, dtypes, I/O, metadata, int8?)."""
from __future__ import annotations

import importlib
from pathlib import Path

from ..errors import ConfigError
from ..formats import FORMATS, format_of

# format -> "module:function" that inspects its files (one entry per inspectable format)
INSPECTORS = {"tflite": "tflite_inspect:inspect_tflite", "onnx": "onnx_inspect:inspect_onnx"}


def inspect_file(path) -> dict:
    """Inspect a model file of a format listed in INSPECTORS (by suffix, else by its magic bytes)."""
    path = Path(path)
    expected = " or ".join(FORMATS.get(f).suffix for f in INSPECTORS)
    if not path.exists():
        raise ConfigError(f"File '{path}' does not exist")
    if path.is_dir():
        raise ConfigError(f"'{path}' is a directory; pass a {expected} file")
    try:
        fmt = format_of(path, sniff=True)
    except ConfigError:
        fmt = None
    if fmt not in INSPECTORS:
        raise ConfigError(f"Cannot inspect '{path.name}': expected a {expected} file")
    module, function = INSPECTORS[fmt].split(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), function)(path)


__all__ = ["INSPECTORS", "inspect_file"]
