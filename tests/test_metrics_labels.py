"""The statistics beside agreement: paired interval of the accuracy drop, labels from a folder's
layout, the warning on a float model whose outputs say nothing. Real photos, real weights."""
from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest

from edgekit.data import load_image_set
from edgekit.data.labels import imagenet1k_names
from edgekit.errors import DataError
from edgekit.runtime_bench.intervals import paired_difference_interval, wilson_interval
from edgekit.runtime_bench.metrics import agreement, constant_outputs
from edgekit.zoo.card import Preprocess

SMALL = Preprocess.for_size(32)  # labels and names do not depend on the image size


def test_paired_interval_matches_the_published_example():
    # Fagerland, Lydersen & Laake (2014), Bentur et al. 2009 table (1, 1 / 7, 12): Newcombe's
    # square-and-add interval -0.502 to -0.036 for a difference of -0.286
    low, high = paired_difference_interval(1, 1, 7, 12)
    assert (round(low, 3), round(high, 3)) == (-0.502, -0.036)
    # never agreeing to differ is not certainty: an interval of nonzero width around 0
    low, high = paired_difference_interval(18, 0, 0, 5)
    assert low < 0 < high and high - low > 0.05
    # swapping the two sides mirrors the interval
    a, b = paired_difference_interval(30, 6, 2, 4), paired_difference_interval(30, 2, 6, 4)
    assert a == pytest.approx((-b[1], -b[0]))
    assert wilson_interval(39, 39)[1] == 1.0 and wilson_interval(35, 39)[0] < 35 / 39


def _labelled(photos_dir):
    with open(photos_dir / "labels.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_drop_counts_and_interval_on_real_labels(photos_dir, mobilenet_v2_held_out):
    """The float logits of MobileNetV2 on the held-out photos against themselves with two images
    turned wrong: the drop is exactly those two, in points, and its interval holds it."""
    images, ref = mobilenet_v2_held_out["A"]
    known = [i for i, n in enumerate(images.names) if n in images.labels]
    right = [i for i in known if int(ref[i].argmax()) in images.labels[images.names[i]]]
    assert len(known) >= 20 and len(right) >= 0.6 * len(known), (len(known), len(right))  # measured 18/23
    cand = ref.copy()
    for i in right[:2]:  # the file now calls these two images by the float model's last class
        cand[i, int(ref[i].argmin())] = ref[i].max() + 1
    acc = agreement(ref, cand, images.names, images.labels)
    assert acc["labelled_samples"] == len(known)
    assert acc["reference_top1_accuracy"] == pytest.approx(len(right) / len(known))
    assert acc["top1_drop_points"] == pytest.approx(200 / len(known))
    assert acc["top1_discordant"] == {"only_float_right": 2, "only_file_right": 0}
    low, high = acc["top1_drop_ci95_points"]
    assert low < acc["top1_drop_points"] < high and low < 0.5  # two of ~20 images prove little
    assert acc["reference_top5_accuracy"] >= acc["reference_top1_accuracy"] and acc["warnings"] == []
    assert "Newcombe" in acc["drop_interval"]


def test_class_subfolders_map_through_the_card_class_names(photos_dir, tmp_path):
    rows = _labelled(photos_dir)
    for r in rows:  # DIR/<first accepted ImageNet name>/<photo>
        name = r["accepted_names"].split(" | ")[0].replace(" ", "_")
        (tmp_path / name).mkdir(exist_ok=True)
        shutil.copy(photos_dir / r["file"], tmp_path / name / r["file"].replace("/", "_"))
    s = load_image_set(tmp_path, SMALL, class_names=imagenet1k_names())
    assert s.label_source == "class subfolders" and len(s.labels) == len(rows) == len(s)
    by_file = {r["file"].replace("/", "_"): {int(x) for x in r["accepted_imagenet1k_idx"].split()} for r in rows}
    for n, accepted in s.labels.items():
        assert accepted & by_file[n.split("/")[1]], n  # the folder's class is one the csv accepts
    assert s.origin == str(tmp_path.resolve()) and s.summary()["labels"]["labelled"] == len(rows)
    # a folder whose name is no class of the model: one line naming it and the valid names
    (tmp_path / "not_a_class").mkdir()
    shutil.copy(photos_dir / rows[0]["file"], tmp_path / "not_a_class" / "x.jpg")
    with pytest.raises(DataError, match=r"'not_a_class'.*1000 classes: 'tench'"):
        load_image_set(tmp_path, SMALL, class_names=imagenet1k_names())
    # a trained model's own classes: no folder matches, so no labels and a note why
    s = load_image_set(tmp_path, SMALL, class_names=("shirt", "boot"))
    assert s.labels == {} and "are no class name of the model" in s.label_note


def test_labels_csv_by_class_name_for_a_trained_model(photos_dir, tmp_path):
    for n in ("skimage/chelsea.png", "skimage/coffee.png"):
        (tmp_path / n).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(photos_dir / n, tmp_path / n)
    (tmp_path / "labels.csv").write_text("file,label\nskimage/chelsea.png,Tabby_Cat\nskimage/coffee.png,mug\n")
    s = load_image_set(tmp_path, SMALL, class_names=("mug", "tabby cat"))
    assert s.labels == {"skimage/chelsea.png": {1}, "skimage/coffee.png": {0}}
    with pytest.raises(DataError, match="labelled 'mug', which is not a class of the model"):
        load_image_set(tmp_path, SMALL, class_names=("tabby cat", "dog"))
    # the shipped photos' labels are ImageNet indices: not applied to a model of other classes
    s = load_image_set(photos_dir, SMALL, class_names=("mug", "tabby cat"))
    assert s.labels == {} and "ImageNet-1k" in s.label_note


def test_constant_float_outputs_warn_real_ones_do_not(photos_dir, mobilenet_v2_held_out):
    import torch

    from edgekit.runtime_bench.reference_engine import reference_engine
    from edgekit.zoo import get_model

    torch.manual_seed(0)
    loaded = get_model("mobilenet_v1_0_25")  # torchvision-style init, BatchNorm at identity
    images = load_image_set(photos_dir, loaded.card.preprocess, limit=6)
    logits = reference_engine(loaded).run(images.arrays)
    assert float(np.ptp(logits, axis=1).max()) < 1e-10  # measured ~1e-17
    warning = agreement(logits, logits, images.names)["warnings"]
    assert len(warning) == 1 and "constant" in warning[0] and "trained" in warning[0]
    _, real = mobilenet_v2_held_out["A"]
    assert constant_outputs(real.reshape(len(real), -1).astype(np.float64)) == []
    same = np.tile(real[:1], (4, 1)).astype(np.float64)  # a model that ignores its input
    assert "same outputs for all 4 images" in constant_outputs(same)[0]


def test_class_folders_may_write_a_slash_as_an_underscore(tmp_path):
    """Fashion-MNIST's 'T-shirt/top' cannot be a folder name: 'T-shirt_top' names it."""
    from edgekit.data.labels import read_labels

    names = [f"{folder}/{i}.png" for folder in ("T-shirt_top", "ankle-boot", "Bag") for i in range(2)]
    labels = read_labels(tmp_path, names, ("T-shirt/top", "Trouser", "Bag", "Ankle boot"))
    assert labels.source == "class subfolders"
    assert [sorted(labels.by_name[n]) for n in names] == [[0], [0], [3], [3], [2], [2]]
