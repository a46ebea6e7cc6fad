"""ONNX export: fp32 via torch.onnx (one file, named input/output), int8 via ORT QDQ."""
from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

from .._files import atomic_path
from .._optional import require
from ..errors import UnsupportedError
from .artifact import Artifact, artifact_name, tool_versions
from .base import EXPORTERS, ExportRequest

OPSET = 17  # the legacy TorchScript exporter: 1 s for MobileNetV2 vs 7 s for dynamo, same graph


class OnnxExporter:
    format = "onnx"
    frameworks = ("torch",)
    precisions = ("fp32", "int8")
    uses_int8_preparation = True  # see ExportRequest.int8_module

    def export(self, req: ExportRequest) -> Artifact:
        loaded = req.loaded
        name = artifact_name(loaded.card.name, req.precision, "onnx")
        final = Path(req.out_dir) / name
        meta = {"tools": tool_versions("torch", "onnx", "onnxruntime"), "opset": OPSET,
                "fold_bn": req.fold_report}
        if req.precision == "fp32":
            req.progress(f"onnx fp32: exporting {name}")
            with atomic_path(final) as tmp:
                export_torch_to_onnx(loaded.module, loaded.card.input_shape, tmp)
        else:
            from ..quantize.onnx_int8 import quantize_onnx

            req.progress(f"onnx int8: calibrating on {min(len(req.calibration), req.quant.samples)} images")
            module = loaded.module
            if req.int8_module is not None:  # equalized + GPTQ-rounded: 77% -> 92-97% top-1 on MobileNetV2
                module = req.int8_module
                meta["int8_preparation"] = req.int8_preparation
            with tempfile.TemporaryDirectory(dir=req.out_dir, prefix=".edgekit-") as td:
                fp32 = Path(td) / "fp32.onnx"
                export_torch_to_onnx(module, loaded.card.input_shape, fp32)
                with atomic_path(final) as tmp:
                    meta["quantization"] = quantize_onnx(fp32, tmp, req.calibration, req.quant)
            meta["calibration"] = req.calibration.summary()
        art = Artifact(final, "onnx", req.precision, loaded.card.to_dict(), loaded.provenance(), meta)
        art.save_sidecar()
        return art


def export_torch_to_onnx(module, input_shape, path: Path) -> None:
    import torch

    onnx = require("onnx", extra="onnx")
    example = torch.zeros(*input_shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                module, (example,), str(path), dynamo=False, opset_version=OPSET,
                input_names=["input"], output_names=["logits"],
                dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            )
        except OSError:
            raise  # the disk (full, read-only), not the model: the CLI says so in one line
        except Exception as exc:  # the exporter raises many types; say which layer/op failed
            raise UnsupportedError(
                f"torch.onnx could not export this model: {str(exc).splitlines()[0][:200]}"
            ) from None
    model = onnx.load(str(path))
    onnx.checker.check_model(model)


EXPORTERS.register("onnx", OnnxExporter())
