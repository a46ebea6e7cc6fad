"""`edgekit history`: what the results database holds (runs; one run's rows with --run)."""
from __future__ import annotations

import json

import click

from . import params
from .common import emit, handle_errors, json_option, table
from .results_options import open_read_db, read_db_option


@click.command("history")
@click.option("--limit", type=params.COUNT, default=20, show_default=True, help="Newest runs to list.")
@click.option("--kind", type=click.Choice(["bench", "export", "validate", "run"]), help="Only runs of this kind.")
@click.option("--run", "run_ref", help="Show one run's rows (an id, a label, 'latest').")
@read_db_option
@json_option
@handle_errors
def command(limit, kind, run_ref, db_path, as_json):
    """List recorded exports, validations and benchmarks with their environment."""
    with open_read_db(db_path) as db:
        if run_ref is None:
            runs = db.runs(limit, kind)
            for r in runs:
                r["env"] = json.loads(r.pop("env_json"))
            emit({"db": str(db.path), "runs": runs}, as_json, _runs_table)
            return
        run_id = db.resolve_run(run_ref) if not run_ref.isdigit() else int(run_ref)
        run = db.run(run_id)
        if run is None:
            from ..errors import ConfigError

            raise ConfigError(f"No run {run_id} in '{db.path}'. See `edgekit history`")
        run["env"] = json.loads(run.pop("env_json"))
        bench = [{k: v for k, v in r.items() if k != "result_json"} for r in db.bench_rows(run_id)]
        exports = [{k: v for k, v in r.items() if k != "meta_json"} for r in db.export_rows(run_id)]
        emit({"run": run, "benchmarks": bench, "exports": exports}, as_json, _run_detail)


def _runs_table(doc: dict) -> str:
    rows = [{"id": r["id"], "when": r["created_at"].replace("+00:00", "Z"), "kind": r["kind"], "label": r["label"],
             "bench": r["benchmarks"], "exports": r["exports"], "valid": r["validations"],
             "cpu": (r["env"].get("host") or {}).get("cpu_model"), "command": (r["command"] or "")[:60]}
            for r in doc["runs"]]
    if not rows:
        return f"no runs recorded yet in {doc['db']}"
    cols = [("id", "id"), ("when", "when (UTC)"), ("kind", "kind"), ("label", "label"), ("bench", "bench"),
            ("exports", "exports"), ("valid", "validations"), ("cpu", "cpu"), ("command", "command")]
    return table(rows, cols) + f"\n({doc['db']})"


def _run_detail(doc: dict) -> str:
    run, host = doc["run"], doc["run"]["env"].get("host") or {}
    out = [f"run {run['id']} ({run['kind']}) at {run['created_at']}: {run['command'] or ''}",
           f"host: {host.get('cpu_model')}, {host.get('cores')} cores, {host.get('os')}; "
           f"edgekit {run['edgekit_version']}; runtimes {run['env'].get('runtimes', {})}"]
    if doc["exports"]:
        out.append(table(doc["exports"], [("file_name", "file"), ("format", "format"), ("precision", "precision"),
                                          ("file_size_bytes", "bytes"), ("file_sha256", "sha256")]))
    if doc["benchmarks"]:
        out.append(table(doc["benchmarks"], [("file_name", "file"), ("engine", "engine"), ("threads", "thr"),
                                             ("runs", "runs"), ("p50_ms", "p50 ms"), ("p90_ms", "p90 ms"),
                                             ("p99_ms", "p99 ms"), ("peak_rss_mb", "peak MB"),
                                             ("runtime_version", "runtime")]))
    return "\n".join(out)
