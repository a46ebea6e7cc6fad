"""`edgekit compare [BASELINE] [CANDIDATE]`: bench runs side by side; exit 1 on a regression."""
from __future__ import annotations

import sys

import click

from . import params
from .common import emit, handle_errors, json_option, progress, table
from .results_options import open_read_db, read_db_option


@click.command("compare")
@click.argument("baseline", default="previous")
@click.argument("candidate", default="latest")
@click.option("--threshold", type=params.GATE, default="10%", show_default=True,
              help="Allowed slow-down before the gate fails, e.g. 5% or 0.05.")
@click.option("--metric", type=click.Choice(["p50", "p90", "p99", "mean", "min"]), default="p50", show_default=True)
@read_db_option
@json_option
@handle_errors
def command(baseline, candidate, threshold, metric, db_path, as_json):
    """Compare two bench runs (ids, labels, 'latest', 'previous'; default: previous vs latest).

    Exit status 1 when any file got slower than the threshold relative to the baseline.
    """
    from ..report.compare import compare_runs

    limit = threshold
    with open_read_db(db_path) as db:
        doc = compare_runs(db, baseline, candidate, limit, f"{metric}_ms")
    emit(doc, as_json, _human)
    if not doc["same_host"]:
        progress(f"warning: the runs come from different hosts ({', '.join(doc['hosts'].values())})")
    if doc["regressions"]:
        worst = max(doc["regressions"], key=lambda r: r["ratio"])
        progress(f"regression: {len(doc['regressions'])} file(s) slower than +{limit:.0%} on {metric} "
                 f"(worst: {worst['file']} {worst['ratio']:.2f}x)")
        sys.exit(1)


def _human(doc: dict) -> str:
    rows = [dict(r, ratio=r["ratio"], flag="SLOWER" if r["regressed"] else ("file changed" if r["file_changed"] else ""))
            for r in doc["rows"]]
    m = doc["metric"].replace("_ms", "")
    out = [f"run {doc['baseline_run']} (baseline) -> run {doc['candidate_run']}, {m}, gate +{doc['threshold']:.0%}",
           table(rows, [("file", "file"), ("engine", "engine"), ("threads", "thr"), ("baseline_ms", f"base {m} ms"),
                        ("candidate_ms", f"new {m} ms"), ("ratio", "new/base"), ("flag", "")])]
    for x in doc["missing"]:
        where = "candidate" if x["missing_in"] == "baseline" else "baseline"
        out.append(f"only in the {where}: {x['file']} ({x['engine']}, {x['threads']} thr)")
    return "\n".join(out)
