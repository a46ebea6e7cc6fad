"""torchvision's real MobileNetV2 checkpoint loads strictly and reproduces the reference top-1."""
from __future__ import annotations

import csv

import torch

from edgekit.data import load_image_set
from edgekit.zoo import get_model


def test_torchvision_checkpoint_loads_strictly_and_matches_reference(mobilenet_v2_weights, photos_dir):
    loaded = get_model("mobilenet_v2", mobilenet_v2_weights)
    images = load_image_set(photos_dir, loaded.card.preprocess)
    with torch.no_grad():
        top1 = loaded.module(torch.from_numpy(images.arrays)).argmax(1).tolist()
    with open(photos_dir / "reference_mobilenet_v2.csv", newline="") as f:
        ref = {r["file"]: int(r["mobilenet_v2_float_top1_idx"]) for r in csv.DictReader(f)}
    matches = sum(ref[n] == t for n, t in zip(images.names, top1))
    assert len(images) == len(ref) == 78
    assert matches / len(ref) >= 0.98, f"{matches}/{len(ref)}"
