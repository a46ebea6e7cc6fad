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

UNROUNDED = "_edgekit_unrounded_weights"  # module name -> (weight, bias) equalized, before GPTQ and bias correction


def prepare_for_int8(module, calibration: np.ndarray, input_shape, progress=None,
                     saturation_safe: str = "none") -> tuple[object, dict]:
    """(prepared copy of ``module``, summary for the sidecar). ``calibration``: (N, C, H, W)
    float32 images preprocessed like the model's inputs; never the evaluation images.
    ``saturation_safe``: the layers GPTQ rounds so that no x86 kernel saturates (quantize/saturation.py)."""
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
        summary["weight_rounding"] = gptq_round_weights(prepared, calibration, saturation_safe=saturation_safe)
        t2 = time.perf_counter()
        say("int8 prep: bias correction of the rounding error")
        summary["bias_correction"] = {"layers": correct_weight_bias(unrounded, prepared, calibration)}
        # a plain attribute, neither state nor parameter: what with_float_layers puts back
        prepared.__dict__[UNROUNDED] = {
            n: (m.weight.detach().clone(), None if m.bias is None else m.bias.detach().clone())
            for n, m in unrounded.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))}
    finally:
        torch.set_num_threads(threads)
    summary["seconds"] = {"equalization": round(t1 - t0, 2), "weight_rounding": round(t2 - t1, 2),
                          "bias_correction": round(time.perf_counter() - t2, 2)}
    return prepared, summary


def with_float_layers(prepared, names) -> object:
    """A copy of ``prepared`` whose layers ``names`` (module paths) have their equalized weights and
    biases back, before GPTQ rounding and its bias correction: GPTQ puts every weight on the int8
    grid, so a layer kept in float by a quantizer's exclusion list would otherwise compute with
    int8-grid weights and a bias that corrects an error it no longer has. GPTQ and the correction
    treat each layer alone (from float-input statistics), so the other layers need nothing redone."""
    import torch

    unrounded = prepared.__dict__.get(UNROUNDED) or {}
    copy_ = copy.deepcopy(prepared)
    modules = dict(copy_.named_modules())
    with torch.no_grad():
        for name in names:
            if name in unrounded and name in modules:
                weight, bias = unrounded[name]
                modules[name].weight.data = weight.clone()
                if bias is not None:
                    modules[name].bias.data = bias.clone()
    return copy_
