"""`edgekit inspect`: what is inside an exported file (operators, dtypes, I/O, metadata, int8?)."""
from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError


def inspect_file(path) -> dict:
    """Inspect a .tflite or .onnx file (by suffix; a flatbuffer without the suffix is tried as TFLite)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"File '{path}' does not exist")
    if path.is_dir():
        raise ConfigError(f"'{path}' is a directory; pass a .tflite or .onnx file")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        from .onnx_inspect import inspect_onnx

        return inspect_onnx(path)
    if suffix == ".tflite" or _looks_like_tflite(path):
        from .tflite_inspect import inspect_tflite

        return inspect_tflite(path)
    raise ConfigError(f"Cannot inspect '{path.name}': expected a .tflite or .onnx file")


def _looks_like_tflite(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(8)
    return head[4:8] == b"TFL3"


__all__ = ["inspect_file"]
