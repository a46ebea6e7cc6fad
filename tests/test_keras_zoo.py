"""Keras zoo, driven by the registry: every zoo model has a Keras twin that reproduces its PyTorch
build exactly (folded or not), and both builds export to full-integer int8 .tflite.

Small inputs (32 px) and two calibration images keep this fast; the real-weights MobileNetV2
at 224 px is in test_tflite_export.py.
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
from edgekit.zoo import get_model, list_models  # noqa: E402
from edgekit.zoo.keras import KERAS_BUILDERS, keras_twin, to_keras  # noqa: E402
from edgekit.zoo.keras.transfer import TOLERANCE  # noqa: E402

SIZE = 32
ALL = list_models()


def small(name: str):
    """A random-init zoo model at SIZE px with non-trivial BatchNorm statistics.

    torchvision's init leaves BN at identity, so many models output near-constant logits
    (MobileNetV1: a range of 1e-17) and a relative check would prove nothing.
    """
    torch.manual_seed(0)
    loaded = get_model(name)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in loaded.module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
                m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.copy_(torch.randn(c, generator=g) * 0.1)
            elif isinstance(m, torch.nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) / m.in_features ** 0.5)
    pre = replace(loaded.card.preprocess, crop=SIZE, resize=SIZE + 4)
    loaded.card = replace(loaded.card, preprocess=pre)
    return loaded


def calibration(n: int = 2) -> ImageSet:
    rng = np.random.default_rng(0)
    return ImageSet(rng.standard_normal((n, 3, SIZE, SIZE)).astype(np.float32), [f"r{i}" for i in range(n)])


def test_every_zoo_model_has_a_keras_twin():
    assert set(ALL) <= set(KERAS_BUILDERS.names())


@pytest.mark.parametrize("name", ALL)
def test_weight_transfer_is_exact(name):
    loaded = small(name)
    unfolded = keras_twin(loaded).report  # raises if not within TOLERANCE
    assert unfolded.relative_diff <= TOLERANCE and unfolded.logit_range > 1e-3
    assert any(type(layer).__name__ == "BatchNormalization" for layer in keras_twin(loaded, check=False).model.layers) \
        == any(isinstance(m, torch.nn.BatchNorm2d) for m in loaded.module.modules())
    loaded.module, _ = fold_batchnorm(loaded.module, torch.randn(1, 3, SIZE, SIZE))
    folded = keras_twin(loaded)
    assert folded.report.relative_diff <= TOLERANCE
    assert not any(type(layer).__name__ == "BatchNormalization" for layer in folded.model.layers)


@pytest.mark.parametrize("name", ALL)
def test_int8_tflite_from_pytorch_and_keras(name, tmp_path):
    exporter = EXPORTERS.get("tflite")
    quant = QuantConfig(samples=2)
    torch_build = small(name)
    torch_build.module, _ = fold_batchnorm(torch_build.module, torch.randn(1, 3, SIZE, SIZE))
    keras_build = to_keras(small(name))
    assert keras_build.framework == "keras"
    for loaded, route in ((torch_build, "keras-twin"), (keras_build, "keras")):
        out = tmp_path / route
        out.mkdir()
        art = exporter.export(ExportRequest(loaded, out, "int8", calibration=calibration(), quant=quant))
        v = art.meta["inspect"]["verdict"]
        assert art.meta["conversion"]["route"] == route
        assert v["fully_int8"], (route, v)
        assert v["io_dtypes"] == ["INT8"]
        if not name.startswith("shufflenet"):  # channel shuffles are real transposes
            assert art.meta["inspect"]["transpose_ops"] == 0
