"""Shared value types: precisions, frameworks, calibration methods (str enums: "int8" == Precision.INT8).

Formats are not an enum here: each is a FormatSpec in ``formats`` (one table entry per format).
"""
from __future__ import annotations

from enum import Enum

from .errors import ConfigError


class _Name(str, Enum):
    """A str enum that prints as its value and refuses unknown names with the valid ones."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @classmethod
    def parse(cls, value, what: str):
        try:
            return cls(value)
        except ValueError:
            raise ConfigError(f"Unknown {what} '{value}'. Valid: {', '.join(m.value for m in cls)}") from None


class Precision(_Name):
    FP32 = "fp32"
    FP16 = "fp16"  # float16 weights
    INT8 = "int8"
    INT16X8 = "int16x8"  # int16 activations, int8 weights

    @property
    def integer(self) -> bool:
        """Quantized with calibration data (int8 / int16x8)."""
        return self in (Precision.INT8, Precision.INT16X8)


class Framework(_Name):
    TORCH = "torch"
    KERAS = "keras"


class CalibrationMethod(_Name):
    """How int8 activation ranges are chosen; each format's quantizer says which it offers."""

    AUTO = "auto"  # the format's best, as its quantizer declares it
    MINMAX = "minmax"
    PERCENTILE = "percentile"
    ENTROPY = "entropy"
    MSE = "mse"
