"""What a sweep ends with: one table over the matrix (a row per file, a latency column per
device) and the report document for report.build.write_report."""
from __future__ import annotations

import time
from pathlib import Path


def table_rows(plan, results: list[dict], failures: list[dict]) -> tuple[list[dict], list[str]]:
    """(rows, devices): per (model, format, precision, threads) the latency on each device, or FAILED."""
    from ..runtime_bench.metrics import shown_figures
    from ..runtime_bench.result import BenchResult

    by_key = {r["sweep"]["key"]: BenchResult.of(r) for r in results}
    failed = {f["key"]: f for f in failures}
    devices = list(plan.devices)
    rows, index = [], {}
    for b in plan.benches:
        ident = (b.export.model.name, b.export.format, b.precision, b.threads)
        if ident not in index:
            index[ident] = {"model": b.export.model.name, "format": b.export.format, "precision": b.precision,
                            "threads": b.threads}
            rows.append(index[ident])
        row, r = index[ident], by_key.get(b.key)
        if r is not None:
            acc = shown_figures((r.artifact.accuracy or {}) if r.artifact else {})
            row["constant_outputs"] = row.get("constant_outputs") or bool(acc.get("warnings"))
            row.setdefault("top1", acc.get("top1_agreement"))
            for key, name in (("top1_ci95", "top1_agreement_ci95"), ("cosine", "cosine_mean"), ("sqnr_db", "sqnr_db")):
                row.setdefault(key, acc.get(name))
            row.setdefault("size_mb", (r.file_size_bytes or 0) / 1e6 or None)
            p50 = r.stats.p50_ms
            row[b.device] = f"{p50:.4g}" if p50 is not None else f"{r.stats.mean_ms:.4g}*"
        elif b.key in failed:
            row[b.device] = "FAILED"
    return rows, devices


def report_doc(run_id: int, results: list[dict], label) -> dict:
    from ..runtime_bench.bench import speed_ratios
    from ..runtime_bench.result import bench_environment

    title = f"edgekit sweep (run {run_id})" + (f": {label}" if label else "")
    return {"title": title, "results": results, "env": bench_environment(results),
            "ratios": speed_ratios(results, by_device=True),
            "run": {"id": run_id, "kind": "sweep", "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
            "plots": ["accuracy_by_device", "size"]}


def write(run_id: int, results: list[dict], label, out_dir: Path) -> dict:
    from ..report.build import write_report

    return write_report(report_doc(run_id, results, label), Path(out_dir) / "report")
