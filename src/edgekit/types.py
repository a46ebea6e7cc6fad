"""Shared value types: formats, precisions, frameworks."""
from __future__ import annotations

from enum import Enum


class Format(str, Enum):
    ONNX = "onnx"
    TFLITE = "tflite"
    OPENVINO = "openvino"


class Precision(str, Enum):
    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"
    INT16X8 = "int16x8"


class Framework(str, Enum):
    TORCH = "torch"
    KERAS = "keras"
