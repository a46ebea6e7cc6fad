"""Options shared by commands that take a model: a zoo name, a user's file, or module:factory."""
from __future__ import annotations

from pathlib import Path

import click

from .common import parse_triple


trust_model_code_option = click.option(
    "--trust-model-code", "trust_model_code", is_flag=True,
    help="Load model files that hold code (TorchScript, pickled modules, Keras Lambda layers, SavedModels) "
         "and run that code. Only for files whose source you trust.")


def model_options(fn):
    opts = [
        click.option("--weights", type=click.Path(path_type=Path), help="Local state_dict/checkpoint (.pth/.pt)."),
        click.option("--input-size", type=int, help="Square input size (user models; zoo: override)."),
        click.option("--mean", help="Per-channel mean on the 0-255 scale, e.g. 127,127,127."),
        click.option("--std", help="Per-channel std on the 0-255 scale, e.g. 128,128,128."),
        click.option("--resize", type=int, help="Resize the shorter side to this before the centre crop."),
        click.option("--color", type=click.Choice(["RGB", "BGR"]), help="Channel order the model expects."),
        click.option("--num-classes", type=int, help="Number of output classes (user models)."),
        trust_model_code_option,
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def resolve_model(spec: str, weights=None, input_size=None, mean=None, std=None, resize=None,
                  color=None, num_classes=None, trust_model_code=False, **_ignored):
    """Return a LoadedModel for a zoo name or a user's model; never downloads."""
    from ..zoo.resolve import load_model

    return load_model(spec, weights, input_size, parse_triple(mean, "--mean"), parse_triple(std, "--std"), resize,
                      color, num_classes, trust_code=trust_model_code)
