"""NaN and inf are refused where they enter: weights, the folded model, inputs, and outputs.

A model with a NaN weight exports, converts and even "validates" (cosine nan) without any
runtime complaining, and ships as a file that computes nothing; so each stage checks what it
was given and names the first bad tensor or image.
"""
from __future__ import annotations

from typing import Iterable, Optional, Sequence

import numpy as np

from .errors import NonFiniteError


def require_finite_model(loaded, what: str) -> None:
    """Every parameter and buffer of a torch module (or weight of a Keras model) is finite."""
    bad = _first_nonfinite(_named_tensors(loaded))
    if bad:
        name, count, total = bad
        raise NonFiniteError(
            f"{what} of {loaded.card.name} hold NaN or inf: '{name}' has {count} of {total} values non-finite. "
            "Fix or re-train the weights; edgekit does not export a model that cannot compute finite outputs")


def require_finite_arrays(arrays: np.ndarray, names: Optional[Sequence[str]], what: str, hint: str) -> None:
    """Each row of ``arrays`` (one image or one output) is finite; else name the first bad one."""
    flat = np.asarray(arrays).reshape(len(arrays), -1)
    bad = np.flatnonzero(~np.isfinite(flat).all(axis=1))
    if len(bad):
        first = names[bad[0]] if names else f"#{bad[0]}"
        raise NonFiniteError(f"{what} hold NaN or inf for {len(bad)} of {len(flat)} images (first: {first}). {hint}")


def _named_tensors(loaded) -> Iterable[tuple[str, np.ndarray]]:
    if loaded.framework == "keras":
        for w in loaded.module.weights:
            yield w.path if hasattr(w, "path") else w.name, np.asarray(w.numpy())
        return
    for name, t in list(loaded.module.named_parameters()) + list(loaded.module.named_buffers()):
        if t.is_floating_point():
            yield name, t.detach()


def _first_nonfinite(named) -> Optional[tuple[str, int, int]]:
    for name, t in named:
        if isinstance(t, np.ndarray):
            ok = np.isfinite(t)
            if not ok.all():
                return name, int((~ok).sum()), int(t.size)
        else:
            import torch

            ok = torch.isfinite(t)
            if not bool(ok.all()):
                return name, int((~ok).sum()), int(t.numel())
    return None
