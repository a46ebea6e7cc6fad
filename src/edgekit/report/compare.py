"""Compare two bench runs from the results database, with a regression gate.

Rows are matched by (file name, engine, threads): a re-exported file keeps its name, so
"did mobilenet_v2_int8.tflite get slower since the baseline?" is answered even when its
bytes changed (the row says so). A row regresses when candidate/baseline of the chosen
statistic exceeds 1 + threshold.
"""
from __future__ import annotations

from .db import ResultsDB

METRICS = ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "min_ms")


def compare_runs(db: ResultsDB, baseline: str = "previous", candidate: str = "latest",
                 threshold: float = 0.10, metric: str = "p50_ms") -> dict:
    base_id, cand_id = db.resolve_run(baseline), db.resolve_run(candidate)
    key = lambda r: (r["file_name"], r["engine"], r["threads"])  # noqa: E731
    base = {key(r): r for r in db.bench_rows(base_id)}
    rows, missing = [], []
    for c in db.bench_rows(cand_id):
        b = base.pop(key(c), None)
        if b is None:
            missing.append({"file": c["file_name"], "engine": c["engine"], "threads": c["threads"],
                            "missing_in": "baseline"})
            continue
        ratio = c[metric] / b[metric] if b[metric] else float("inf")
        rows.append({"file": c["file_name"], "engine": c["engine"], "threads": c["threads"],
                     "baseline_ms": b[metric], "candidate_ms": c[metric], "ratio": ratio,
                     "file_changed": b["file_sha256"] != c["file_sha256"],
                     "regressed": ratio > 1 + threshold})
    missing += [{"file": k[0], "engine": k[1], "threads": k[2], "missing_in": "candidate"} for k in base]
    hosts = {run_id: _cpu(db, run_id) for run_id in (base_id, cand_id)}
    return {"baseline_run": base_id, "candidate_run": cand_id, "metric": metric, "threshold": threshold,
            "rows": rows, "missing": missing, "regressions": [r for r in rows if r["regressed"]],
            "same_host": hosts[base_id] == hosts[cand_id], "hosts": hosts}


def _cpu(db: ResultsDB, run_id: int) -> str:
    import json

    run = db.run(run_id) or {}
    host = json.loads(run.get("env_json") or "{}").get("host", {})
    return f"{host.get('cpu_model')} x{host.get('cores')}"
