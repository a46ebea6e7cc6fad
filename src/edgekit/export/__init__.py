"""Exporters, one small module per format, each registered in EXPORTERS on import."""
from __future__ import annotations

# each registers itself; this order is the default export order (onnx, tflite, openvino)
from . import onnx_export  # noqa: F401, I001
from . import tflite_export  # noqa: F401
from . import openvino_export  # noqa: F401
from .artifact import Artifact, sidecar_path
from .base import EXPORTERS, Exporter, ExporterOptions, ExportRequest, NoOptions
from .tflite_export import TfliteOptions

__all__ = ["Artifact", "EXPORTERS", "Exporter", "ExporterOptions", "ExportRequest", "NoOptions", "TfliteOptions",
           "sidecar_path"]
