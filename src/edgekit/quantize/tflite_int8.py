"""TFLite post-training quantization: converter settings per precision + the representative dataset.

The calibration source is the same ImageSet the ONNX path uses (float32 NCHW, preprocessed
by the model card); the representative dataset feeds it NHWC, one image per batch.

TF's converter calibrates with min/max only (per-tensor activations, per-channel weights
unless QuantConfig.per_channel is False) and has no per-layer exclusion list, so other
QuantConfig choices are refused before any work (``check_quant_config``).

I/O of int8 files (``io_dtype``): "int8" by default — TF's own full-integer convention, no
extra QUANTIZE/DEQUANTIZE ops and the most portable across delegates (Edge TPU, NNAPI,
XNNPACK). "uint8" is what the TFLite Task Library / ML Kit image classifiers take for
quantized models; "float32" keeps a float interface (one QUANTIZE + one DEQUANTIZE op).
16x8 files keep float32 I/O.
"""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedError

IO_DTYPES = ("int8", "uint8", "float32")


def check_quant_config(cfg) -> None:
    if cfg.method != "minmax":
        raise UnsupportedError(
            f"tflite int8 calibrates with min/max only, not '{cfg.method}'; "
            "use --calib-method minmax for tflite, or export --format onnx/openvino for that method"
        )
    if cfg.exclude:
        raise UnsupportedError("tflite int8 has no per-layer exclusion; drop the exclusions "
                               "(or use --float-fallback to keep ops without int8 kernels in float)")


def representative_dataset(images, samples: int):
    """A generator factory for TFLiteConverter.representative_dataset (NCHW -> NHWC)."""
    arrays = images.arrays[:samples]

    def gen():
        for a in arrays:
            yield [np.ascontiguousarray(a.transpose(1, 2, 0)[None], dtype=np.float32)]

    return gen


def configure(converter, precision: str, calibration=None, cfg=None, io_dtype: str = "int8",
              float_fallback: bool = False) -> dict:
    """Set ``converter`` up for ``precision``; return a summary for the sidecar."""
    import tensorflow as tf

    if precision == "fp32":
        return {"precision": "fp32"}
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if precision == "fp16":
        converter.target_spec.supported_types = [tf.float16]
        return {"precision": "fp16", "weights": "float16 (dequantized to float32 at load)"}
    if calibration is None or len(calibration) == 0:
        raise UnsupportedError(f"tflite {precision} needs calibration images (--calib DIR)")
    check_quant_config(cfg)
    converter.representative_dataset = representative_dataset(calibration, cfg.samples)
    if not cfg.per_channel:
        converter._experimental_disable_per_channel = True  # noqa: SLF001 (documented TF flag)
    fallback = [tf.lite.OpsSet.TFLITE_BUILTINS] if float_fallback else []
    summary = {"engine": "tf.lite.TFLiteConverter (post-training, full integer)", "method": "minmax",
               "per_channel": cfg.per_channel, "samples": int(min(len(calibration), cfg.samples)),
               "float_fallback": float_fallback}
    if precision == "int16x8":
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8] + fallback
        return {**summary, "activations": "int16 (symmetric)", "weights": "int8 (symmetric)", "io": "float32"}
    if io_dtype not in IO_DTYPES:
        raise UnsupportedError(f"Unknown int8 I/O type '{io_dtype}'. Valid: {', '.join(IO_DTYPES)}")
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8] + fallback
    tf_io = {"int8": tf.int8, "uint8": tf.uint8, "float32": tf.float32}[io_dtype]
    converter.inference_input_type = tf_io
    converter.inference_output_type = tf_io
    return {**summary, "activations": "int8 (asymmetric)", "weights": "int8 (symmetric)", "io": io_dtype}
