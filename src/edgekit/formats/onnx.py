"""ONNX files: the opset edgekit writes and torch -> ONNX (one checked file, named input and output)."""
from __future__ import annotations

import warnings
from pathlib import Path

from .._optional import require
from ..errors import UnsupportedError, first_line

OPSET = 17  # the legacy TorchScript exporter: 1 s for MobileNetV2 vs 7 s for dynamo, same graph
INPUT_NAME, OUTPUT_NAME = "input", "logits"


def export_torch_to_onnx(module, input_shape, path: Path) -> None:
    """Write ``module`` (dynamic batch) to ``path`` and check the file with onnx.checker."""
    import torch

    onnx = require("onnx", extra="onnx")
    example = torch.zeros(*input_shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                module, (example,), str(path), dynamo=False, opset_version=OPSET,
                input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            )
        except Exception as exc:  # the exporter raises many types; say which layer/op failed
            raise UnsupportedError(f"torch.onnx could not export this model: {first_line(exc)}") from None
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
