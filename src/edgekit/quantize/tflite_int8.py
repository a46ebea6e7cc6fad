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
       min/max lets one outlier of one image stretch a range for every image;
     - "percentile": the QuantConfig.percentile / 100 - percentile quantiles of all
       calibration values;
   the model output (logits) keeps TF's global min and gets 1.5x its global max:
   confident unseen photos have larger top logits than the calibration photos, and a
   clipped top logit ties with the runner-up (4 of 53 photos flipped that way);
   and each conv / dense bias is corrected for the mean shift its int8 weights cause
   (``bias_corrections``);
3. TF's MLIR quantizer (``mlir_quantize``, the call the converter itself makes) turns
   the ranges into the int8 model: per-channel symmetric int8 weights, asymmetric int8
   activations, int32 biases.

I/O of int8 files (``io_dtype``): "int8" by default — TF's own full-integer convention, no
extra QUANTIZE/DEQUANTIZE ops and the most portable across delegates (Edge TPU, NNAPI,
XNNPACK). "uint8" is what the TFLite Task Library / ML Kit image classifiers take for
quantized models (two QUANTIZE ops re-centre uint8 <-> int8 at the boundary); "float32"
keeps a float interface (one QUANTIZE + one DEQUANTIZE op).
16x8 files (int16 activations) use TF's converter as is, with float32 I/O.

Measured on MobileNetV2 (torchvision weights; calibrated on the 25 photos shipped with
edgekit, compared with float PyTorch on the 53 other shared photos), top-1 agreement /
mean cosine of the logits: TF's converter alone 83% / 0.965; + output headroom 89% /
0.965; averaged min/max 94% / 0.983; + bias correction 96% / 0.992 (nearest-rounded int8
weights' floor: int16x8 activations give 0.991). With the PyTorch route's weight
preparation (quantize/prepare.py: equalization + GPTQ), on edgekit's own 39/39 split of
the 78 shared photos: 97% / 0.994 (87% / 0.992 without it).
"""
from __future__ import annotations

import warnings
from typing import Optional

import numpy as np

from ..errors import UnsupportedError

IO_DTYPES = ("int8", "uint8", "float32")
TFLITE_METHODS = ("minmax", "percentile")
OUTPUT_HEADROOM = 1.5  # x the calibration max of the model output (logits), see above
_SAMPLES_PER_TENSOR = 4096  # values kept per tensor per image for percentiles


def check_quant_config(cfg) -> None:
    if cfg.for_format("minmax").method not in TFLITE_METHODS:
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
             float_fallback: bool = False, run=None, bias_correction: bool = True) -> tuple[bytes, dict]:
    """Quantize with TF's converter; ``make_converter()`` gives a fresh float converter.

    ``run(converter) -> bytes`` runs a conversion (the exporter passes one that keeps the
    converter's C++ logs off the terminal). Returns (tflite bytes, sidecar summary).
    """
    import tensorflow as tf

    run = run or (lambda c: c.convert())
    if calibration is None or len(calibration) == 0:
        raise UnsupportedError(f"tflite {precision} needs calibration images (--calib DIR)")
    check_quant_config(cfg)
    cfg = cfg.for_format("minmax")
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
    ranges, means = activation_ranges(calibrated, calibration.arrays[:n], cfg)
    calibrated, corrected = set_ranges(calibrated, ranges, OUTPUT_HEADROOM,
                                       means if bias_correction else None, cfg.per_channel)
    from tensorflow.lite.python.convert import mlir_quantize

    data = run(_Callable(lambda: mlir_quantize(
        calibrated, not cfg.per_channel, input_data_type=tf_io, output_data_type=tf_io)))
    summary.update(method=_describe(cfg), activations="int8 (asymmetric, per-tensor)",
                   weights="int8 (symmetric, per-channel)" if cfg.per_channel else "int8 (symmetric, per-tensor)",
                   io=io_dtype, output_headroom=OUTPUT_HEADROOM, ranges_set=len(ranges),
                   bias_correction=f"{corrected} layers" if bias_correction else "off")
    return data, summary


class _Callable:
    """Adapter so ``run`` can wrap any conversion step (it calls ``.convert()``)."""

    def __init__(self, fn) -> None:
        self.convert = fn


def _describe(cfg) -> str:
    if cfg.method == "percentile":
        return f"percentile {cfg.percentile} (of all calibration values, per tensor)"
    return "minmax (per-image min/max averaged over the calibration images)"


def activation_ranges(calibrated: bytes, arrays: np.ndarray, cfg) -> tuple[dict, dict]:
    """Run the calibrated float model on the calibration images once.

    Returns ({tensor index: (min, max)} by QuantConfig.method, for every tensor TF's
    calibrator recorded; {tensor index: mean per channel} of the activation input of every
    CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED, for bias correction).
    """
    from ..inspect.tflite_inspect import schema
    from ..runtime_bench.engines.tflite_engine import load_interpreter_module

    fb = schema()
    model = fb.Model.GetRootAsModel(calibrated, 0)
    sg = model.Subgraphs(0)
    inputs = set(sg.InputsAsNumpy().tolist())
    tensors = [i for i in range(sg.TensorsLength())
               if i not in inputs and _has_minmax(sg.Tensors(i))]
    act_inputs = sorted({op[1] for op in compute_ops(calibrated)})
    Interpreter, _, _ = load_interpreter_module()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "preserve_all_tensors is for debugging" notice
        interp = Interpreter(model_content=calibrated, experimental_preserve_all_tensors=True)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]["index"]
    rng = np.random.default_rng(0)
    per_image: dict[int, list] = {i: [] for i in tensors}
    pooled: dict[int, list] = {i: [] for i in tensors}
    means: dict[int, list] = {i: [] for i in act_inputs}
    for a in arrays:
        interp.set_tensor(inp, np.ascontiguousarray(a.transpose(1, 2, 0)[None], np.float32))
        interp.invoke()
        for i in set(tensors) | set(act_inputs):
            try:
                v = interp.get_tensor(i)
            except ValueError:  # not materialized (e.g. fused away)
                continue
            if i in means and v.dtype == np.float32:
                means[i].append(v.reshape(-1, v.shape[-1]).mean(0))
            if i not in per_image:
                continue
            per_image[i].append((float(v.min()), float(v.max())))
            if cfg.method == "percentile":
                flat = v.ravel()
                pooled[i].append(flat if flat.size <= _SAMPLES_PER_TENSOR
                                 else rng.choice(flat, _SAMPLES_PER_TENSOR, replace=False))
    ranges = {}
    for i in tensors:
        if not per_image[i]:
            continue
        if cfg.method == "percentile":
            v = np.concatenate(pooled[i])
            lo, hi = np.percentile(v, [100.0 - cfg.percentile, cfg.percentile])
        else:
            mm = np.asarray(per_image[i])
            lo, hi = mm[:, 0].mean(), mm[:, 1].mean()
        ranges[i] = (float(min(lo, 0.0)), float(max(hi, 0.0)))
    return ranges, {i: np.mean(m, axis=0) for i, m in means.items() if m}


def compute_ops(model_bytes: bytes) -> list[tuple[str, int, int, int]]:
    """(op name, activation input, weight, bias or -1) of every conv / dense op of subgraph 0."""
    from ..inspect.tflite_inspect import _enum_names, schema

    fb = schema()
    names = _enum_names(fb.BuiltinOperator)
    model = fb.Model.GetRootAsModel(model_bytes, 0)
    codes = [names.get(max(model.OperatorCodes(i).BuiltinCode(), model.OperatorCodes(i).DeprecatedBuiltinCode()))
             for i in range(model.OperatorCodesLength())]
    sg = model.Subgraphs(0)
    out = []
    for o in range(sg.OperatorsLength()):
        op = sg.Operators(o)
        name = codes[op.OpcodeIndex()]
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") and op.InputsLength() >= 2:
            ins = op.InputsAsNumpy().tolist()
            out.append((name, ins[0], ins[1], ins[2] if len(ins) > 2 else -1))
    return out


def bias_corrections(model, ops, means: dict, per_channel: bool) -> dict[int, np.ndarray]:
    """{bias tensor index: correction} so each int8-weight layer keeps its float output mean.

    Rounding weights to the int8 grid shifts each output channel's mean by
    E[conv(x, W - Q(W))]; with the per-channel mean of x over the calibration images
    that is (W - Q(W)) summed over the kernel taps, times the input channel means
    (exact for 1x1 convs and dense layers, ignoring zero padding for larger kernels).
    Q is the MLIR quantizer's weight grid: symmetric, narrow range, scale max|w| / 127
    per output channel. Bias correction after Nagel et al. 2019 (data-free quantization).
    """
    out = {}
    sg = model.subgraphs[0]
    for name, x_idx, w_idx, b_idx in ops:
        if b_idx < 0 or x_idx not in means:
            continue
        w = _const(model, sg.tensors[w_idx])
        if w is None:
            continue
        axis = 3 if name == "DEPTHWISE_CONV_2D" else 0
        dw = w - _int8_grid(w, axis if per_channel else None)
        mean = means[x_idx]
        if name == "FULLY_CONNECTED":
            corr = dw.reshape(dw.shape[0], -1) @ mean
        elif name == "DEPTHWISE_CONV_2D":
            taps = dw.reshape(-1, dw.shape[3]).sum(0)  # (C*m,)
            corr = taps * np.repeat(mean, dw.shape[3] // mean.shape[0])
        else:  # CONV_2D, possibly grouped: filter (O, kh, kw, I/g)
            taps = dw.sum(axis=(1, 2))  # (O, I/g)
            groups = mean.shape[0] // taps.shape[1]
            per_group = taps.shape[0] // groups
            corr = np.concatenate([taps[g * per_group:(g + 1) * per_group]
                                   @ mean[g * taps.shape[1]:(g + 1) * taps.shape[1]] for g in range(groups)])
        out[b_idx] = corr.astype(np.float32)
    return out


def _int8_grid(w: np.ndarray, axis) -> np.ndarray:
    if axis is None:
        scale = np.abs(w).max() / 127.0
    else:
        reduce = tuple(a for a in range(w.ndim) if a != axis)
        scale = np.abs(w).max(axis=reduce, keepdims=True) / 127.0
    scale = np.where(scale == 0, 1.0, scale)
    return np.clip(np.round(w / scale), -127, 127) * scale


def _const(model, tensor):
    buf = model.buffers[tensor.buffer] if tensor.buffer < len(model.buffers) else None
    if buf is None or buf.data is None or len(buf.data) == 0 or tensor.type != 0:  # FLOAT32 only
        return None
    return np.frombuffer(np.asarray(buf.data, np.uint8).tobytes(), np.float32).reshape(tensor.shape)


def set_ranges(calibrated: bytes, ranges: dict, output_headroom: float, means: Optional[dict] = None,
               per_channel: bool = True) -> tuple[bytes, int]:
    """Write ``ranges`` into the calibrated model's min/max, widen the model output's max, and
    (with ``means``) correct the biases for int8 weight rounding. Returns (bytes, biases corrected)."""
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
    corrected = 0
    if means:
        users: dict = {}
        for t in sg.tensors:
            users[t.buffer] = users.get(t.buffer, 0) + 1
        for b_idx, corr in bias_corrections(model, compute_ops(calibrated), means, per_channel).items():
            t = sg.tensors[b_idx]
            bias = _const(model, t)
            if bias is None or bias.shape != corr.shape:
                continue
            data = np.frombuffer((bias + corr).astype(np.float32).tobytes(), np.uint8)
            if users.get(t.buffer, 0) > 1:  # a deduplicated buffer: give this bias its own
                new = fb.BufferT()
                model.buffers.append(new)
                t.buffer = len(model.buffers) - 1
            model.buffers[t.buffer].data = data
            corrected += 1
    b = flatbuffers.Builder(len(calibrated) + 1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output()), corrected


def _has_minmax(tensor) -> bool:
    q = tensor.Quantization()
    return q is not None and q.MinLength() > 0
