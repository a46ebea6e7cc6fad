"""Exporters, one small module per format, registered in EXPORTERS on import."""
from __future__ import annotations

import importlib

from .artifact import Artifact, sidecar_path
from .base import EXPORTERS, ExportRequest, check_capability

# Each module registers its exporter; a module whose backend is absent still registers
# (it fails with an install hint only when used).
for _mod in ("onnx_export", "tflite_export", "openvino_export"):
    try:
        importlib.import_module(f"{__name__}.{_mod}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"{__name__}.{_mod}":
            raise

__all__ = ["Artifact", "EXPORTERS", "ExportRequest", "check_capability", "sidecar_path"]
