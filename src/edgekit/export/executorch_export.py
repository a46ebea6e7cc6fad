"""ExecuTorch export: .pte programs lowered to XNNPACK, fp32 and int8 (PT2E on the int8-prepared module).

int8 quantizes the module the pipeline prepared (equalization + GPTQ, quantize/prepare.py) with
ExecuTorch's XNNPACKQuantizer (quantize/executorch_int8.py); the sidecar records what the
XNNPACK delegate took and what stays on ExecuTorch's portable kernels.
"""
from __future__ import annotations

from .._env import tool_versions
from .._files import atomic_path
from .._optional import require, require_torch
from ..errors import UnsupportedError, first_line
from ..formats.executorch import EXTRA, lower_to_xnnpack, quiet
from ..quantize import executorch_int8
from ..types import Framework, Precision
from .artifact import Artifact, artifact_path
from .base import EXPORTERS, Exporter, ExportRequest


class ExecuTorchExporter(Exporter):
    format = "executorch"
    frameworks = (Framework.TORCH,)
    precisions = (Precision.FP32, Precision.INT8)
    calibration = executorch_int8.CALIBRATION
    requires = ("executorch",)
    by_default = False  # 10-20 s per file: exported when named with --format executorch
    int8_preparation = True

    def export(self, req: ExportRequest) -> Artifact:
        require("executorch", extra=EXTRA)
        torch = require_torch()
        loaded = req.loaded
        self.check(loaded.framework, req.precision, req.quant, req.options)
        final = artifact_path(req.out_dir, loaded.card.name, req.precision, self.format)
        meta = {"tools": tool_versions("torch", "executorch", "torchao"), "delegate": "XNNPACK",
                "fold_bn": req.fold_report, "input_layout": "NCHW", "batch": 1}
        example = (torch.zeros(1, *loaded.card.input_shape[1:]),)
        module = loaded.module
        with quiet():
            if req.precision == Precision.INT8:
                req.progress(f"executorch int8: PT2E calibration on {min(len(req.calibration), req.quant.samples)} images")
                if req.int8_module is not None:  # equalized + GPTQ-rounded (quantize/prepare.py)
                    module = req.int8_module
                    meta["int8_preparation"] = req.int8_preparation
                module, meta["quantization"] = executorch_int8.quantize_pt2e(
                    module, example, req.calibration.arrays, req.quant)
                meta["calibration"] = req.calibration.summary()
            req.progress(f"executorch {req.precision}: lowering to XNNPACK ({final.name})")
            try:
                program = torch.export.export(module, example)
            except Exception as exc:  # torch.export names the construct it cannot trace
                raise UnsupportedError(f"torch.export could not capture this model: {first_line(exc)}") from None
            data, meta["delegation"] = lower_to_xnnpack(program)
        with atomic_path(final) as tmp:
            tmp.write_bytes(data)
        return Artifact.written(final, self.format, req.precision, loaded, meta)


EXPORTERS.register("executorch", ExecuTorchExporter())
