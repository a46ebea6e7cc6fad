"""Keras zoo, driven by the registry: every zoo model has a Keras build whose weights come from
its PyTorch build exactly (with BatchNorm, and BN-folded), and both builds export to
full-integer int8 .tflite.

Small inputs (32 px) and two calibration images keep this fast; Xception-65's 16 identical
middle-flow blocks are cut to 1 here (every block type is still built, transferred and
converted). The real-weights MobileNetV2 at 224 px is in test_tflite_export.py.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tensorflow")

from edgekit.data import ImageSet  # noqa: E402
from edgekit.export import EXPORTERS, ExportRequest  # noqa: E402
from edgekit.fold_bn import fold_batchnorm  # noqa: E402
from edgekit.quantize import QuantConfig  # noqa: E402
from edgekit.quantize.prepare import prepare_for_int8  # noqa: E402
from edgekit.zoo import get_model, list_models  # noqa: E402
from edgekit.zoo.keras import KERAS_BUILDERS, to_keras  # noqa: E402
from edgekit.zoo.keras.transfer import TOLERANCE  # noqa: E402

SIZE = 32
ALL = list_models()


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny convs in a process that also runs TF's thread pool: torch's 2 OpenMP threads spin
    against it (5 s of conv2d per model at 32 px with 2 threads, under 1 s with 1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def small(name: str):
    """A random-init zoo model at SIZE px with non-trivial BatchNorm statistics.

    torchvision's init leaves BN at identity, so many models output near-constant logits
    (MobileNetV1: a range of 1e-17) and a relative check would prove nothing.
    """
    torch.manual_seed(0)
    loaded = get_model(name, **({"middle_blocks": 1} if name.startswith("xception") else {}))
    from random_bn import randomize_statistics

    randomize_statistics(loaded.module)
    pre = replace(loaded.card.preprocess, crop=SIZE, resize=SIZE + 4)
    loaded.card = replace(loaded.card, preprocess=pre)
    return loaded


def calibration(n: int = 2) -> ImageSet:
    rng = np.random.default_rng(0)
    return ImageSet(rng.standard_normal((n, 3, SIZE, SIZE)).astype(np.float32), [f"r{i}" for i in range(n)])


def test_every_zoo_model_has_a_keras_twin():
    assert set(ALL) <= set(KERAS_BUILDERS.names())


@pytest.mark.parametrize("name", ALL)
def test_keras_build_and_int8_tflite(name, tmp_path):
    """Transfer exact to 1e-4 of the logit range (with BN and folded); int8 from both builds."""
    exporter = EXPORTERS.get("tflite")
    quant = QuantConfig(samples=2)
    keras_build = to_keras(small(name))  # raises unless the Keras build matches PyTorch
    twin = keras_build.notes["keras_twin"]
    assert keras_build.framework == "keras"
    assert twin["relative_diff"] <= TOLERANCE and twin["logit_range"] > 1e-3, twin
    layer_types = {type(layer).__name__ for layer in keras_build.module.layers}
    assert "BatchNormalization" in layer_types or name.startswith("squeezenet")  # SqueezeNet has no BN
    torch_build = small(name)
    torch_build.module, _ = fold_batchnorm(torch_build.module, torch.randn(1, 3, SIZE, SIZE))
    # the torch route as pipeline.export runs it: the twin of the int8-prepared module
    prepared, prep = prepare_for_int8(torch_build.module, calibration().arrays, torch_build.card.input_shape)
    for loaded, route in ((torch_build, "keras-twin"), (keras_build, "keras")):
        out = tmp_path / route
        out.mkdir()
        extra = {"int8_module": prepared, "int8_preparation": prep} if route == "keras-twin" else {}
        art = exporter.export(ExportRequest(loaded, out, "int8", calibration=calibration(), quant=quant, **extra))
        assert art.meta["conversion"]["route"] == route
        if route == "keras-twin":  # the BN-folded twin, checked the same way
            assert art.meta["conversion"]["keras_twin"]["relative_diff"] <= TOLERANCE
        v = art.meta["inspect"]["verdict"]
        assert v["fully_int8"], (route, v)
        assert v["io_dtypes"] == ["INT8"]
        if not name.startswith("shufflenet"):  # channel shuffles are real transposes
            assert art.meta["inspect"]["transpose_ops"] == 0
