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
from .openvino_grouped_pointwise import MAX_SAFE_GROUP_CHANNELS, densify_grouped_pointwise

CALIBRATION = Calibration("OpenVINO (NNCF)", {M.MINMAX: "mean of per-image min/max (NNCF default)",
                                              M.PERCENTILE: "mean of per-image quantiles"}, best=M.MINMAX)


def quantize_openvino(model, calibration, cfg: QuantConfig, input_range: tuple[float, float] | None = None,
                      onnx_model=None):
    """Return (int8 ov.Model, summary for the sidecar). ``input_range``: the model input's exact
    range (``input_range.pixel_range``), set on the input's FakeQuantize instead of NNCF's.
    ``onnx_model``: the ONNX graph ``model`` was converted from, which names the source layers
    of ``cfg.exclude`` (needed only with them)."""
    cfg = CALIBRATION.resolve(cfg)
    nncf = require("nncf", extra="openvino")
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, QuantizationParameters
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    nncf.set_log_level(40)  # progress bars and INFO lines would drown edgekit's own progress
    arrays = calibration.arrays[: cfg.samples]
    from nncf.quantization.advanced_parameters import OverflowFix

    from .saturation import SATURATION_SAFE_WHY, openvino_saturation_safe_weights, openvino_weight_grids

    ignored_nodes = []
    if cfg.exclude:
        from .exclusions import onnx_layer_nodes, openvino_nodes_to_ignore

        ignored_nodes = openvino_nodes_to_ignore(model, onnx_layer_nodes(onnx_model), cfg.exclude)
    densified = densify_grouped_pointwise(model)  # the CPU plugin's grouped 1x1 int8 is wrong on AMX
    grids = openvino_weight_grids(model)  # the layers the preparation made saturation-safe
    advanced = AdvancedQuantizationParameters(
        # edgekit's own overflow fix replaces NNCF's (first layer only, on its own grid) when the
        # preparation made the layers with signed inputs saturation-safe (quantize/saturation.py);
        # without it, NNCF's fix on every layer (its first-layer default saturates AVX2 CPUs)
        overflow_fix=OverflowFix.DISABLE if grids else OverflowFix.ENABLE,
        weights_quantization_params=QuantizationParameters(per_channel=cfg.per_channel),
        activations_range_estimator_params=(RangeEstimatorParametersSet.MEAN_QUANTILE
                                            if cfg.method == "percentile" else None),
    )
    ignored = nncf.IgnoredScope(names=ignored_nodes, validate=True) if ignored_nodes else None
    kw = {"ignored_scope": ignored} if ignored else {}
    with contextlib.redirect_stdout(sys.stderr):  # NNCF draws its progress bars on stdout
        quantized = nncf.quantize(
            model, nncf.Dataset(list(arrays), lambda a: a[None]), subset_size=len(arrays),
            preset=nncf.QuantizationPreset.PERFORMANCE, fast_bias_correction=False,
            advanced_parameters=advanced, **kw)
    exact = input_range is not None and set_input_range(quantized, *input_range)
    safe = openvino_saturation_safe_weights(quantized, grids)
    return quantized, {
        "engine": "nncf.quantize", "preset": "performance (symmetric int8 weights and activations)",
        "activation_ranges": CALIBRATION.methods[cfg.method],
        "bias_correction": "full", "per_channel": cfg.per_channel, "method": cfg.method,
        "saturation_safe_weights": {"layers": safe, "why": SATURATION_SAFE_WHY},
        "samples": int(len(arrays)), "excluded_layers": list(cfg.exclude), "excluded_nodes": ignored_nodes,
        "grouped_pointwise_as_dense": {
            "layers": densified,
            "why": (f"grouped 1x1 convolutions with more than {MAX_SAFE_GROUP_CHANNELS} input channels per group are "
                    "written as dense block-diagonal convolutions: OpenVINO's CPU plugin computes them wrongly as "
                    "int8 on AMX CPUs (quantize/openvino_grouped_pointwise.py)")},
        "input_range": (f"exact: [{input_range[0]:.4f}, {input_range[1]:.4f}] (pixels 0-255 through the preprocessing)"
                        if exact else "calibrated (NNCF)")}


def set_input_range(model, lo: float, hi: float) -> bool:
    """Give each FakeQuantize reading a model input the range [lo, hi] (asymmetric: both ends
    exact) in place of NNCF's mean of per-image min/max; False when the input has none."""
    import numpy as np

    ov = require("openvino", extra="openvino")
    changed = False
    for op in model.get_ordered_ops():
        if op.get_type_name() != "FakeQuantize" or op.input_value(0).get_node().get_type_name() != "Parameter":
            continue
        levels = op.get_levels()
        step = (hi - lo) / (levels - 1)
        zero = round(-lo / step)  # zero on the grid (the first conv pads with zeros)
        lo, hi = -zero * step, (levels - 1 - zero) * step
        for port, value in zip((1, 2, 3, 4), (lo, hi, lo, hi)):
            const = ov.op.Constant(np.full(op.input_value(port).get_shape(), value, np.float32))
            op.input(port).replace_source_output(const.output(0))
        changed = True
    return changed
