"""MSE-optimal activation ranges from calibration histograms, independent of any converter.

Each tensor's range minimises its own uint8 quantization error E[(x - q(x))^2], computed
exactly for a density uniform inside each histogram bin; exact zeros are counted apart.
The grid is asymmetric uint8 (ORT, TFLite, NNCF "mixed"). Input: any iterable of
{tensor name: ndarray} batches (``Histograms.add``). Why, and what it gained:
docs/decisions.md, "MSE-optimal activation ranges".
"""
from __future__ import annotations

import numpy as np

LEVELS = 255  # uint8
BINS = 2048
_MAX_VALUES = 1 << 20  # values per tensor and batch histogrammed (a strided subset above)
_GRID = 32  # candidates per axis in the coarse search; then a finer one around the best
_COARSE_BINS = 4  # bins merged for the coarse grid
_OFFSETS = np.linspace(-1.0, 1.0, 9)  # refinement grid, in steps of the previous grid
_CHUNK = 256  # candidates evaluated at once (bounds memory: _CHUNK x BINS floats per temporary)


class Histograms:
    """Per-tensor histograms, built in two passes: ``add_range`` on every batch, then ``add``."""

    def __init__(self, bins: int = BINS) -> None:
        self.bins = bins
        self.lo: dict[str, float] = {}
        self.hi: dict[str, float] = {}
        self.counts: dict[str, np.ndarray] = {}

    def add_range(self, outputs: dict) -> None:
        for name, a in outputs.items():
            lo, hi = float(np.min(a)), float(np.max(a))
            self.lo[name] = min(lo, self.lo.get(name, lo))
            self.hi[name] = max(hi, self.hi.get(name, hi))

    def add(self, outputs: dict) -> None:
        for name, a in outputs.items():
            lo, hi = self.lo[name], self.hi[name]
            flat = np.asarray(a, dtype=np.float32).ravel()
            flat = flat[:: max(1, flat.size // _MAX_VALUES)]  # large early tensors: a strided subset
            zeros = int(np.count_nonzero(flat == 0))
            if hi > lo:  # bincount of bin indices: 3x faster than np.histogram here
                c = np.bincount(self._bin(flat, lo, hi), minlength=self.bins)
                if zeros:  # exact zeros are error-free on any grid: not part of the histogram
                    c[self._bin(np.zeros(1, np.float32), lo, hi)[0]] -= zeros
                self.counts[name] = self.counts.get(name, 0) + c

    def _bin(self, x, lo, hi):
        return np.clip(((x - np.float32(lo)) * np.float32(self.bins / (hi - lo))).astype(np.int64), 0, self.bins - 1)

    def mse_ranges(self) -> dict[str, tuple[float, float]]:
        return {name: self.mse_range(name) for name in self.lo}

    def mse_range(self, name: str) -> tuple[float, float]:
        lo, hi = min(self.lo[name], 0.0), max(self.hi[name], 0.0)
        if name not in self.counts or hi - lo <= 0:
            return lo, hi
        edges = np.linspace(self.lo[name], self.hi[name], self.bins + 1)
        return search_range(edges, self.counts[name].astype(np.float64))


def search_range(edges: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    """(lo, hi) minimising the expected squared uint8 quantization error of the histogram."""
    lo0, hi0 = min(edges[0], 0.0), max(edges[-1], 0.0)
    full = _nonzero_bins(edges, counts)
    # the coarse grid runs on 4x wider bins (exact for its piecewise-uniform density too)
    k = _COARSE_BINS if len(counts) % _COARSE_BINS == 0 else 1
    coarse = _nonzero_bins(edges[::k], counts.reshape(-1, k).sum(1))

    def best(los, his, coarse_bins=False):
        a, b, c = coarse if coarse_bins else full
        lo, hi = (g.ravel() for g in np.meshgrid(np.asarray(los, float), np.asarray(his, float), indexing="ij"))
        err = np.concatenate([quant_error(a, b, c, lo[i:i + _CHUNK], hi[i:i + _CHUNK])
                              for i in range(0, len(lo), _CHUNK)])
        k = int(np.argmin(err))
        return float(lo[k]), float(hi[k])

    signed = lo0 < 0 < hi0
    n = _GRID // 2 if signed else _GRID  # 2-D search when both ends can move
    fr = np.linspace(1.0 / n, 1.0, n)
    lo, hi = best(lo0 * fr if lo0 < 0 else [0.0], hi0 * fr if hi0 > 0 else [0.0], coarse_bins=True)
    step_lo, step_hi = -lo0 / n, hi0 / n
    for _ in range(2):  # refine twice, each time within one previous step either side
        lo, hi = best(np.clip(lo + step_lo * _OFFSETS, lo0, 0.0) if lo0 < 0 else [0.0],
                      np.clip(hi + step_hi * _OFFSETS, 0.0, hi0) if hi0 > 0 else [0.0])
        step_lo, step_hi = step_lo / 4, step_hi / 4
    return lo, hi


def _nonzero_bins(edges, counts):
    keep = counts > 0
    return edges[:-1][keep], edges[1:][keep], counts[keep]


def quant_error(a, b, c, lo, hi) -> np.ndarray:
    """Summed squared error of uint8 quantization with ranges (lo[k], hi[k]) for a density
    uniform inside each bin [a[i], b[i]] holding c[i] values; shape (K,)."""
    lo = np.minimum(lo, 0.0)[:, None]
    hi = np.maximum(hi, 0.0)[:, None]
    s = np.maximum((hi - lo) / LEVELS, 1e-30)
    zp = np.round(-lo / s)
    gl, gh = -zp * s, (LEVELS - zp) * s  # the grid's ends after zero-point rounding
    a, b, c = a[None], b[None], c[None]
    inside_a, inside_b = np.clip(a, gl, gh), np.clip(b, gl, gh)
    err = _round_integral(inside_b, s) - _round_integral(inside_a, s)
    err += (np.maximum(b - gh, 0) ** 3 - np.maximum(a - gh, 0) ** 3) / 3  # above the grid
    err += (np.maximum(gl - a, 0) ** 3 - np.maximum(gl - b, 0) ** 3) / 3  # below the grid
    return (err * c / (b - a)).sum(1)


def _round_integral(x, s):
    """Integral from -s/2 to x of (u - s * round(u / s))^2 du (grid points at multiples of s)."""
    n = np.floor(x / s + 0.5)
    r = x - n * s
    return n * s ** 3 / 12 + (r ** 3 + (s / 2) ** 3) / 3
