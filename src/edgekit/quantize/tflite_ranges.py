"""TFLite activation ranges: run the calibrated float model on the calibration images and set
each tensor's range by QuantConfig.method (per-image min/max averaged, or percentiles), the
logits' max widened by OUTPUT_HEADROOM (docs/decisions.md, "TFLite int8")."""
from __future__ import annotations

import warnings
from typing import Optional

import numpy as np

from ..formats.tflite import interpreter_class, pack, schema, unpack
from .tflite_bias import apply_bias_corrections, compute_ops

OUTPUT_HEADROOM = 1.5  # x the calibration max of the model output (logits)
_SAMPLES_PER_TENSOR = 4096  # values kept per tensor per image for percentiles


def activation_ranges(calibrated: bytes, arrays: np.ndarray, cfg) -> tuple[dict, dict]:
    """Run the calibrated float model on the calibration images once.

    Returns ({tensor index: (min, max)} by QuantConfig.method, for every tensor TF's
    calibrator recorded; {tensor index: mean per channel} of the activation input of every
    CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED, for bias correction).
    """
    fb = schema()
    model = fb.Model.GetRootAsModel(calibrated, 0)
    sg = model.Subgraphs(0)
    inputs = set(sg.InputsAsNumpy().tolist())
    tensors = [i for i in range(sg.TensorsLength())
               if i not in inputs and _has_minmax(sg.Tensors(i))]
    act_inputs = sorted({op[1] for op in compute_ops(calibrated)})
    Interpreter = interpreter_class()
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


def set_ranges(calibrated: bytes, ranges: dict, output_headroom: float, means: Optional[dict] = None,
               per_channel: bool = True, skip_ops=frozenset()) -> tuple[bytes, int]:
    """Write ``ranges`` into the calibrated model's min/max, widen the model output's max, and
    (with ``means``) correct the biases for int8 weight rounding, except of the ops (indices)
    in ``skip_ops``, kept float. Returns (bytes, biases corrected)."""
    model = unpack(calibrated)
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
    ops = compute_ops(calibrated, skip_ops)
    corrected = apply_bias_corrections(model, ops, means, per_channel) if means else 0
    return pack(model, len(calibrated)), corrected


def _has_minmax(tensor) -> bool:
    q = tensor.Quantization()
    return q is not None and q.MinLength() > 0
