"""Post-training int8 quantization: one QuantConfig, one calibration source, per-format PTQ.

Each format's quantizer module declares its ``CALIBRATION`` (methods, best, exclusions);
its exporter carries that declaration, so a refused combination costs no export.
"""
from ..types import CalibrationMethod
from .config import Calibration, QuantConfig

__all__ = ["Calibration", "CalibrationMethod", "QuantConfig"]
