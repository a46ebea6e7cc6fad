"""A file that surely disagrees with its float model gets a warning naming `edgekit explain`;
a small evaluation set whose interval still reaches 90% does not (pipeline.low_agreement_warning).
The case behind it: ShuffleNetV1 g2 (trained on Fashion-MNIST) as OpenVINO int8 agreed with float
on 17 of 200 images, and export said nothing (docs/TRAINING.md, "Accuracy table")."""
from __future__ import annotations

from edgekit.pipeline import low_agreement_warning
from edgekit.runtime_bench.intervals import wilson_interval


def _acc(agree: int, n: int) -> dict:
    return {"top1_agreement": agree / n, "samples": n, "top1_agreement_ci95": list(wilson_interval(agree, n))}


def test_a_broken_file_is_named_with_the_command_that_finds_the_layer():
    line = low_agreement_warning("out/shufflenet_v1_g2_int8.xml", _acc(17, 200))
    assert line.startswith("warning: shufflenet_v1_g2_int8.xml") and "8.5% of 200" in line
    assert "edgekit explain out/shufflenet_v1_g2_int8.xml" in line and "\n" not in line


def test_few_images_or_good_agreement_say_nothing():
    assert low_agreement_warning("a.onnx", _acc(10, 12)) is None  # interval 55-95%: could be fine
    assert low_agreement_warning("a.onnx", _acc(37, 39)) is None
    assert low_agreement_warning("a.onnx", {}) is None  # no figure, no claim
    assert low_agreement_warning("a.onnx", _acc(150, 200)) is not None  # 75%, interval 69-81%
