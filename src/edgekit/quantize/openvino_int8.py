"""OpenVINO int8 by NNCF post-training quantization, calibrated on the same ImageSet as the others.

Settings, measured on MobileNetV2 (torchvision weights) with the 78 shared real photos:
- edgekit's own split (39 calibration / 39 held out): the full bias correction
  (``fast_bias_correction=False``) gave 94.9% top-1 agreement with float (cosine 0.993), the
  fast one 92.3% (0.989); over 4 other random half splits both averaged 92% (84-96%). We keep
  the full one (+6 s per export). The split matters because ~12% of these photos have a float
  top-1/top-2 softmax margin under 0.05: those are the images int8 flips, whatever the method.
- Worse here: the "mixed" preset (asymmetric activations) 85-90%, plain min/max activation
  ranges 85%, histogram ranges 90% on average, keeping the first conv in float no better.
  So "minmax" keeps NNCF's default ranges: min/max for weights, the mean over images of each
  image's min/max for activations.
"""
from __future__ import annotations

import contextlib
import sys

from .._optional import require
from ..types import CalibrationMethod as M
from .config import Calibration, QuantConfig

CALIBRATION = Calibration("OpenVINO (NNCF)", {M.MINMAX: "mean of per-image min/max (NNCF default)",
                                              M.PERCENTILE: "mean of per-image quantiles"}, best=M.MINMAX)


def quantize_openvino(model, calibration, cfg: QuantConfig):
    """Return (int8 ov.Model, summary for the sidecar)."""
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
    ignored = nncf.IgnoredScope(names=list(cfg.exclude), validate=True) if cfg.exclude else None
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
        "samples": int(len(arrays)), "excluded_nodes": list(cfg.exclude)}
