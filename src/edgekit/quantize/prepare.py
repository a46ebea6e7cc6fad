"""Weight-side preparation of a float torch model for int8, before any converter sees it.

``prepare_for_int8`` returns a copy (the fp32 artifacts must keep the original weights) with
1. channel equalization (``equalize.py``): rescales channels so per-tensor uint8 activation
   ranges fit them all; the float function is unchanged on the calibration data;
2. GPTQ weight rounding (``weight_rounding.py``): every Conv/Linear weight put on its
   symmetric per-channel int8 grid with error feedback, so the converter's own weight
   quantizer reproduces exactly these integers.
Measured on MobileNetV2 with ONNX Runtime (uint8 activations, 39 calibration / 39 held-out
photos, benchmarks/onnx_int8_methods.py), logit SQNR / top-1 agreement with float:
nearest-rounded weights + min/max ranges 12.7 dB / 77%; GPTQ + min/max 13.3 dB / 85%;
GPTQ + MSE ranges 15.2 dB / 80%; equalization + GPTQ + MSE ranges 18.7-18.9 dB / 92-97%
(cosine 0.993; top-1 moves by 1-2 photos between runs at equal SQNR: 8 of the 39 photos
have float top-1/top-2 logit gaps under 0.3, the int8 error of that gap has an RMS of 0.5).
Cost for 39 images: 6.5 s on 2 idle cores, 10 s on one core of a busy machine.
"""
from __future__ import annotations

import copy
import time

import numpy as np


def prepare_for_int8(module, calibration: np.ndarray, input_shape, progress=None) -> tuple[object, dict]:
    """(prepared copy of ``module``, summary for the sidecar). ``calibration``: (N, C, H, W)
    float32 images preprocessed like the model's inputs; never the evaluation images."""
    import importlib.util

    import torch

    say = progress or (lambda _m: None)
    prepared = copy.deepcopy(module).eval()
    summary: dict = {}
    threads = torch.get_num_threads()
    # One torch thread: on this 2-core machine shared with other jobs, 2 OpenMP threads spin
    # against each other (measured 40-55 s for this step vs 9.5-11 s with 1 thread; 6.5 s
    # with 2 threads on idle cores).
    torch.set_num_threads(1)
    try:
        t0 = time.perf_counter()
        if importlib.util.find_spec("onnx") is not None:  # the graph is read from an ONNX export
            from .equalize import equalize_channels

            say("int8 prep: equalizing channel ranges")
            summary["equalization"] = equalize_channels(prepared, calibration, input_shape)
        else:
            summary["equalization"] = {"skipped": "onnx not installed (pip install 'edgekit[onnx]')"}
        t1 = time.perf_counter()
        from .weight_rounding import gptq_round_weights

        say("int8 prep: GPTQ weight rounding")
        summary["weight_rounding"] = gptq_round_weights(prepared, calibration)
    finally:
        torch.set_num_threads(threads)
    summary["seconds"] = {"equalization": round(t1 - t0, 2), "weight_rounding": round(time.perf_counter() - t1, 2)}
    return prepared, summary
