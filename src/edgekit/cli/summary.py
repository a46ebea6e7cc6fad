"""`edgekit summary MODEL`: per-layer output shapes, parameters and MACs, with totals."""
from __future__ import annotations

import click

from .common import emit, handle_errors, json_option
from .model_options import model_options, resolve_model


@click.command("summary")
@click.argument("model")
@model_options
@json_option
@handle_errors
def command(model, as_json, **model_kw):
    """Per-layer table like Keras' model.summary(). MACs count Conv2d and Linear only."""
    from ..zoo.summary import format_summary_table, summarize

    loaded = resolve_model(model, **model_kw)
    s = summarize(loaded)
    s["counted"] = "multiply-accumulates of Conv2d (incl. grouped/depthwise) and Linear, batch 1; " \
                   "BatchNorm, activations, pooling and additions are not counted"
    emit(s, as_json, format_summary_table)
