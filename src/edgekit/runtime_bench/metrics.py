"""Agreement metrics between an exported file's outputs and the float model's, on real data."""
from __future__ import annotations

import numpy as np


def agreement(reference: np.ndarray, candidate: np.ndarray, names: list[str] | None = None,
              labels: dict[str, set[int]] | None = None) -> dict:
    """Top-1/top-5 agreement, mean/min cosine of logits, SQNR (dB), label top-1 if known.

    top5_agreement: how often the float model's top-1 class is within the candidate's top 5.
    sqnr_db: 10*log10(sum(ref^2) / sum((ref - cand)^2)) over all logits.
    """
    ref = reference.reshape(len(reference), -1).astype(np.float64)
    cand = candidate.reshape(len(candidate), -1).astype(np.float64)
    ref_top1 = ref.argmax(1)
    cand_top1 = cand.argmax(1)
    cand_top5 = np.argsort(-cand, axis=1)[:, :5]
    cos = (ref * cand).sum(1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(cand, axis=1) + 1e-12)
    noise = ((ref - cand) ** 2).sum()
    agree = int((ref_top1 == cand_top1).sum())
    out = {
        "samples": int(len(ref)),
        "top1_agreement": agree / len(ref),
        # on a few dozen images one photo moves agreement by several points: say how sure it is
        "top1_agreement_ci95": list(wilson_interval(agree, len(ref))),
        "top5_agreement": float(np.mean([r in c for r, c in zip(ref_top1, cand_top5)])),
        "cosine_mean": float(cos.mean()),
        "cosine_min": float(cos.min()),
        "sqnr_db": float(10 * np.log10((ref ** 2).sum() / noise)) if noise > 0 else float("inf"),
        "max_abs_diff": float(np.abs(ref - cand).max()),
    }
    if names and labels:
        known = [i for i, n in enumerate(names) if n in labels]
        if known:
            out["labelled_samples"] = len(known)
            out["reference_top1_accuracy"] = float(np.mean([ref_top1[i] in labels[names[i]] for i in known]))
            out["top1_accuracy"] = float(np.mean([cand_top1[i] in labels[names[i]] for i in known]))
    disagree = [names[i] for i in np.flatnonzero(ref_top1 != cand_top1)] if names else []
    out["disagreements"] = disagree
    return out


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (sound at 0 and n, unlike the normal one)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (float(max(0.0, centre - half)), float(min(1.0, centre + half)))
