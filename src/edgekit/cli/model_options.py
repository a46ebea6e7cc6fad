"""Options shared by commands that take a model: a zoo name, a user's file, or module:factory."""
from __future__ import annotations

import re
from pathlib import Path

import click

from . import params


trust_model_code_option = click.option(
    "--trust-model-code", "trust_model_code", is_flag=True,
    help="Load model files that hold code (TorchScript, pickled modules, Keras Lambda layers, SavedModels) "
         "and run that code. Only for files whose source you trust.")


def model_options(fn):
    opts = [
        click.option("--weights", type=params.WEIGHTS_FILE, help="Local state_dict/checkpoint (.pth/.pt)."),
        click.option("--input-size", type=params.PIXELS, help="Square input size (user models; zoo: override)."),
        click.option("--mean", type=params.MEAN, help="Per-channel mean on the 0-255 scale, e.g. 127,127,127."),
        click.option("--std", type=params.STD, help="Per-channel std on the 0-255 scale, e.g. 128,128,128."),
        click.option("--resize", type=params.PIXELS, help="Resize the shorter side to this before the centre crop."),
        click.option("--color", type=click.Choice(["RGB", "BGR"]), help="Channel order the model expects."),
        click.option("--num-classes", type=params.CLASSES, help="Number of output classes (user models)."),
        trust_model_code_option,
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def is_user_model(spec: str) -> bool:
    return Path(spec).suffix in (".pt", ".pt2", ".pth", ".jit", ".ts") or bool(
        re.fullmatch(r"[\w.]+:\w+", spec))


def resolve_model(spec: str, weights=None, input_size=None, mean=None, std=None, resize=None,
                  color=None, num_classes=None, trust_model_code=False, **_ignored):
    """Return a LoadedModel for a zoo name or a user's model; never downloads."""
    from dataclasses import replace

    from ..zoo import MODELS, get_model
    from ..zoo.card import Preprocess

    from ..zoo.keras.user_model import is_keras_model_path

    if spec not in MODELS and is_keras_model_path(spec):  # .keras / .h5 / SavedModel directory
        from ..zoo.keras.user_model import load_keras_user_model
        from ..zoo.user_model import card_from_options

        card = card_from_options(
            name=Path(spec).stem or Path(spec).name, input_size=input_size or 224,
            mean=mean, std=std, resize=resize, color=color or "RGB", num_classes=num_classes,
        )
        return load_keras_user_model(spec, card, trust_code=trust_model_code)
    if is_user_model(spec) and spec not in MODELS:
        from ..zoo.user_model import card_from_options, load_user_model

        card = card_from_options(
            name=Path(spec.split(":")[-1]).stem, input_size=input_size,
            mean=mean, std=std, resize=resize, color=color or "RGB", num_classes=num_classes,
        )
        return load_user_model(spec, card, trust_code=trust_model_code)
    loaded = get_model(spec, weights, **({"num_classes": num_classes} if num_classes is not None else {}))
    pre = loaded.card.preprocess
    changes = {}
    if input_size is not None:
        changes.update(crop=input_size, resize=resize if resize is not None else round(input_size / 0.875))
    elif resize is not None:
        changes.update(resize=resize)
    if mean is not None:
        changes["mean"] = mean
    if std is not None:
        changes["std"] = std
    if color:
        changes["color"] = color
    if changes:
        loaded.card = replace(loaded.card, preprocess=replace(pre, **changes))
        loaded.notes["preprocess_overridden"] = sorted(changes)
    return loaded
