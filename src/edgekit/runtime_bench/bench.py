"""bench(): measure files, say what each file is (from its sidecar), and the speed ratios."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional

from .config import BenchConfig
from .measure import measure, plan, reference_jobs
from .result import ArtifactInfo, BenchResult, results_of


@dataclass
class BenchReport:
    """What `edgekit bench` prints: results, int8-vs-fp32 ratios, the config; devices add theirs."""

    results: list[BenchResult]
    ratios: list[dict]
    config: BenchConfig
    errors: Optional[list] = None  # devices: one entry per device that failed
    devices: Optional[dict] = None  # devices: URI -> what the device is
    run_id: Optional[int] = None  # set once recorded in the results database
    db: Optional[str] = None

    def to_dict(self) -> dict:
        out: dict = {"results": [r.to_dict() for r in self.results]}
        if self.errors is not None:
            out.update(errors=self.errors, devices=self.devices)
        out.update(ratios=self.ratios, config=asdict(self.config))
        if self.run_id is not None:
            out.update(run_id=self.run_id, db=self.db)
        return out


def bench(paths: list[Path], cfg: BenchConfig, progress: Callable[[str], None] = lambda m: None,
          reference: Optional[tuple[str, Optional[Path]]] = None) -> BenchReport:
    """Time ``paths``; ``reference=(zoo model, weights)`` adds the float PyTorch model as a row."""
    jobs = plan([Path(p) for p in paths], cfg)  # every check before any process starts
    if reference is not None:
        jobs += reference_jobs(reference[0], reference[1], cfg)
    docs = measure(jobs, cfg, progress)
    for job, doc in zip(jobs, docs):
        art = artifact_info(job.path) if job.engine != "torch" else ArtifactInfo(job.model, "torch", "fp32")
        doc["artifact"] = art.to_dict()
    results = results_of(docs)
    return BenchReport(results, speed_ratios(results), cfg)


def artifact_info(path: Path) -> ArtifactInfo:
    """Model, format, precision and accuracy from the sidecar; a bare file: guessed from its name."""
    from ..export.artifact import Artifact

    art = Artifact.load(path)
    precision = art.precision
    if precision in ("", "unknown"):
        m = re.search(r"(?:^|[_.-])(fp32|fp16|int8|int16x8|f32|bf16)(?:[_.-]|$)", path.name.lower())
        precision = {"f32": "fp32"}.get(m.group(1), m.group(1)) if m else "unknown"
    acc = art.meta.get("accuracy") or {}
    return ArtifactInfo(art.card.get("name") or path.stem.split("_")[0], art.format, precision,
                        {k: acc.get(k) for k in ACCURACY_KEYS if k in acc or k in ACCURACY_KEYS[:6]} if acc else None)


# what a bench result carries of the sidecar's accuracy (runtime_bench.metrics.agreement); the first
# six always (None when absent), the others when measured
ACCURACY_KEYS = ("top1_agreement", "top5_agreement", "cosine_mean", "sqnr_db", "samples", "engine",
                 "top1_agreement_ci95", "labelled_samples", "reference_top1_accuracy", "top1_accuracy",
                 "top1_drop_points", "top1_drop_ci95_points", "reference_top5_accuracy", "top5_accuracy", "top5_drop_points",
                 "top5_drop_ci95_points", "warnings")


def speed_ratios(results, by_device: bool = False) -> list[dict]:
    """int8 vs fp32 of the same model, format, engine and thread count (and device): how much faster.

    p50 when both have it, else the mean (benchmark_model prints no percentiles)."""
    results = [r for r in results_of(results) if r.artifact]
    out = []

    def key(r: BenchResult):
        return (r.where if by_device else None, r.artifact.model, r.artifact.format, r.engine, r.threads)

    fp32 = {key(r): r for r in results if r.artifact.precision == "fp32"}
    for r in results:
        base = fp32.get(key(r))
        if base is None or r is base or r.artifact.precision == "fp32":
            continue
        stat = "p50_ms" if base.stats.p50_ms is not None and r.stats.p50_ms is not None else "mean_ms"
        b, c = getattr(base.stats, stat), getattr(r.stats, stat)
        row = {"model": r.artifact.model, "format": r.artifact.format, "engine": r.engine, "threads": r.threads, "baseline": base.file,
               "candidate": r.file, "precision": r.artifact.precision}
        if by_device:
            out.append({"device": r.where, **row, "statistic": stat, "baseline_ms": b, "candidate_ms": c,
                        "speedup": b / c})
        else:
            out.append({**row, "baseline_p50_ms": b, "candidate_p50_ms": c, "speedup": b / c})
    return out


def result_row(r: BenchResult, first_p50: float | None = None) -> dict:
    """One flat row for tables and reports."""
    r = BenchResult.of(r)
    s = r.stats
    row = {"file": Path(r.file).name, "engine": r.engine, "threads": r.threads,
           "precision": r.artifact.precision if r.artifact else None, "runs": s.runs,
           "p50_ms": s.p50_ms, "p90_ms": s.p90_ms, "p99_ms": s.p99_ms, "mean_ms": s.mean_ms,
           "std_ms": s.std_ms, "min_ms": s.min_ms, "max_ms": s.max_ms, "load_ms": r.load_ms,
           "first_ms": r.first_inference_ms, "peak_rss_mb": r.peak_rss_mb, "size_mb": (r.file_size_bytes or 0) / 1e6}
    if first_p50:
        row["vs_first"] = s.p50_ms / first_p50
    return row
