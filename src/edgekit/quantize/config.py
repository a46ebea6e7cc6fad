"""QuantConfig: frozen, validated with exceptions (never assert), no option bags."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from ..errors import ConfigError

# "auto": each format's own best (measured on MobileNetV2, 39 calibration / 39 held-out photos):
# ONNX "mse" (benchmarks/onnx_int8_methods.py), TFLite and OpenVINO "minmax".
# "entropy" and "mse" are ONNX only.
CALIBRATION_METHODS = ("auto", "minmax", "percentile", "entropy", "mse")


@dataclass(frozen=True)
class QuantConfig:
    method: str = "auto"  # how activation ranges are chosen from calibration data
    per_channel: bool = True  # per-output-channel weight scales (per-tensor otherwise)
    samples: int = 100  # calibration images used at most
    percentile: float = 99.999  # for method="percentile"
    exclude: tuple[str, ...] = ()  # node/layer names kept in float

    def __post_init__(self) -> None:
        if self.method not in CALIBRATION_METHODS:
            raise ConfigError(
                f"Unknown calibration method '{self.method}'. Valid: {', '.join(CALIBRATION_METHODS)}"
            )
        if self.samples < 1:
            raise ConfigError(f"--calib-samples must be >= 1, got {self.samples}")
        if not 90.0 <= self.percentile < 100.0:
            raise ConfigError(f"percentile must be in [90, 100), got {self.percentile}")

    def for_format(self, best: str) -> "QuantConfig":
        """This config with "auto" replaced by the format's best method."""
        return replace(self, method=best) if self.method == "auto" else self

    def to_dict(self) -> dict:
        return asdict(self)
