"""TFLite post-training quantization: converter settings and the three conversion steps.

Full-integer int8 is 1. TF's calibrator recording each tensor's min/max
(``_experimental_calibrate_only``), 2. edgekit's own ranges and bias correction
(``tflite_ranges``, ``tflite_bias``), 3. TF's MLIR quantizer turning the ranges into the
int8 model, keeping the layers named in QuantConfig.exclude float (``tflite_exclude``).
16x8 uses TF's converter as is (whole-model: no per-layer 16x8). Why, and what each step gained on MobileNetV2:
docs/decisions.md, "TFLite int8".
"""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedError
from ..types import CalibrationMethod
from .config import Calibration, QuantConfig
from .tflite_exclude import denylist, layer_ops
from .tflite_ranges import OUTPUT_HEADROOM, activation_ranges, set_ranges

# I/O of int8 files: "int8" (TF's full-integer convention, most portable across delegates),
# "uint8" (what the TFLite Task Library / ML Kit classifiers take), "float32" (float interface)
IO_DTYPES = ("int8", "uint8", "float32")
CALIBRATION = Calibration(
    "tflite", {CalibrationMethod.MINMAX: "minmax (per-image min/max averaged over the calibration images)",
               CalibrationMethod.PERCENTILE: "percentile {percentile} (of all calibration values, per tensor)"},
    best=CalibrationMethod.MINMAX)  # exclusions: the Keras-twin route's (tflite_exclude); litert-torch refuses


def representative_dataset(images, samples: int):
    """A generator factory for TFLiteConverter.representative_dataset (NCHW -> NHWC)."""
    arrays = images.arrays[:samples]

    def gen():
        for a in arrays:
            yield [np.ascontiguousarray(a.transpose(1, 2, 0)[None], dtype=np.float32)]

    return gen


def convert_float(converter, precision: str) -> dict:
    """Set up ``converter`` for fp32 or fp16 weights; return a summary for the sidecar."""
    import tensorflow as tf

    if precision == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
        return {"precision": "fp16", "weights": "float16 (dequantized to float32 at load)"}
    return {"precision": "fp32"}


def quantize(make_converter, precision: str, calibration, cfg: QuantConfig, io_dtype: str = "int8",
             float_fallback: bool = False, run=None, bias_correction: bool = True) -> tuple[bytes, dict]:
    """Quantize with TF's converter; ``make_converter()`` gives a fresh float converter.

    ``run(converter) -> bytes`` runs a conversion (the exporter passes one that keeps the
    converter's C++ logs off the terminal). Returns (tflite bytes, sidecar summary).
    """
    import tensorflow as tf

    run = run or (lambda c: c.convert())
    if calibration is None or len(calibration) == 0:
        raise UnsupportedError(f"tflite {precision} needs calibration images (--calib DIR)")
    cfg = CALIBRATION.resolve(cfg)
    n = int(min(len(calibration), cfg.samples))
    converter = make_converter()
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset(calibration, n)
    fallback = [tf.lite.OpsSet.TFLITE_BUILTINS] if float_fallback else []
    summary = {"engine": "TF converter calibration + edgekit ranges + TF MLIR quantizer",
               "per_channel": cfg.per_channel, "samples": n, "float_fallback": float_fallback}
    if not cfg.per_channel:
        converter._experimental_disable_per_channel = True  # noqa: SLF001 (TF's documented switch)
    if precision == "int16x8":
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8] + fallback
        summary.update(engine="TF converter (post-training 16x8)", method="minmax (TF global)",
                       activations="int16 (symmetric)", weights="int8 (symmetric)", io="float32")
        return run(converter), summary
    if io_dtype not in IO_DTYPES:
        raise UnsupportedError(f"Unknown int8 I/O type '{io_dtype}'. Valid: {', '.join(IO_DTYPES)}")
    tf_io = {"int8": tf.int8, "uint8": tf.uint8, "float32": tf.float32}[io_dtype]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8] + fallback
    converter.inference_input_type = tf_io
    converter.inference_output_type = tf_io
    converter._experimental_calibrate_only = True  # noqa: SLF001 (step 1)
    calibrated = run(converter)
    kept = denylist(layer_ops(calibrated), cfg.exclude) if cfg.exclude else {}
    float_ops = {op.index for ops in kept.values() for op in ops}
    ranges, means = activation_ranges(calibrated, calibration.arrays[:n], cfg)  # step 2
    calibrated, corrected = set_ranges(calibrated, ranges, OUTPUT_HEADROOM, means if bias_correction else None,
                                       cfg.per_channel, skip_ops=float_ops)  # float weights: no rounding to correct
    from tensorflow.lite.python.convert import mlir_quantize

    nodes = sorted({op.node for ops in kept.values() for op in ops})
    data = run(_Callable(lambda: mlir_quantize(  # step 3
        calibrated, not cfg.per_channel, input_data_type=tf_io, output_data_type=tf_io,
        denylisted_nodes=nodes or None)))
    if kept:
        summary.update(excluded_layers=list(cfg.exclude),  # as asked; and the ops each one kept float
                       kept_float={name: [{"op": op.op, "layer": op.layer, "node": op.node} for op in ops]
                                   for name, ops in kept.items()})
    summary.update(method=CALIBRATION.methods[cfg.method].format(percentile=cfg.percentile),
                   activations="int8 (asymmetric, per-tensor)",
                   weights="int8 (symmetric, per-channel)" if cfg.per_channel else "int8 (symmetric, per-tensor)",
                   io=io_dtype, output_headroom=OUTPUT_HEADROOM, ranges_set=len(ranges),
                   bias_correction=f"{corrected} layers" if bias_correction else "off")
    return data, summary


class _Callable:
    """Adapter so ``run`` can wrap any conversion step (it calls ``.convert()``)."""

    def __init__(self, fn) -> None:
        self.convert = fn
