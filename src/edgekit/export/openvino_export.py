"""OpenVINO IR export: fp32 by converting the ONNX export, int8 by NNCF post-training quantization.

Converting edgekit's ONNX export (not the torch module) is 5x faster and gives the IR the
exact graph the ONNX artifact holds (docs/decisions.md, "OpenVINO export").
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from .._env import tool_versions
from .._optional import require
from ..errors import UnsupportedError, one_line
from ..quantize.saturation import SATURATION_SAFE_POLICY
from ..formats.openvino import save_ir
from ..quantize import openvino_int8
from ..types import Framework, Precision
from .artifact import Artifact, artifact_path
from .base import EXPORTERS, Exporter, ExportRequest, LayoutOptions, in_layout
from .onnx_export import exact_input_range, write_fp32_onnx


@dataclass(frozen=True)
class OpenVINOOptions(LayoutOptions):
    format = "openvino"


class OpenVINOExporter(Exporter):
    format = "openvino"
    frameworks = (Framework.TORCH, Framework.KERAS)
    options_type = OpenVINOOptions
    precisions = (Precision.FP32, Precision.INT8)
    calibration = openvino_int8.CALIBRATION
    requires = ("openvino", "nncf")
    int8_saturation_safe = SATURATION_SAFE_POLICY  # oneDNN's x86 kernels without VNNI saturate 8-bit weights
    int8_preparation = True  # NNCF quantizes the equalized + GPTQ-rounded module (docs/int8_accuracy.md, section 5)

    def export(self, req: ExportRequest) -> Artifact:
        ov = require("openvino", extra="openvino")
        loaded = req.loaded
        self.check(loaded.framework, req.precision, req.quant, req.options)
        nhwc = self.options_of(req.options).nhwc(loaded.framework)
        final = artifact_path(req.out_dir, loaded.card.name, req.precision, self.format)
        source = ("tensorflow-cpu", "keras", "tf2onnx") if loaded.framework == Framework.KERAS else ("torch",)
        meta = {"tools": tool_versions(*source, "onnx", "openvino", "nncf"), "converted_from": "onnx",
                "weights_dtype_on_disk": "fp32", "fold_bn": req.fold_report,
                **LayoutOptions.layout_meta(loaded.framework, nhwc)}
        req.progress(f"openvino {req.precision}: converting to {final.name}")
        with tempfile.TemporaryDirectory(dir=req.out_dir, prefix=".edgekit-") as td:
            onnx_path = Path(td) / "fp32.onnx"
            write_fp32_onnx(loaded, self._source(req, meta), onnx_path, nhwc)
            try:
                model = ov.convert_model(str(onnx_path))
            except Exception as exc:  # conversion errors come as several OpenVINO types
                raise UnsupportedError(f"OpenVINO cannot convert this model: {one_line(exc, 300)}") from None
            if req.precision == Precision.INT8:
                req.progress(f"openvino int8: NNCF calibration on {min(len(req.calibration), req.quant.samples)} images")
                import onnx

                calib = in_layout(req.calibration, nhwc)
                named_by = onnx.load(str(onnx_path)) if req.quant.exclude else None
                model, meta["quantization"] = openvino_int8.quantize_openvino(
                    model, calib, req.quant, input_range=exact_input_range(loaded, calib, req.quant),
                    onnx_model=named_by)
                meta["calibration"] = req.calibration.summary()
            save_ir(ov, model, final, Path(td))
        return Artifact.written(final, self.format, req.precision, loaded, meta)

    @staticmethod
    def _source(req: ExportRequest, meta: dict):
        """The torch module to convert: the int8-prepared one for int8 when the pipeline made it."""
        if req.precision == Precision.INT8 and req.int8_module is not None:
            meta["int8_preparation"] = req.int8_preparation
            return req.int8_module
        return req.loaded.module


EXPORTERS.register("openvino", OpenVINOExporter())
