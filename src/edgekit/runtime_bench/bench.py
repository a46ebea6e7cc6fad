"""bench(): measure files, say what each file is (from its sidecar), and the speed ratios."""
from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from typing import Optional

from .measure import BenchConfig, measure, plan, reference_jobs


def bench(paths: list[Path], cfg: BenchConfig, progress: Callable[[str], None] = lambda m: None,
          reference: Optional[tuple[str, Optional[Path]]] = None) -> dict:
    """Time ``paths``; ``reference=(zoo model, weights)`` adds the float PyTorch model as a row."""
    jobs = plan([Path(p) for p in paths], cfg)  # every check before any process starts
    if reference is not None:
        jobs += reference_jobs(reference[0], reference[1], cfg)
    results = measure(jobs, cfg, progress)
    for job, r in zip(jobs, results):
        r["artifact"] = artifact_info(job.path) if job.engine != "torch" else \
            {"model": job.model, "format": "torch", "precision": "fp32", "accuracy": None}
    return {"results": results, "ratios": speed_ratios(results), "config": asdict(cfg)}


def artifact_info(path: Path) -> dict:
    """Model, format, precision and accuracy from the sidecar; a bare file: guessed from its name."""
    from ..export.artifact import Artifact

    art = Artifact.load(path)
    precision = art.precision
    if precision in ("", "unknown"):
        m = re.search(r"(?:^|[_.-])(fp32|fp16|int8|int16x8|f32|bf16)(?:[_.-]|$)", path.name.lower())
        precision = {"f32": "fp32"}.get(m.group(1), m.group(1)) if m else "unknown"
    acc = art.meta.get("accuracy") or {}
    return {"model": art.card.get("name") or path.stem.split("_")[0], "format": art.format, "precision": precision,
            "accuracy": {k: acc.get(k) for k in ("top1_agreement", "top5_agreement", "cosine_mean", "sqnr_db",
                                                 "samples", "engine")} if acc else None}


def speed_ratios(results: list[dict]) -> list[dict]:
    """int8 vs fp32 of the same model, format, engine and thread count: how much faster (p50)."""
    out = []
    key = lambda r: (r["artifact"]["model"], r["artifact"]["format"], r["engine_name"], r["threads"])  # noqa: E731
    fp32 = {key(r): r for r in results if r["artifact"]["precision"] == "fp32"}
    for r in results:
        base = fp32.get(key(r))
        if base is None or r is base or r["artifact"]["precision"] == "fp32":
            continue
        out.append({"format": r["artifact"]["format"], "engine": r["engine_name"], "threads": r["threads"],
                    "baseline": base["file"], "candidate": r["file"],
                    "precision": r["artifact"]["precision"],
                    "baseline_p50_ms": base["stats"]["p50_ms"], "candidate_p50_ms": r["stats"]["p50_ms"],
                    "speedup": base["stats"]["p50_ms"] / r["stats"]["p50_ms"]})
    return out


def result_row(r: dict, first_p50: float | None = None) -> dict:
    """One flat row for tables and reports."""
    s = r["stats"]
    row = {"file": Path(r["file"]).name, "engine": r.get("engine_name") or r["engine"], "threads": r["threads"],
           "precision": (r.get("artifact") or {}).get("precision"), "runs": s["runs"],
           "p50_ms": s["p50_ms"], "p90_ms": s["p90_ms"], "p99_ms": s["p99_ms"], "mean_ms": s["mean_ms"],
           "std_ms": s["std_ms"], "min_ms": s["min_ms"], "max_ms": s["max_ms"], "load_ms": r.get("load_ms"),
           "first_ms": r.get("first_inference_ms"), "peak_rss_mb": r.get("peak_rss_mb"),
           "size_mb": (r.get("file_size_bytes") or 0) / 1e6}
    if first_p50:
        row["vs_first"] = s["p50_ms"] / first_p50
    return row
