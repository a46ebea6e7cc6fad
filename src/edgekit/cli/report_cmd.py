"""`edgekit report [--out DIR]`: Markdown and a self-contained HTML page with plots, for a bench run."""
from __future__ import annotations

from pathlib import Path

import click

from .common import emit, handle_errors, json_option, progress
from .results_options import open_read_db, read_db_option


@click.command("report")
@click.option("--run", "run_ref", default="latest", show_default=True, help="A bench run: id, label or 'latest'.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("edgekit-report"), show_default=True)
@read_db_option
@json_option
@handle_errors
def command(run_ref, out_dir, db_path, as_json):
    """Write report.md (+ SVG plots) and report.html for a recorded bench run."""
    from ..report.build import from_db, write_report

    with open_read_db(db_path) as db:
        doc = from_db(db, run_ref)
    progress(f"report: {len(doc['results'])} results from run {doc['run']['id']}")
    written = write_report(doc, out_dir)
    emit(written, as_json, lambda w: "\n".join(f"{k}: {v}" for k, v in w.items()))
