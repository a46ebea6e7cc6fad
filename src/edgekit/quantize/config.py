"""QuantConfig (frozen, validated with exceptions, never assert) and Calibration: what one
format's quantizer offers, declared in its own module and checked before any work."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Mapping

from ..errors import ConfigError, UnsupportedError
from ..types import CalibrationMethod


@dataclass(frozen=True)
class QuantConfig:
    method: CalibrationMethod = CalibrationMethod.AUTO  # how activation ranges are chosen ("minmax" works too)
    per_channel: bool = True  # per-output-channel weight scales (per-tensor otherwise)
    samples: int = 100  # calibration images used at most
    percentile: float = 99.999  # for method="percentile"
    exclude: tuple[str, ...] = ()  # source layer names (torch module paths, as `edgekit explain` names them) kept in float

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", CalibrationMethod.parse(self.method, "calibration method"))
        object.__setattr__(self, "exclude", tuple(self.exclude))
        if self.samples < 1:
            raise ConfigError(f"--calib-samples must be >= 1, got {self.samples}")
        if not 90.0 <= self.percentile < 100.0:
            raise ConfigError(f"percentile must be in [90, 100), got {self.percentile}")

    def for_format(self, best: CalibrationMethod) -> "QuantConfig":
        """This config with "auto" replaced by the format's best method."""
        return replace(self, method=best) if self.method == CalibrationMethod.AUTO else self

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Calibration:
    """One quantizer's offer: its methods (each with how it sets ranges, for the sidecar), the
    method "auto" means for it, and whether it honours per-layer exclusions."""

    label: str  # how refusals name it: "tflite", "OpenVINO (NNCF)"
    methods: Mapping[CalibrationMethod, str]
    best: CalibrationMethod
    exclusions: bool = True
    no_exclusions_hint: str = ""  # said when exclusions are refused

    def resolve(self, cfg: QuantConfig) -> QuantConfig:
        """``cfg`` with "auto" resolved; UnsupportedError for what this quantizer cannot do."""
        cfg = cfg.for_format(self.best)
        if cfg.method not in self.methods:
            offered = " or ".join(self.methods)
            raise UnsupportedError(f"{self.label} int8 calibrates with {offered}, not '{cfg.method}'; "
                                   f"use --calib-method {offered}")
        if cfg.exclude and not self.exclusions:
            raise UnsupportedError(f"{self.label} int8 has no per-layer exclusion; drop the exclusions"
                                   + (f" ({self.no_exclusions_hint})" if self.no_exclusions_hint else ""))
        return cfg
