"""The float model behind an exported file, rebuilt from its sidecar; the zoo model to time beside it."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Optional

from ..errors import TRUST_HINT, ConfigError, UntrustedCodeError


def reload_source(artifact, weights: Optional[Path] = None, trust_code: bool = False):
    """The float model an artifact was exported from, as its sidecar records it. A sidecar is
    data from wherever the file came from: a model file it names is loaded as safely as one on
    the command line, and a ``module:factory`` it names is imported only with ``trust_code``."""
    from ..zoo import get_model
    from ..zoo.user_model import load_user_model

    src = artifact.source
    spec = src.get("user_model") or src.get("model")
    if not artifact.card or not spec:
        raise ConfigError(f"'{artifact.path}' has no edgekit sidecar naming its float model; "
                          "validate files exported by edgekit, or re-export them")
    if src.get("user_model") and src.get("framework") == "keras":  # a user's .keras/.h5/SavedModel
        from ..zoo.keras.user_model import load_keras_user_model

        return load_keras_user_model(spec, artifact.model_card, trust_code=trust_code)
    if src.get("user_model"):
        if src.get("user_model_kind") in ("factory", "paddle_factory") and not trust_code:
            raise UntrustedCodeError(
                f"'{artifact.path}' was exported from {spec}; its float model is rebuilt by importing and "
                f"calling that factory, which the sidecar names: {TRUST_HINT}")
        return load_user_model(spec, artifact.model_card, trust_code=trust_code)
    w = weights or src.get("weights")
    loaded = get_model(spec, Path(w) if w else None, num_classes=artifact.model_card.num_classes)
    return replace(loaded, card=artifact.model_card)


def zoo_reference(loaded) -> Optional[tuple[str, Optional[str]]]:
    """(zoo name, weights) to time the float PyTorch model as it was loaded, or None when the
    model is not a zoo model as the zoo builds it (a user's model, a Keras build, new preprocessing)."""
    from ..zoo import MODELS

    plain = (loaded.framework == "torch" and loaded.card.family != "user" and loaded.card.name in MODELS
             and not loaded.notes.get("user_model") and not loaded.notes.get("preprocess_overridden"))
    return (loaded.card.name, loaded.weights_path) if plain else None
