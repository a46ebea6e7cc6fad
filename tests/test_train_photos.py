"""The issue's real-photo case: `edgekit train mobilenet_v2 --weights <torchvision checkpoint>
--data DIR` on 208 labelled real photos in 5 classes (Tux Paint's photo stamps, see
tuxpaint_photos.py), then `edgekit export --int8 --format tflite`: the .tflite carries the
class names and classifies the held-out photos (the training run's own validation split).

CI scale: the backbone frozen (`--freeze-backbone`), 96 px, 5 epochs.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from tuxpaint_photos import CLASSES, available, write_folder

pytest.importorskip("torch")
pytest.importorskip("tensorflow")
pytestmark = pytest.mark.skipif(not available(), reason="apt-get install tuxpaint-stamps-default "
                                "(scripts/system_packages.sh installs it)")
SIZE = 96


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory, mobilenet_v2_weights):
    root = tmp_path_factory.mktemp("photos_train")
    data = write_folder(root / "photos")
    ckpt = root / "mnv2_photos.pt"
    proc = run_cli("train", "mobilenet_v2", "--weights", mobilenet_v2_weights, "--data", data, "--out", ckpt,
                   "--input-size", SIZE, "--epochs", 5, "--freeze-backbone", "--lr", "3e-3", "--json", timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    trained = json.loads(proc.stdout)
    proc = run_cli("export", "mobilenet_v2", "--weights", ckpt, "--int8", "--format", "tflite", "--calib", data,
                   "--out", root / "out", "--no-record", "--json", timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return data, trained, json.loads(proc.stdout)


def test_int8_tflite_carries_labels_and_classifies_held_out_photos(finetuned):
    from edgekit.formats.tflite_metadata import read_metadata
    from edgekit.runtime_bench.engines import open_engine
    from edgekit.train import read_labelled_folder, split_train_val
    from edgekit.zoo.card import Preprocess
    from edgekit.train.augment import model_inputs

    data, trained, exported = finetuned
    assert trained["classes"] == sorted(CLASSES)
    int8 = next(Path(a["path"]) for a in exported["artifacts"] if a["precision"] == "int8")
    assert read_metadata(int8.read_bytes())["labels"] == sorted(CLASSES)
    pre = Preprocess.for_size(SIZE)
    _, val = split_train_val(read_labelled_folder(data, pre.resize), 0.2)  # the run's held-out photos
    assert len(val) == trained["split"]["val"]["count"] == 42
    engine = open_engine(int8, threads=1)
    try:
        predicted = engine.run(model_inputs(val.images, pre).numpy()).argmax(1)
    finally:
        engine.close()
    accuracy = float(np.mean(predicted == val.labels))
    print(f"int8 .tflite on {len(val)} held-out photos: top-1 {accuracy:.4f} (float val top-1 {trained['val_top1']:.4f})")
    # Measured here (AMD EPYC): float 34/42, int8 33/42.  On the CI machine (another CPU) the same seeded run
    # trained to float 28/42 and int8 27/42: a 5-epoch head on 166 photos lands a few photos apart
    # on another CPU's float kernels, so an absolute int8 floor tuned here failed there.  What the
    # test promises is (a) training learned (chance 20%, the largest class 31%; 50% = 21/42 leaves
    # 7 photos under CI's figure) and (b) the shipped int8 file keeps the float model's accuracy
    # on held-out photos: at most 4 photos lower (measured: 1 lower on both machines).
    assert trained["val_top1"] >= 0.5, trained["val_top1"]
    assert accuracy >= trained["val_top1"] - 4 / 42 - 1e-9, (accuracy, trained["val_top1"])
