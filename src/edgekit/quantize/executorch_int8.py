"""ExecuTorch int8 by PT2E post-training quantization with ExecuTorch's XNNPACKQuantizer.

Static int8: per-channel symmetric int8 weights (scale max|w| / 127, the grid GPTQ rounds to,
so the int8-prepared module's integers are kept), asymmetric int8 activations per tensor. The
activation ranges are the quantizer's observers': "mse" is XNNPACK's default HistogramObserver
(the range minimising the L2 quantization error of a histogram), "minmax" a MinMaxObserver.
Measured on MobileNetV2: docs/decisions.md, "ExecuTorch int8".
"""
from __future__ import annotations

import numpy as np

from .._optional import require
from ..types import CalibrationMethod as M
from .config import Calibration, QuantConfig

CALIBRATION = Calibration("executorch", {M.MSE: "histogram range minimising the L2 quantization error (PT2E)",
                                         M.MINMAX: "calibration min/max (PT2E)"},
                          best=M.MSE, exclusions=False,
                          no_exclusions_hint="XNNPACKQuantizer annotates whole operator types")


def quantize_pt2e(module, example, calibration: np.ndarray, cfg: QuantConfig):
    """(quantized torch.fx module ready for torch.export, summary for the sidecar).
    ``calibration``: float32 NCHW images, never the evaluation images."""
    import torch

    cfg = CALIBRATION.resolve(cfg)
    xq = require("executorch.backends.xnnpack.quantizer.xnnpack_quantizer", extra="executorch")
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    config = xq.get_symmetric_quantization_config(is_per_channel=cfg.per_channel)
    if cfg.method == M.MINMAX:
        from dataclasses import replace

        from torchao.quantization.pt2e import MinMaxObserver

        act = replace(config.input_activation, observer_or_fake_quant_ctr=MinMaxObserver.with_args(eps=2 ** -12))
        config = replace(config, input_activation=act, output_activation=act)
    quantizer = _fused_clamp_quantizer(xq.XNNPACKQuantizer)().set_global(config)
    graph = prepare_pt2e(torch.export.export(module.eval(), example).module(), quantizer)
    arrays = calibration[: cfg.samples]
    with torch.no_grad():
        for a in arrays:
            graph(torch.from_numpy(np.ascontiguousarray(a[None])))
    graph = convert_pt2e(graph)
    return graph, {"engine": "PT2E (torchao prepare_pt2e/convert_pt2e) with XNNPACKQuantizer",
                   "activations": "int8 (asymmetric, per tensor)", "weights": "int8 (symmetric)",
                   "per_channel": cfg.per_channel, "method": cfg.method, "samples": int(len(arrays)),
                   "activation_ranges": CALIBRATION.methods[cfg.method], "io": "float32"}


def _fused_clamp_quantizer(base):
    """XNNPACKQuantizer plus conv -> ReLU6 annotated as one fused unit (``pt2e_fuse``), as it already
    does for conv -> ReLU; XNNPACK's FuseActivationPass then fuses the clamp into the conv. Without it
    the conv output, negatives included, gets its own int8 range: on the int8-prepared MobileNetV2
    top-1 agreement fell to 18 of 32 held-out photos."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer_utils import (
        get_bias_qspec, get_input_act_qspec, get_output_act_qspec, get_weight_qspec)

    from .pt2e_fuse import annotate_conv_clamp

    class FusedClampQuantizer(base):
        def annotate(self, model):
            cfg = self.global_config
            for node in model.graph.nodes:
                annotate_conv_clamp(node, get_input_act_qspec(cfg), get_weight_qspec(cfg), get_bias_qspec(cfg),
                                    get_output_act_qspec(cfg))
            return super().annotate(model)

    return FusedClampQuantizer
