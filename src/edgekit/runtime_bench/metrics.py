"""Agreement metrics between an exported file's outputs and the float model's, on real data;
and, when the images are labelled, each one's accuracy and the drop from float to the file."""
from __future__ import annotations

import numpy as np

from .intervals import paired_difference_interval, wilson_interval

# Logits that vary by less than this (relative to max(1, their largest magnitude)) carry no class
# decision: float32 alone resolves about 1e-7 of the scale.
CONSTANT_SPREAD = 1e-6
DROP_METHOD = ("Newcombe's hybrid score interval for a difference of paired proportions (1998, method 10): "
               "float and the file are judged on the same images")


def agreement(reference: np.ndarray, candidate: np.ndarray, names: list[str] | None = None,
              labels: dict[str, set[int]] | None = None) -> dict:
    """Top-1/top-5 agreement (with its 95% Wilson interval), mean/min cosine of logits, SQNR (dB),
    and with labels: top-1/top-5 accuracy of both and the drop (label_accuracy).

    top5_agreement: how often the float model's top-1 class is within the candidate's top 5.
    sqnr_db: 10*log10(sum(ref^2) / sum((ref - cand)^2)) over all logits.
    warnings: set when the float model's outputs say nothing (constant_outputs).
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
        out.update(label_accuracy(ref, cand, names, labels))
    out["warnings"] = constant_outputs(ref)
    disagree = [names[i] for i in np.flatnonzero(ref_top1 != cand_top1)] if names else []
    out["disagreements"] = disagree
    return out


def label_accuracy(ref: np.ndarray, cand: np.ndarray, names: list[str], labels: dict[str, set[int]]) -> dict:
    """Top-1/top-5 accuracy of float (reference_*) and the file against the labels, with the drop
    in points (float minus file) and its paired 95% interval (DROP_METHOD)."""
    known = [i for i, n in enumerate(names) if n in labels]
    if not known:
        return {}
    out: dict = {"labelled_samples": len(known), "drop_interval": DROP_METHOD}
    for k in (1, 5):
        r_ok = _correct(ref[known], [labels[names[i]] for i in known], k)
        c_ok = _correct(cand[known], [labels[names[i]] for i in known], k)
        counts = [int(np.sum(r_ok & c_ok)), int(np.sum(r_ok & ~c_ok)), int(np.sum(~r_ok & c_ok)),
                  int(np.sum(~r_ok & ~c_ok))]
        low, high = paired_difference_interval(*counts)
        out.update({f"reference_top{k}_accuracy": float(r_ok.mean()), f"top{k}_accuracy": float(c_ok.mean()),
                    f"reference_top{k}_accuracy_ci95": list(wilson_interval(int(r_ok.sum()), len(known))),
                    f"top{k}_accuracy_ci95": list(wilson_interval(int(c_ok.sum()), len(known))),
                    f"top{k}_drop_points": 100 * (float(r_ok.mean()) - float(c_ok.mean())),
                    f"top{k}_drop_ci95_points": [100 * low, 100 * high],
                    f"top{k}_discordant": {"only_float_right": counts[1], "only_file_right": counts[2]}})
    return out


def _correct(logits: np.ndarray, accepted: list[set[int]], k: int) -> np.ndarray:
    top = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    return np.array([bool(set(t.tolist()) & a) for t, a in zip(top, accepted)], dtype=bool)


AGREEMENT_FIGURES = ("top1_agreement", "top1_agreement_ci95", "top5_agreement", "cosine_mean", "cosine_min",
                     "sqnr_db", "max_abs_diff")


def shown_figures(acc: dict) -> dict:
    """``acc`` (agreement's dict) as reports and tables may show it: without the agreement, cosine
    and SQNR when its warnings say the float model's outputs were constant (random-init weights
    read as 100%, cosine 0 and 125 dB, which say nothing); the warnings stay."""
    if not acc.get("warnings"):
        return acc
    return {k: v for k, v in acc.items() if k not in AGREEMENT_FIGURES}


def constant_outputs(ref: np.ndarray) -> list[str]:
    """A warning when the float model's outputs carry no decision, so agreement says nothing:
    for every image the spread (max - min) of its logits is below CONSTANT_SPREAD of
    max(1, largest |logit|) (e.g. random-init BatchNorm: logits ~1e-17), or every image gets the
    same logits (the model ignores its input). Not checked for one output or one image."""
    if ref.ndim != 2 or ref.shape[1] < 2 or len(ref) == 0:
        return []
    tol = CONSTANT_SPREAD * max(1.0, float(np.abs(ref).max()))
    if float((ref.max(1) - ref.min(1)).max()) <= tol:
        return [f"the float model's outputs are constant across classes on all {len(ref)} images (logit "
                f"spread <= {tol:.2g}): agreement, cosine and SQNR say nothing; are the weights trained?"]
    if len(ref) > 1 and float(np.abs(ref - ref[0]).max()) <= tol:
        return [f"the float model gives the same outputs for all {len(ref)} images: agreement, cosine and "
                "SQNR say nothing; are the weights trained, and is the input preprocessed as the card says?"]
    return []
