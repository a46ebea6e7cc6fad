"""Keras twins of the zoo: every zoo architecture built in Keras (NHWC), weights copied from
its PyTorch build exactly and checked numerically.

    twin = keras_twin(loaded)          # LoadedModel (torch) -> KerasTwin(model, report)
    kloaded = to_keras(loaded)         # LoadedModel with framework="keras"

The twin is built by walking the PyTorch module itself (layers.py + one module per
family), so hyperparameters (width, classes, output stride) always match, and a folded
module (BatchNorm already in the convs) gives a twin without BatchNormalization layers.
Importing this package does not import TensorFlow; building a twin does.
"""
from __future__ import annotations

import importlib
import warnings
from dataclasses import dataclass

from ...errors import UnsupportedError
from .registry import KERAS_BUILDERS, register_twin

_FAMILIES = ["mobilenet_v1", "mobilenet_v2", "mobilenet_v3", "squeezenet",
             "shufflenet_v2", "shufflenet_v1", "xception"]
for _family in _FAMILIES:
    importlib.import_module(f"{__name__}.{_family}")


@dataclass
class KerasTwin:
    model: object  # keras.Model, NHWC input (None, H, W, 3)
    report: object  # transfer.TwinReport


def has_twin(name: str) -> bool:
    return name in KERAS_BUILDERS


def keras_twin(loaded, check: bool = True) -> KerasTwin:
    """Build the Keras twin of a torch LoadedModel of the zoo and copy its weights exactly."""
    from ..._optional import import_tf
    from .transfer import check_twin, transfer_weights

    name = loaded.card.name
    if name not in KERAS_BUILDERS:
        raise UnsupportedError(
            f"'{name}' has no Keras twin (zoo models have one: {', '.join(KERAS_BUILDERS.names())})"
        )
    import_tf()  # keras' backend, imported quietly
    kmodel = KERAS_BUILDERS.get(name)(loaded.module.eval(), loaded.card.preprocess.crop, name=name)
    report = transfer_weights(loaded.module, kmodel)
    if check:
        check_twin(loaded.module, kmodel, loaded.card.input_shape, report)
    return KerasTwin(kmodel, report)


def to_keras(loaded, keras_weights=None):
    """The Keras build of a zoo LoadedModel (BatchNorm kept), as a LoadedModel (framework "keras").

    Weights come from the torch model (exact transfer), or from ``keras_weights``
    (a ``.weights.h5`` / ``.keras`` file saved from this Keras build).
    """
    from dataclasses import replace

    from ..._files import sha256
    from ...errors import WeightsError

    twin = keras_twin(loaded, check=keras_weights is None)
    notes = {"keras_twin": twin.report.to_dict()}
    weights, digest = loaded.weights_path, loaded.weights_sha256
    if keras_weights is not None:
        try:
            with warnings.catch_warnings():  # one "skipping container" warning per layer on a mismatch
                warnings.simplefilter("ignore")
                twin.model.load_weights(str(keras_weights))
        except Exception as exc:  # keras raises ValueError/OSError/KeyError for bad files
            raise WeightsError(f"Cannot load Keras weights '{keras_weights}' into {loaded.card.name}: "
                               f"{str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__}") from None
        weights, digest = str(keras_weights), sha256(keras_weights)
        notes = {"keras_weights": str(keras_weights)}
    return replace(loaded, module=twin.model, framework="keras", weights_path=weights,
                   weights_sha256=digest, notes={**loaded.notes, **notes})


__all__ = ["KERAS_BUILDERS", "KerasTwin", "has_twin", "keras_twin", "register_twin", "to_keras"]
