"""Build a report from bench results: rows, plots, then Markdown (+ SVG files) and one HTML page."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from .._files import atomic_path, ensure_writable_dir
from ..errors import ConfigError

FILES = {"md": "report.md", "html": "report.html"}
PLOTS = {"latency": "latency.svg", "accuracy": "accuracy_vs_latency.svg",
         "accuracy_by_device": "accuracy_vs_latency_by_device.svg", "size": "size.svg"}
DEFAULT_PLOTS = ("latency", "accuracy", "size")


def report_rows(results: list, accuracy_by_sha: Optional[dict] = None) -> list[dict]:
    """Flat rows: latency stats, memory, size, format/precision and top-1 agreement with float."""
    from ..runtime_bench.bench import result_row
    from ..runtime_bench.metrics import shown_figures
    from ..runtime_bench.result import ArtifactInfo, results_of

    accuracy_by_sha = accuracy_by_sha or {}
    rows = []
    for r in results_of(results):
        art = r.artifact or ArtifactInfo(None, None, None)
        acc = shown_figures(accuracy_by_sha.get(r.model_sha256) or art.accuracy or {})
        row = result_row(r)
        row.update(format=art.format, precision=art.precision, model=art.model,
                   top1_agreement=acc.get("top1_agreement"), cosine=acc.get("cosine_mean"),
                   accuracy_samples=acc.get("samples"), times_ms=r.times_ms, runtime_version=r.runtime_version,
                   device=r.where, **{k: acc.get(k) for k in ("top1_agreement_ci95", "sqnr_db", "top1_accuracy",
                                                              "top1_drop_points", "top1_drop_ci95_points")})
        if art.format == "torch":
            row["top1_agreement"] = 1.0  # the float reference itself
        elif acc.get("warnings"):  # shown_figures left its agreement out: say why in the report
            row["accuracy_warning"] = acc["warnings"][0]
        rows.append(row)
    return rows


def from_db(db, run_ref: str = "latest") -> dict:
    """Everything a report needs about one bench run, from the results database."""
    run_id = db.resolve_run(run_ref)
    run = db.run(run_id)
    results = [json.loads(b["result_json"]) for b in db.bench_rows(run_id)]
    accuracy = {}
    for r in results:
        v = db.latest_validation(r.get("model_sha256") or "")
        if v:
            accuracy[r["model_sha256"]] = json.loads(v["result_json"])
    return {"title": f"edgekit run {run_id} ({run['kind']})", "results": results, "accuracy": accuracy,
            "env": json.loads(run["env_json"]), "run": {k: run[k] for k in ("id", "kind", "created_at", "label",
                                                                           "command")},
            "ratios": _ratios(results)}


def _ratios(results: list[dict]) -> list[dict]:
    from ..runtime_bench.bench import speed_ratios

    return speed_ratios(results)


def write_report(doc: dict, out_dir: Path) -> dict:
    """doc: title, results, accuracy (sha -> validation), env, run, ratios, and optionally
    "plots" (names in PLOTS; a sweep asks for accuracy_by_device). Returns the paths written."""
    from . import html, markdown, plots

    if not doc.get("results"):
        raise ConfigError("Nothing to report: the run has no benchmark results")
    out_dir = ensure_writable_dir(Path(out_dir))
    rows = report_rows(doc["results"], doc.get("accuracy"))
    makers = {"latency": plots.latency_distribution, "accuracy": plots.accuracy_vs_latency,
              "accuracy_by_device": plots.accuracy_vs_latency_by_device, "size": plots.size_by_format}
    figs = {k: makers[k](rows) for k in doc.get("plots") or DEFAULT_PLOTS}
    svgs = {k: plots.to_svg(f) for k, f in figs.items() if f is not None}
    texts = {PLOTS[k]: svg for k, svg in svgs.items()}  # every text is made before any file is written
    texts[FILES["md"]] = markdown.render(doc, rows, {k: PLOTS[k] for k in svgs})
    texts[FILES["html"]] = html.render(doc, rows, {k: plots.data_uri(s) for k, s in svgs.items()})
    for name, text in texts.items():  # temp file, then rename: a full disk never leaves half a file
        with atomic_path(out_dir / name) as tmp:
            tmp.write_text(text)
    return {**{k: str(out_dir / PLOTS[k]) for k in svgs}, **{k: str(out_dir / v) for k, v in FILES.items()}}
