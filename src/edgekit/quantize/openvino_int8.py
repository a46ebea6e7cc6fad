"""OpenVINO int8 by NNCF post-training quantization, calibrated on the same ImageSet as the others.

Performance preset (symmetric), NNCF's default ranges for "minmax", full bias correction
(docs/decisions.md, "OpenVINO int8", for what each setting gave on MobileNetV2).
"""
from __future__ import annotations

import contextlib
import sys

from .._optional import require
from ..types import CalibrationMethod as M
from .config import Calibration, QuantConfig

CALIBRATION = Calibration("OpenVINO (NNCF)", {M.MINMAX: "mean of per-image min/max (NNCF default)",
                                              M.PERCENTILE: "mean of per-image quantiles"}, best=M.MINMAX)


def quantize_openvino(model, calibration, cfg: QuantConfig, onnx_model=None):
    """Return (int8 ov.Model, summary for the sidecar). ``onnx_model``: the ONNX graph ``model``
    was converted from, which names the source layers of ``cfg.exclude`` (needed only with them)."""
    cfg = CALIBRATION.resolve(cfg)
    nncf = require("nncf", extra="openvino")
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, QuantizationParameters
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    nncf.set_log_level(40)  # progress bars and INFO lines would drown edgekit's own progress
    arrays = calibration.arrays[: cfg.samples]
    advanced = AdvancedQuantizationParameters(
        weights_quantization_params=QuantizationParameters(per_channel=cfg.per_channel),
        activations_range_estimator_params=(RangeEstimatorParametersSet.MEAN_QUANTILE
                                            if cfg.method == "percentile" else None),
    )
    ignored_nodes = []
    if cfg.exclude:
        from .exclusions import onnx_layer_nodes, openvino_nodes_to_ignore

        ignored_nodes = openvino_nodes_to_ignore(model, onnx_layer_nodes(onnx_model), cfg.exclude)
    ignored = nncf.IgnoredScope(names=ignored_nodes, validate=True) if ignored_nodes else None
    kw = {"ignored_scope": ignored} if ignored else {}
    with contextlib.redirect_stdout(sys.stderr):  # NNCF draws its progress bars on stdout
        quantized = nncf.quantize(
            model, nncf.Dataset(list(arrays), lambda a: a[None]), subset_size=len(arrays),
            preset=nncf.QuantizationPreset.PERFORMANCE, fast_bias_correction=False,
            advanced_parameters=advanced, **kw)
    return quantized, {
        "engine": "nncf.quantize", "preset": "performance (symmetric int8 weights and activations)",
        "activation_ranges": CALIBRATION.methods[cfg.method],
        "bias_correction": "full", "per_channel": cfg.per_channel, "method": cfg.method,
        "samples": int(len(arrays)), "excluded_layers": list(cfg.exclude), "excluded_nodes": ignored_nodes}
