"""Exporters, one small module per format, each registered in EXPORTERS on import."""
from __future__ import annotations

from . import onnx_export, openvino_export, tflite_export  # noqa: F401  (register themselves)
from .artifact import Artifact, sidecar_path
from .base import EXPORTERS, Exporter, ExporterOptions, ExportRequest, NoOptions
from .tflite_export import TfliteOptions

__all__ = ["Artifact", "EXPORTERS", "Exporter", "ExporterOptions", "ExportRequest", "NoOptions", "TfliteOptions",
           "sidecar_path"]
