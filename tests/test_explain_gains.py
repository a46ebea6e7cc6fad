"""explain's channel-gain fit (inspect/onnx_layers._gain_fit): equalization rescales each output
channel of an int8 file by g against the float file, and explain undoes it before comparing.
The fit reads only each channel's large int8 weights: fitted over all of them, a trained
Xception's file read g ~0.8 per layer (compounding to -54 dB at its classifier, against the
1.79 dB measured at the output). That file is not in CI; this checks the fit itself: exact on
plain per-channel rounding, and deaf to the small weights whatever is done to them."""
from __future__ import annotations

import numpy as np

from edgekit.inspect.onnx_layers import _gain_fit


def _int8_per_channel(w: np.ndarray) -> np.ndarray:
    scale = np.abs(w).max(1, keepdims=True) / 127
    return np.round(w / scale) * scale


def test_gain_fit_recovers_each_channels_gain():
    rng = np.random.default_rng(0)
    w32 = rng.standard_t(1.5, size=(64, 728))  # heavy tails: a few large weights per channel
    g = rng.uniform(0.5, 2.0, size=64)
    fitted = _gain_fit(_int8_per_channel(w32 * g[:, None]), w32)
    assert np.abs(fitted / g - 1).max() < 0.01


def test_small_weights_do_not_move_the_gain():
    """Halve every small int8 weight (what a rounding scheme free to move small weights might do):
    the gain read from the large ones stays, where a fit over all weights drops."""
    rng = np.random.default_rng(1)
    w32 = rng.standard_t(1.5, size=(64, 728))
    w8 = _int8_per_channel(w32 * 1.5)
    small = np.abs(w8) < 0.25 * np.abs(w8).max(1, keepdims=True)
    w8[small] *= 0.5
    plain = (w8 * w32).sum(1) / (w32 * w32).sum(1)
    assert np.abs(_gain_fit(w8, w32) / 1.5 - 1).max() < 0.01
    assert np.median(plain / 1.5) < 0.99  # the old fit, for contrast
