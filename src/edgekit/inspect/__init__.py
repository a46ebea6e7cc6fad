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
    report = INSPECTORS[fmt](path)
    target = _precision_target(path)
    if target is not None:
        report["precision_target"] = target
    return report


def _precision_target(path: Path):
    """The sidecar's precision_target block (--target-agreement), if edgekit wrote one beside the file."""
    import json

    from ..formats.sidecar import sidecar_path

    try:
        meta = json.loads(sidecar_path(path).read_text(encoding="utf-8")).get("meta") or {}
    except (OSError, ValueError, AttributeError):
        return None  # no sidecar, or one inspect does not rely on (validate/explain check it)
    block = meta.get("precision_target") if isinstance(meta, dict) else None
    return block if isinstance(block, dict) else None


__all__ = ["INSPECTORS", "inspect_file"]
