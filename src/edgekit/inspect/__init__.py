"""`edgekit inspect`: what is inside an exported file (operators, dtypes, I/O, metadata, int8?)."""
from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from ..formats import FORMATS, format_of
from .executorch_inspect import inspect_executorch
from .ncnn_inspect import inspect_ncnn
from .onnx_inspect import inspect_onnx
from .tflite_inspect import inspect_tflite

INSPECTORS = {"tflite": inspect_tflite, "onnx": inspect_onnx, "executorch": inspect_executorch,
              "ncnn": inspect_ncnn}  # format -> its inspector


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
    return INSPECTORS[fmt](path)


__all__ = ["INSPECTORS", "inspect_file"]
