"""Post-training int8 quantization: one QuantConfig, one calibration source, per-format PTQ."""
from .config import CALIBRATION_METHODS, QuantConfig

__all__ = ["CALIBRATION_METHODS", "QuantConfig"]
