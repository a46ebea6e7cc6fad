"""`edgekit validate ARTIFACT --data DIR`: the file vs the float model, standalone."""
from __future__ import annotations

from pathlib import Path

import click

from .common import emit, handle_errors, json_option, progress, table
from .model_options import trust_model_code_option


@click.command("validate")
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--data", type=click.Path(path_type=Path),
              help="Images (folder) or .npy. Default: the photos shipped with edgekit.")
@click.option("--weights", type=click.Path(path_type=Path), help="Float weights, if not the file the sidecar names.")
@click.option("--engine", help="Engine to run the file with (default: the format's usual one).")
@click.option("--threads", default=1, show_default=True)
@trust_model_code_option
@json_option
@handle_errors
def command(artifact, data, weights, engine, threads, trust_model_code, as_json):
    """Compare ARTIFACT's outputs with its float source model on real images."""
    from ..pipeline import validate

    result = validate(artifact, data, weights, engine, threads, trust_code=trust_model_code, progress=progress)
    emit(result, as_json, lambda d: table([d], [
        ("file", "file"), ("top1_agreement", "top-1 agree"), ("top5_agreement", "top-5 agree"),
        ("cosine_mean", "cosine"), ("sqnr_db", "SQNR dB"), ("samples", "images")]))
