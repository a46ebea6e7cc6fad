"""The Exporter protocol and its registry: capabilities are data, checked before any work."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Protocol

from .._registry import Registry
from ..errors import UnsupportedError


@dataclass
class ExportRequest:
    """What an exporter gets: the folded float model, where to write, and calibration data."""

    loaded: object  # LoadedModel (BN already folded)
    out_dir: Path
    precision: str
    calibration: Optional[object] = None  # data.ImageSet, for int8
    quant: Optional[object] = None  # quantize.QuantConfig
    progress: Callable[[str], None] = lambda msg: None
    fold_report: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)  # format -> that exporter's frozen options, e.g. {"tflite": TfliteOptions(...)}
    # The folded model after quantize/prepare.prepare_for_int8 (equalized, GPTQ-rounded
    # weights), made once per export by pipeline.export and shared by every int8 exporter
    # that wants it; None: the exporter quantizes the plain folded model.
    int8_module: Optional[object] = None
    int8_preparation: Optional[dict] = None


class Exporter(Protocol):
    format: str
    frameworks: tuple[str, ...]
    precisions: tuple[str, ...]

    def export(self, req: ExportRequest):  # -> Artifact
        ...


EXPORTERS: Registry[Exporter] = Registry("format")


def check_capability(exporter: Exporter, framework: str, precision: str) -> None:
    if framework not in exporter.frameworks:
        raise UnsupportedError(
            f"{exporter.format} export does not take {framework} models; it takes: {', '.join(exporter.frameworks)}"
        )
    if precision not in exporter.precisions:
        raise UnsupportedError(
            f"{exporter.format} export has no {precision}; supported: {', '.join(exporter.precisions)}"
        )
