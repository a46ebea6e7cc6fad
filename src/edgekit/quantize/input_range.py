"""The int8 input's range: what preprocessing maps pixel values 0 and 255 to, not a calibrated one.

A calibrated input range (min/max averaged over images, or MSE-optimal) clips the darkest and
brightest pixels of images unlike the calibration ones; the first conv's output then loses
~12 dB (docs/int8_accuracy.md, section 4). The exact range needs no data: the model card's
mean/std (on the 0-255 scale) give it.
"""
from __future__ import annotations

import numpy as np


def pixel_range(preprocess, arrays=None) -> tuple[float, float]:
    """(lo, hi) of ``(pixel - mean) / std`` over pixels 0..255 and every channel, widened to the
    calibration arrays' own extremes if they reach beyond it (resampling may overshoot)."""
    mean = np.asarray(preprocess.mean, np.float64)
    std = np.asarray(preprocess.std, np.float64)
    lo, hi = float(((0.0 - mean) / std).min()), float(((255.0 - mean) / std).max())
    if arrays is not None and len(arrays):
        lo, hi = min(lo, float(np.min(arrays))), max(hi, float(np.max(arrays)))
    return min(lo, 0.0), max(hi, 0.0)
