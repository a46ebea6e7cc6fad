"""Exporters, one small module per format (``<format>_export.py``), each registered in EXPORTERS on import."""
from __future__ import annotations

import importlib

from ..formats import FORMATS
from .artifact import Artifact, sidecar_path
from .base import EXPORTERS, Exporter, ExporterOptions, ExportRequest, NoOptions

# The exporter of format F is export/F_export.py; each registers itself, in FORMATS order
# (the default export order).
for _name in FORMATS.names():
    importlib.import_module(f"{__name__}.{_name}_export")

from .ncnn_export import NcnnOptions  # noqa: E402
from .onnx_export import OnnxOptions  # noqa: E402
from .openvino_export import OpenVINOOptions  # noqa: E402
from .tflite_export import TfliteOptions  # noqa: E402

__all__ = ["Artifact", "EXPORTERS", "Exporter", "ExporterOptions", "ExportRequest", "NcnnOptions", "NoOptions", "OnnxOptions",
           "OpenVINOOptions", "TfliteOptions",
           "sidecar_path"]
