"""ncnn export: fp32 and fp16 weights via pnnx (formats/ncnn.py); int8 refused up front (no tools)."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass

from .._env import tool_versions
from .._optional import require
from ..errors import UnsupportedError
from ..formats.ncnn import EXTRA, INT8_REFUSAL, convert_with_pnnx
from ..types import Framework, Precision
from .artifact import Artifact, artifact_path
from .base import EXPORTERS, Exporter, ExporterOptions, ExportRequest


@dataclass(frozen=True)
class NcnnOptions(ExporterOptions):
    """ncnn-only choices (the CLI's --fp16 when ncnn is exported)."""

    format = "ncnn"
    fp16: bool = False  # also write a file with float16 weights

    @property
    def extra_precisions(self) -> tuple[Precision, ...]:
        return (Precision.FP16,) if self.fp16 else ()


class NcnnExporter(Exporter):
    format = "ncnn"
    frameworks = (Framework.TORCH,)
    precisions = (Precision.FP32, Precision.FP16)
    options_type = NcnnOptions
    requires = ("pnnx", "ncnn")
    by_default = False  # exported when named with --format ncnn

    def check(self, framework, precision, quant=None, options=None) -> None:
        if Precision(precision).integer:  # before the generic "no int8": say why, and what to do
            raise UnsupportedError(INT8_REFUSAL)
        super().check(framework, precision, quant, options)

    def export(self, req: ExportRequest) -> Artifact:
        require("pnnx", extra=EXTRA)
        loaded = req.loaded
        self.check(loaded.framework, req.precision, req.quant, req.options)
        final = artifact_path(req.out_dir, loaded.card.name, req.precision, self.format)
        meta = {"tools": tool_versions("torch", "pnnx", "ncnn"), "fold_bn": req.fold_report,
                "input_layout": "NCHW", "batch": 1}
        req.progress(f"ncnn {req.precision}: converting with pnnx to {final.name}")
        with tempfile.TemporaryDirectory(dir=req.out_dir, prefix=".edgekit-") as td:
            meta.update(convert_with_pnnx(loaded.module, loaded.card.input_shape, final, td,
                                          fp16=req.precision == Precision.FP16))
        return Artifact.written(final, self.format, req.precision, loaded, meta)


EXPORTERS.register("ncnn", NcnnExporter())
