"""`edgekit models`: the zoo, with parameters and multiply-accumulates per model."""
from __future__ import annotations

import click

from .common import emit, handle_errors, json_option, table


@click.command("models")
@json_option
@handle_errors
def command(as_json):
    """List zoo models with input size, parameters and MACs (Conv2d + Linear, one image)."""
    from ..zoo import MODELS, get_model
    from ..zoo.summary import summarize

    rows = []
    for name, card in MODELS.items():
        s = summarize(get_model(name))
        rows.append({"name": name, "family": card.family, "input": card.preprocess.crop,
                     "params": s["total_params"], "macs": s["total_macs"],
                     "torchvision_keys": card.torchvision_compatible, "classes": card.num_classes})
    emit({"models": rows}, as_json, lambda d: table(d["models"], [
        ("name", "model"), ("family", "family"), ("input", "input"), ("params", "params"),
        ("macs", "MACs"), ("torchvision_keys", "torchvision keys")]))
