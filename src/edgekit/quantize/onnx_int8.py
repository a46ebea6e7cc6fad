"""ONNX int8 by ONNX Runtime's static quantization, configured so every Conv/Gemm runs int8.

U8S8: uint8 activations (asymmetric), int8 per-channel weights (symmetric), QDQ format, so
every Conv and Gemm fuses to QLinearConv / QGemm on x86; "mse" ranges are edgekit's own
(``onnx_ranges``), handed to ORT as TensorQuantOverrides (docs/decisions.md, "ONNX int8").
"""
from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path

import numpy as np

from .._optional import require
from ..types import CalibrationMethod as M
from .config import Calibration, QuantConfig

# "auto" is minmax (averaged per image) with the exact input range: the best on MobileNetV2
# pooled over both photo halves (docs/int8_accuracy.md, section 5)
CALIBRATION = Calibration("onnx", {M.MINMAX: "per-image min/max averaged over the calibration images (edgekit)",
                                   M.PERCENTILE: "percentile thresholds of calibration histograms (ORT)",
                                   M.ENTROPY: "KL-divergence thresholds (ORT)",
                                   M.MSE: "per-tensor range minimising the uint8 quantization MSE (edgekit)"},
                          best=M.MINMAX)


@contextlib.contextmanager
def _quiet():
    """ORT's histogram calibrators print progress on stdout (it carries edgekit's --json) and
    quantize_static logs a pre-processing hint on the root logger (quant_pre_process changes
    nothing for a BN-folded torch export: measured identical int8 output)."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        logging.disable(previous)


class _Reader:
    """ORT CalibrationDataReader over preprocessed float32 images, one per batch."""

    def __init__(self, input_name: str, arrays: np.ndarray) -> None:
        self._it = iter([{input_name: a[None].astype(np.float32)} for a in arrays])

    def get_next(self):
        return next(self._it, None)


def _overrides(fp32_path: Path, arrays, method: str) -> dict:
    """edgekit's own activation ranges as TensorQuantOverrides ({} for ORT's calibrators)."""
    from . import onnx_ranges

    if method == "mse":
        return onnx_ranges.mse_overrides(fp32_path, arrays)
    if method == "minmax":
        return onnx_ranges.averaged_minmax_overrides(fp32_path, arrays)
    return {}


def quantize_onnx(fp32_path: Path, out_path: Path, calibration, cfg: QuantConfig,
                  input_range: tuple[float, float] | None = None) -> dict:
    """Write an int8 QDQ model at ``out_path``; return a summary for the sidecar.
    ``input_range``: the model input's exact range (``input_range.pixel_range``), used instead
    of a calibrated one whatever the method."""
    import onnx

    cfg = CALIBRATION.resolve(cfg)
    q = require("onnxruntime.quantization", extra="onnx")
    require("onnxruntime", extra="onnx").set_default_logger_severity(3)  # unused-initializer noise
    model = onnx.load(str(fp32_path))
    input_name = model.graph.input[0].name
    arrays = calibration.arrays[: cfg.samples]
    method = {"minmax": q.CalibrationMethod.MinMax, "percentile": q.CalibrationMethod.Percentile,
              "entropy": q.CalibrationMethod.Entropy, "mse": q.CalibrationMethod.MinMax}[cfg.method]
    # Logits stay float: Gemm still runs int8 (QGemm with float output), but its output
    # is not rounded to 256 levels, which would otherwise reorder close top classes.
    extra = {"CalibMovingAverage": False, "OpTypesToExcludeOutputQuantization": ["Gemm"]}
    if cfg.method == "percentile":
        extra["CalibPercentile"] = cfg.percentile
    overrides = _overrides(fp32_path, arrays, cfg.method)
    # when every tensor ORT calibrates gets its range from an override, ORT's own min/max
    # pass needs one image only (it still runs: quantize_static requires it)
    reader_arrays = arrays[:1] if overrides else arrays
    if input_range is not None:
        overrides[input_name] = [{"rmin": np.float32(input_range[0]), "rmax": np.float32(input_range[1])}]
    from .saturation import SATURATION_SAFE_WHY, onnx_saturation_safe_overrides

    # the prepared layers with signed inputs: their saturation-safe grid's scales, as GPTQ rounded them
    safe = onnx_saturation_safe_overrides(model) if cfg.per_channel else {}
    overrides.update(safe)
    if overrides:
        extra["TensorQuantOverrides"] = overrides
    from .exclusions import onnx_nodes_to_exclude

    exclude = onnx_nodes_to_exclude(model, cfg.exclude)  # source layer names -> this graph's nodes
    with _quiet():
        q.quantize_static(
            str(fp32_path), str(out_path), _Reader(input_name, reader_arrays),
            quant_format=q.QuantFormat.QDQ,
            activation_type=q.QuantType.QUInt8,
            weight_type=q.QuantType.QInt8,
            per_channel=cfg.per_channel,
            calibrate_method=method,
            nodes_to_exclude=exclude,
            extra_options=extra,
        )
    return {"engine": "onnxruntime.quantization.quantize_static", "format": "QDQ",
            "activations": "uint8 (asymmetric)", "weights": "int8 (symmetric)",
            "saturation_safe_weights": {"tensors": sorted(safe), "why": SATURATION_SAFE_WHY},
            "per_channel": cfg.per_channel, "method": cfg.method, "samples": int(len(arrays)),
            "activation_ranges": CALIBRATION.methods[cfg.method], "excluded_layers": list(cfg.exclude),
            "excluded_nodes": exclude, "input_range": _input_note(input_range)}


def _input_note(input_range) -> str:
    if input_range is None:
        return "calibrated"
    return f"exact: [{input_range[0]:.4f}, {input_range[1]:.4f}] (pixels 0-255 through the preprocessing)"
