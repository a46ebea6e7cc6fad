"""`edgekit validate ARTIFACT --data DIR`: the file vs the float model, standalone."""
from __future__ import annotations

import click

from . import params
from .accuracy_view import accuracy_tables
from .common import emit, handle_errors, json_option, progress
from .model_options import trust_model_code_option


@click.command("validate")
@click.argument("artifact", type=params.MODEL_FILE)
@click.option("--data", type=params.DATA,
              help="Images (folder) or .npy. Default: the photos shipped with edgekit.")
@click.option("--weights", type=params.WEIGHTS_FILE, help="Float weights, if not the file the sidecar names.")
@click.option("--engine", help="Engine to run the file with (default: the format's usual one).")
@click.option("--threads", type=params.THREADS, default=1, show_default=True,
              help="Threads for the engine (at most this machine's cores).")
@trust_model_code_option
@json_option
@handle_errors
def command(artifact, data, weights, engine, threads, trust_model_code, as_json):
    """Compare ARTIFACT's outputs with its float source model on real images."""
    from ..pipeline import validate

    result = validate(artifact, data, weights, engine, threads, trust_code=trust_model_code, progress=progress,
                      contained=True)
    emit(result, as_json, lambda d: accuracy_tables([(d["file"], d)]))
