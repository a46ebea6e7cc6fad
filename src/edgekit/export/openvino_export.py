"""OpenVINO IR export: fp32 by converting the ONNX export, int8 by NNCF post-training quantization.

Decision (measured on MobileNetV2): ``ov.convert_model`` on our ONNX fp32 export takes 3 s,
on the torch module 15 s, and both give the same graph and file sizes; converting the ONNX
file also means the IR is the exact graph the ONNX artifact holds. Weights are saved in
fp32 (``compress_to_fp16=False``): the default fp16 compression would change the numbers of
a file we call fp32. The IR is written into a temporary folder and moved into place
.bin first, .xml last, so a present .xml always has its complete .bin.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .._optional import require
from ..errors import UnsupportedError
from .artifact import Artifact, artifact_name, tool_versions
from .base import EXPORTERS, ExportRequest
from .onnx_export import export_torch_to_onnx


class OpenVINOExporter:
    format = "openvino"
    frameworks = ("torch",)
    precisions = ("fp32", "int8")
    requires = ("openvino", "nncf")

    def export(self, req: ExportRequest) -> Artifact:
        ov = require("openvino", extra="openvino")
        loaded = req.loaded
        final = Path(req.out_dir) / artifact_name(loaded.card.name, req.precision, "xml")
        meta = {"tools": tool_versions("torch", "onnx", "openvino", "nncf"), "converted_from": "onnx",
                "weights_dtype_on_disk": "fp32", "fold_bn": req.fold_report}
        req.progress(f"openvino {req.precision}: converting to {final.name}")
        with tempfile.TemporaryDirectory(dir=req.out_dir, prefix=".edgekit-") as td:
            onnx_path = Path(td) / "fp32.onnx"
            export_torch_to_onnx(loaded.module, loaded.card.input_shape, onnx_path)
            try:
                model = ov.convert_model(str(onnx_path))
            except Exception as exc:  # conversion errors come as several OpenVINO types
                raise UnsupportedError(f"OpenVINO cannot convert this model: {str(exc).splitlines()[0][:200]}") from None
            if req.precision == "int8":
                from ..quantize.openvino_int8 import quantize_openvino

                req.progress(f"openvino int8: NNCF calibration on {min(len(req.calibration), req.quant.samples)} images")
                model, meta["quantization"] = quantize_openvino(model, req.calibration, req.quant)
                meta["calibration"] = req.calibration.summary()
            tmp_xml = Path(td) / final.name
            ov.save_model(model, str(tmp_xml), compress_to_fp16=False)
            os.replace(tmp_xml.with_suffix(".bin"), final.with_suffix(".bin"))
            os.replace(tmp_xml, final)
        art = Artifact(final, "openvino", req.precision, loaded.card.to_dict(), loaded.provenance(), meta)
        art.save_sidecar()
        return art


EXPORTERS.register("openvino", OpenVINOExporter())
