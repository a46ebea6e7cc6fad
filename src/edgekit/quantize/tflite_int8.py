"""TFLite post-training quantization: converter settings, calibration ranges, representative data.

The calibration source is the same ImageSet the ONNX path uses (float32 NCHW, preprocessed
by the model card); the representative dataset feeds it NHWC, one image per batch.

Full-integer int8 is done in three steps instead of one ``converter.convert()``:

1. TF's calibrator runs the float model on the calibration images
   (``_experimental_calibrate_only``) and records each tensor's global min/max;
2. edgekit runs the same calibrated float model once more and sets each activation
   range itself (``set_ranges``), according to QuantConfig.method:
     - "minmax": the per-image min and max, averaged over the calibration images (the
       moving-average min/max of TF's QAT and TensorRT calibrators). TF's own global
       min/max lets one outlier pixel of one image stretch a range for every image:
       on MobileNetV2 (25 calibration photos, 53 other photos) global min/max agrees
       with float on top-1 for 83% of the photos (cosine 0.965), averaged min/max 94%
       (0.983), plus bias correction (tflite_export) 96% (0.991);
     - "percentile": the QuantConfig.percentile / 100 - percentile quantiles of all
       calibration values;
   and the model output (logits) keeps TF's global min and gets 1.5x its global max:
   confident unseen photos have larger top logits than the calibration photos, and a
   clipped top logit ties with the runner-up (4 of 53 photos flipped that way);
3. TF's MLIR quantizer (``mlir_quantize``, the call the converter itself makes) turns
   the ranges into the int8 model: per-channel symmetric int8 weights, asymmetric int8
   activations, int32 biases.

I/O of int8 files (``io_dtype``): "int8" by default — TF's own full-integer convention, no
extra QUANTIZE/DEQUANTIZE ops and the most portable across delegates (Edge TPU, NNAPI,
XNNPACK). "uint8" is what the TFLite Task Library / ML Kit image classifiers take for
quantized models; "float32" keeps a float interface (one QUANTIZE + one DEQUANTIZE op).
16x8 files (int16 activations) use TF's converter as is, with float32 I/O.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..errors import UnsupportedError

IO_DTYPES = ("int8", "uint8", "float32")
TFLITE_METHODS = ("minmax", "percentile")
OUTPUT_HEADROOM = 1.5  # x the calibration max of the model output (logits), see above
_SAMPLES_PER_TENSOR = 4096  # values kept per tensor per image for percentiles


def check_quant_config(cfg) -> None:
    if cfg.method not in TFLITE_METHODS:
        raise UnsupportedError(
            f"tflite int8 calibrates with {' or '.join(TFLITE_METHODS)}, not '{cfg.method}'; "
            "use --calib-method minmax or percentile for tflite"
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


def convert_float(converter, precision: str) -> dict:
    """Set up ``converter`` for fp32 or fp16 weights; return a summary for the sidecar."""
    import tensorflow as tf

    if precision == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
        return {"precision": "fp16", "weights": "float16 (dequantized to float32 at load)"}
    return {"precision": "fp32"}


def quantize(make_converter, precision: str, calibration, cfg, io_dtype: str = "int8",
             float_fallback: bool = False, run=None) -> tuple[bytes, dict]:
    """Quantize with TF's converter; ``make_converter()`` gives a fresh float converter.

    ``run(converter) -> bytes`` runs a conversion (the exporter passes one that keeps the
    converter's C++ logs off the terminal). Returns (tflite bytes, sidecar summary).
    """
    import tensorflow as tf

    run = run or (lambda c: c.convert())
    if calibration is None or len(calibration) == 0:
        raise UnsupportedError(f"tflite {precision} needs calibration images (--calib DIR)")
    check_quant_config(cfg)
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
    converter._experimental_calibrate_only = True  # noqa: SLF001 (step 1 above)
    calibrated = run(converter)
    ranges = activation_ranges(calibrated, calibration.arrays[:n], cfg)
    calibrated = set_ranges(calibrated, ranges, OUTPUT_HEADROOM)
    from tensorflow.lite.python.convert import mlir_quantize

    data = run(_Callable(lambda: mlir_quantize(
        calibrated, not cfg.per_channel, input_data_type=tf_io, output_data_type=tf_io)))
    summary.update(method=_describe(cfg), activations="int8 (asymmetric, per-tensor)",
                   weights="int8 (symmetric, per-channel)" if cfg.per_channel else "int8 (symmetric, per-tensor)",
                   io=io_dtype, output_headroom=OUTPUT_HEADROOM, ranges_set=len(ranges))
    return data, summary


class _Callable:
    """Adapter so ``run`` can wrap any conversion step (it calls ``.convert()``)."""

    def __init__(self, fn) -> None:
        self.convert = fn


def _describe(cfg) -> str:
    if cfg.method == "percentile":
        return f"percentile {cfg.percentile} (of all calibration values, per tensor)"
    return "minmax (per-image min/max averaged over the calibration images)"


def activation_ranges(calibrated: bytes, arrays: np.ndarray, cfg) -> dict[int, tuple[float, float]]:
    """Per-tensor (min, max) for every tensor TF's calibrator recorded, by QuantConfig.method."""
    from ..inspect.tflite_inspect import schema
    from ..runtime_bench.engines.tflite_engine import load_interpreter_module

    fb = schema()
    model = fb.Model.GetRootAsModel(calibrated, 0)
    sg = model.Subgraphs(0)
    inputs = set(sg.InputsAsNumpy().tolist())
    tensors = [i for i in range(sg.TensorsLength())
               if i not in inputs and _has_minmax(sg.Tensors(i))]
    Interpreter, _, _ = load_interpreter_module()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "preserve_all_tensors is for debugging" notice
        interp = Interpreter(model_content=calibrated, experimental_preserve_all_tensors=True)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]["index"]
    rng = np.random.default_rng(0)
    per_image: dict[int, list] = {i: [] for i in tensors}
    pooled: dict[int, list] = {i: [] for i in tensors}
    for a in arrays:
        interp.set_tensor(inp, np.ascontiguousarray(a.transpose(1, 2, 0)[None], np.float32))
        interp.invoke()
        for i in tensors:
            try:
                v = interp.get_tensor(i)
            except ValueError:  # not materialized (e.g. fused away)
                continue
            per_image[i].append((float(v.min()), float(v.max())))
            if cfg.method == "percentile":
                flat = v.ravel()
                pooled[i].append(flat if flat.size <= _SAMPLES_PER_TENSOR
                                 else rng.choice(flat, _SAMPLES_PER_TENSOR, replace=False))
    out = {}
    for i in tensors:
        if not per_image[i]:
            continue
        if cfg.method == "percentile":
            v = np.concatenate(pooled[i])
            lo, hi = np.percentile(v, [100.0 - cfg.percentile, cfg.percentile])
        else:
            mm = np.asarray(per_image[i])
            lo, hi = mm[:, 0].mean(), mm[:, 1].mean()
        out[i] = (float(min(lo, 0.0)), float(max(hi, 0.0)))
    return out


def set_ranges(calibrated: bytes, ranges: dict, output_headroom: float) -> bytes:
    """Write ``ranges`` into the calibrated model's min/max; widen the model output's max."""
    import flatbuffers

    from ..inspect.tflite_inspect import schema

    fb = schema()
    model = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(calibrated, 0))
    sg = model.subgraphs[0]
    outputs = set(int(o) for o in sg.outputs)
    for i, t in enumerate(sg.tensors):
        q = t.quantization
        if q is None or q.min is None or not len(q.min):
            continue
        if i in outputs:  # logits: global min, widened global max
            q.max = [float(m) * output_headroom if m > 0 else float(m) for m in q.max]
        elif i in ranges:
            q.min, q.max = [ranges[i][0]], [ranges[i][1]]
    b = flatbuffers.Builder(len(calibrated) + 1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _has_minmax(tensor) -> bool:
    q = tensor.Quantization()
    return q is not None and q.MinLength() > 0
