"""The Exporter base and its registry: capabilities are class data, checked before any work.

Each exporter declares the frameworks it takes, the precisions it writes, its int8
quantizer's ``Calibration`` (methods, best, exclusions), its options type, the modules
without which the format is not offered by default, and whether it wants the int8-prepared
module. ``check`` refuses an unsupported combination from those declarations alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ClassVar, Optional

from .._registry import Registry
from ..errors import ConfigError, UnsupportedError
from ..quantize.config import Calibration, QuantConfig
from ..types import Framework, Precision

if TYPE_CHECKING:  # torch-free at import: these are only annotations
    from ..data import ImageSet
    from ..zoo.loaded import LoadedModel
    from .artifact import Artifact


@dataclass(frozen=True)
class ExporterOptions:
    """Base of an exporter's own options (a frozen dataclass per format, e.g. TfliteOptions)."""

    format: ClassVar[str] = ""

    @property
    def extra_precisions(self) -> tuple[Precision, ...]:
        """Precisions to write besides fp32 (and int8 when asked), e.g. TFLite's --fp16."""
        return ()


@dataclass(frozen=True)
class NoOptions(ExporterOptions):
    """For exporters without options of their own."""


LAYOUTS = ("auto", "nchw", "nhwc")


@dataclass(frozen=True)
class LayoutOptions(ExporterOptions):
    """The input layout of a file (the CLI's --input-layout): "auto" keeps the model's own
    (NCHW for torch, NHWC for Keras), "nchw" / "nhwc" convert; the sidecar says which."""

    layout: str = "auto"

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ConfigError(f"Unknown --input-layout '{self.layout}'. Valid: {', '.join(LAYOUTS)}")

    def nhwc(self, framework: str) -> bool:
        """Whether the file takes NHWC images, for a model of ``framework``."""
        return self.layout == "nhwc" or (self.layout == "auto" and framework == Framework.KERAS)

    @staticmethod
    def layout_meta(framework: str, nhwc: bool) -> dict:
        own = "NHWC" if framework == Framework.KERAS else "NCHW"
        got = "NHWC" if nhwc else "NCHW"
        return {"input_layout": got, "layout_converted": None if own == got else f"{own}->{got}"}


def _silent(_msg: str) -> None:
    pass


@dataclass(frozen=True)
class ExportRequest:
    """What an exporter gets: the folded float model, where to write, and calibration data."""

    loaded: "LoadedModel"  # BN already folded
    out_dir: Path
    precision: Precision
    calibration: Optional["ImageSet"] = None  # for int8 / int16x8
    quant: QuantConfig = QuantConfig()
    progress: Callable[[str], None] = _silent
    fold_report: dict = field(default_factory=dict)
    options: Optional[ExporterOptions] = None  # this exporter's options type; None: its defaults
    # The folded model after quantize/prepare.prepare_for_int8 (equalized, GPTQ-rounded
    # weights), made once per export by the pipeline and shared by every exporter that
    # declares int8_preparation; None: the exporter quantizes the plain folded model.
    int8_module: Optional[object] = None
    int8_preparation: Optional[dict] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "precision", Precision.parse(self.precision, "precision"))
        object.__setattr__(self, "quant", self.quant or QuantConfig())


class Exporter:
    format: ClassVar[str]
    frameworks: ClassVar[tuple[Framework, ...]]
    precisions: ClassVar[tuple[Precision, ...]]
    calibration: ClassVar[Optional[Calibration]] = None  # its int8 quantizer's offer
    options_type: ClassVar[type] = NoOptions
    requires: ClassVar[tuple[str, ...]] = ()  # without these modules the format is not a default
    by_default: ClassVar[bool] = True  # False: exported only when named (--format), never by default
    int8_preparation: ClassVar[bool] = False  # quantizes ExportRequest.int8_module when given
    # which layers that module has on a saturation-safe weight grid: "none", or "signed-inputs" for
    # runtimes whose x86 int8 kernels saturate 8-bit weights (quantize/saturation.py)
    int8_saturation_safe: ClassVar[str] = "none"

    def check(self, framework: str, precision: str, quant: Optional[QuantConfig] = None,
              options: Optional[ExporterOptions] = None) -> None:
        """Refuse what this exporter cannot do, from its declarations, before any slow work."""
        if framework not in self.frameworks:
            raise UnsupportedError(f"{self.format} export does not take {framework} models; "
                                   f"it takes: {', '.join(self.frameworks)}")
        if precision not in self.precisions:
            raise UnsupportedError(f"{self.format} export has no {precision}; supported: {', '.join(self.precisions)}")
        if options is not None and not isinstance(options, self.options_type):
            raise ConfigError(f"{type(options).__name__} does not apply to {self.format} export "
                              f"(it takes {self.options_type.__name__})")
        if Precision(precision).integer and self.calibration is not None:
            self.calibration.resolve(quant or QuantConfig())

    def plan(self, int8: bool, options: Optional[ExporterOptions] = None) -> list[Precision]:
        """The precisions one export writes: fp32, int8 if asked, then the options' extras."""
        base = [Precision.FP32] + ([Precision.INT8] if int8 else [])
        return base + [p for p in self.options_of(options).extra_precisions if p not in base]

    def options_of(self, options: Optional[ExporterOptions]) -> ExporterOptions:
        return options if options is not None else self.options_type()

    def export(self, req: ExportRequest) -> "Artifact":
        raise NotImplementedError


EXPORTERS: Registry[Exporter] = Registry("format")


def in_layout(images: "ImageSet", nhwc: bool) -> "ImageSet":
    """``images`` (NCHW, as every ImageSet) in a file's input layout, for its quantizer."""
    if not nhwc or images is None:
        return images
    from dataclasses import replace

    import numpy as np

    return replace(images, arrays=np.ascontiguousarray(images.arrays.transpose(0, 2, 3, 1)))
