"""Several fresh processes per file, their timed runs pooled into one result.

One process is one sample of memory layout: its median moves more than runs within it do
(docs/decisions.md, "Several processes per file"). The minimums are split over the
processes, so the pooled result still has >= min_runs and >= min_seconds.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import replace
from pathlib import Path

from .runner import latency_stats


def per_process_config(cfg):
    """The share of cfg's minimums (and its cap) each of cfg.processes processes runs."""
    k = cfg.processes
    if k == 1:
        return cfg
    return replace(cfg, min_runs=math.ceil(cfg.min_runs / k), min_seconds=cfg.min_seconds / k,
                   max_seconds=cfg.max_seconds / k, keep_times=True)  # pooling needs every time


def pool(results: list[dict], keep_times: bool = True) -> dict:
    """One result from the same job's results in several processes (runner.py's schema, plus
    "processes", "per_process" and "process_spread" = (max - min) / median of the processes'
    medians). Latency stats over every timed run of every process; load,
    first-inference and import times: the median process; peak memory: the largest process."""
    if len(results) == 1:
        out = dict(results[0])
        out["processes"] = 1
        return out
    out = dict(results[0])
    times = [t for r in results for t in r["times_ms"]]
    out["stats"] = latency_stats(times)
    for key in ("load_ms", "first_inference_ms", "import_ms"):
        values = [r[key] for r in results if r.get(key) is not None]
        out[key] = statistics.median(values) if values else None
    rss = [r["peak_rss_mb"] for r in results if r.get("peak_rss_mb") is not None]
    out["peak_rss_mb"] = max(rss) if rss else None
    out["warmup_runs"] = sum(r.get("warmup_runs", 0) for r in results)
    out["processes"] = len(results)
    p50s = [r["stats"]["p50_ms"] for r in results]
    out["process_spread"] = (max(p50s) - min(p50s)) / statistics.median(p50s)  # the machine's steadiness
    out["per_process"] = [{"p50_ms": r["stats"]["p50_ms"], "runs": r["stats"]["runs"], "load_ms": r.get("load_ms"),
                           "first_inference_ms": r.get("first_inference_ms"), "peak_rss_mb": r.get("peak_rss_mb")}
                          for r in results]
    if keep_times:
        out["times_ms"] = times
    else:
        out.pop("times_ms", None)
    return out


UNSTEADY = 0.05  # process_spread above this: warn that the machine's speed moved during the run


def unsteady_note(results: list[dict]) -> str | None:
    """One line when some file's processes disagreed by more than UNSTEADY, else None."""
    worst = max(results, key=lambda r: r.get("process_spread") or 0.0, default=None)
    if worst is None or (worst.get("process_spread") or 0.0) <= UNSTEADY:
        return None
    p50s = [p["p50_ms"] for p in worst["per_process"]]
    return (f"note: the {len(p50s)} processes' medians for {Path(worst.get('file', '?')).name} differ by "
            f"{100 * worst['process_spread']:.0f}% ({min(p50s):.3g}-{max(p50s):.3g} ms): this machine's speed was "
            f"not steady; for steadier figures raise --processes or --min-seconds, or quiet the machine")
