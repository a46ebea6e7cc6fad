"""Weight-side preparation of a float torch model for int8, before any converter sees it:
channel equalization (``equalize``), GPTQ weight rounding (``weight_rounding``), then bias
correction of the rounding error (``weight_bias``), on a copy. On MobileNetV2 this takes ONNX
int8 from 77% to 92-97% top-1 agreement with float (docs/decisions.md, "int8 preparation");
the bias correction adds ~0.6 dB logit SQNR (docs/int8_accuracy.md, section 5).
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
        from .weight_bias import correct_weight_bias
        from .weight_rounding import gptq_round_weights

        say("int8 prep: GPTQ weight rounding")
        unrounded = copy.deepcopy(prepared)
        summary["weight_rounding"] = gptq_round_weights(prepared, calibration)
        t2 = time.perf_counter()
        say("int8 prep: bias correction of the rounding error")
        summary["bias_correction"] = {"layers": correct_weight_bias(unrounded, prepared, calibration)}
    finally:
        torch.set_num_threads(threads)
    summary["seconds"] = {"equalization": round(t1 - t0, 2), "weight_rounding": round(t2 - t1, 2),
                          "bias_correction": round(time.perf_counter() - t2, 2)}
    return prepared, summary
