"""Which integer grid each layer's weights are rounded to (GPTQ, quantize/weight_rounding.py), and
reading that grid back from the weights (the converters, quantize/saturation.py).

Three grids, all symmetric and per output channel (a row = one output channel's weights):

- "8-bit": scale max|w| / 127, the one ORT, TFLite and NNCF compute themselves.
- "pairs": 8-bit integers whose every two neighbours along the input channels satisfy
  |q_i| + |q_i+1| <= 128, scale max|w| / Q with Q = floor(128 * max|w| / max(|w_i| + |w_i+1|)).
  x86 CPUs without VNNI add each pair of uint8 x int8 products into an int16 (VPMADDUBSW), and
  255 * 128 = 32640 fits: no input can saturate it. For 1x1 convolutions and matrix products the
  pairs are neighbouring input channels (the GEMM's K in order; every neighbour is bounded, so
  any alignment of the pairs is covered); on an AVX2 CPU the fused kernels then match exact int8
  math (docs/int8_accuracy.md, section 9). On MobileNetV2 Q averages 88: 1.4x finer than 7 bits (weight-only logit SQNR 29.9 dB
  against 27.8 dB for 7 bits and 31.3 dB for unbounded 8 bits; docs/int8_accuracy.md, section 9).
- "7-bit": |q| <= 64, scale max|w| / 64 (ORT's reduce_range grid), for the other layers with a
  saturation risk (kernels larger than 1x1, grouped): there the pairs depend on how each runtime
  lays out the kernel taps, which edgekit does not control.
"""
from __future__ import annotations

import numpy as np

QMAX = 127  # symmetric, narrow range [-127, 127]
QMAX_7BIT = 64  # 255 * 64 * 2 = 32640 fits an int16
PAIR_BOUND = 128  # |q_i| + |q_i+1| <= 128: 255 * 128 = 32640 fits an int16
_ON_GRID = 1e-3  # |w / scale - round(w / scale)| below this: the weight is on the grid
_MIN_ROWS_ON_GRID = 0.9  # a layer counts as prepared when 90% of its rows are on a grid
_SAMPLE_ROWS = 32  # rows read first, to reject unprepared weights cheaply


def grid_for(policy: str, signed_input: bool, pairs_known: bool) -> str:
    """The grid of one layer. ``policy``: "none" (8 bits everywhere: TFLite, ExecuTorch),
    "signed-inputs" (layers whose input went negative on the calibration images: ONNX,
    OpenVINO) or "all". ``pairs_known``: a dense 1x1 convolution or a matrix product."""
    if policy == "all" or (policy == "signed-inputs" and signed_input):
        return "pairs" if pairs_known else "7-bit"
    return "8-bit"


def pairs_known(kind: str, kernel: tuple, groups: int) -> bool:
    """Whether the runtime's pairs of products are neighbouring input channels (see above)."""
    return kind == "linear" or (groups == 1 and tuple(kernel) == (1, 1))


def row_steps(rows, grid: str):
    """Each row's largest integer Q (the row's scale is max|w| / Q), for torch weights (g, out, d)."""
    import torch

    peak = rows.abs().amax(-1, keepdim=True)
    if grid == "8-bit":
        return torch.full_like(peak, QMAX)
    if grid == "7-bit":
        return torch.full_like(peak, QMAX_7BIT)
    a = rows.abs()
    pair = (a[..., 1:] + a[..., :-1]).amax(-1, keepdim=True) if rows.shape[-1] > 1 else peak
    return torch.clamp(torch.floor(PAIR_BOUND * peak / pair.clamp_min(1e-30)), 1, QMAX)


def read_row_steps(weight: np.ndarray) -> np.ndarray | None:
    """Q per output channel of weights a grid above put on integers (each weight an integer
    multiple of max|w| / Q): 127 for 8-bit rows, else the smallest Q in 1..126 that fits (its
    integers are the smallest exact ones), 0 for a row on no grid or all zero. None when under
    90% of the nonzero rows are on a grid (weights no preparation rounded)."""
    rows = np.asarray(weight, np.float64).reshape(weight.shape[0], -1)
    peak = np.abs(rows).max(1)
    unit = np.divide(rows, peak[:, None], out=np.zeros_like(rows), where=peak[:, None] > 0)
    live = np.flatnonzero(peak > 0)
    # Unprepared weights fit no grid, so all 127 candidates would be tried on every row (3.5 s for
    # MobileNetV2, on every int8 export): a sample of rows rejects them first. A prepared layer
    # has (nearly) every row on a grid, far above half of any sample.
    sample = live[np.linspace(0, len(live) - 1, _SAMPLE_ROWS).astype(int)] if len(live) > _SAMPLE_ROWS else live
    if not len(live) or np.mean(_scan(unit, sample) > 0) < 0.5:
        return None
    found = np.zeros(len(rows), np.int64)
    found[live] = _scan(unit, live)
    if np.mean(found[live] > 0) < _MIN_ROWS_ON_GRID:
        return None
    return found


def _scan(unit: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Q of the rows ``idx`` of ``unit`` (weights / their row's max), 0 where none fits."""
    def on(q, at):
        steps = unit[at] * q
        return np.all(np.abs(steps - np.round(steps)) < _ON_GRID, 1)

    found = np.zeros(len(idx), np.int64)
    found[on(QMAX, idx)] = QMAX  # 127 is prime: an 8-bit row reads smaller only if it is 0 / +-max
    for q in range(1, QMAX):
        left = np.flatnonzero(found == 0)
        if not len(left):
            break
        found[left[on(q, idx[left])]] = q
    return found


def reduced_row_steps(weight: np.ndarray) -> np.ndarray | None:
    """read_row_steps when some channel of ``weight`` is on a grid coarser than 8 bits ("pairs"
    or "7-bit"), else None: the converter's own max|w| / 127 is already right."""
    q = read_row_steps(weight)
    return q if q is not None and np.any((q > 0) & (q < QMAX)) else None


def reduced_grid_scales(weight: np.ndarray) -> np.ndarray | None:
    """Per output channel scales for a converter of a layer with reduced_row_steps, else None.
    Channels on no grid get max|w| / 127, all-zero ones 1."""
    q = reduced_row_steps(weight)
    if q is None:
        return None
    peak = np.abs(np.asarray(weight, np.float64).reshape(weight.shape[0], -1)).max(1)
    steps = np.where(q > 0, q, QMAX)
    return np.where(peak > 0, peak / steps, 1.0).astype(np.float32)
