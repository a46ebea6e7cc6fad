"""`--target-agreement P --max-slowdown X`: after pure int8, keep the most sensitive layers in float,
a few more at a time, until top-1 agreement with the float model on the evaluation images reaches
P, or the file's p50 at 1 thread exceeds X times the pure-int8 file's (docs/target_agreement.md).

The ranking is measured once, on the calibration images (never the evaluation images the target
is judged on, so the choice of layers is not fitted to the test set), from the pure-int8 ONNX file:
per source layer, the model-output SQNR gain when that layer alone is kept in float
(inspect/onnx_sensitivity.py, what `edgekit explain` shows). Every format uses that one ranking
of source names (QuantConfig.exclude; quantize/exclusions.py maps them to each format's nodes).
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from ..errors import AccuracyGateError, ConfigError, UnsupportedError

STEPS = (1, 2, 4, 8, 16, 32, 64)  # layers kept in float at each try: a re-export costs ~20-25 s
ACCURACY_KEYS = ("samples", "top1_agreement", "top1_agreement_ci95", "top5_agreement", "cosine_mean", "sqnr_db")


@dataclass(frozen=True)
class TargetOptions:
    agreement: float  # 0 < P <= 1: top-1 agreement with float on the evaluation images
    max_slowdown: float = 1.25  # p50 at 1 thread, candidate / pure int8, measured in the same run

    def __post_init__(self) -> None:
        if not 0 < self.agreement <= 1:
            raise ConfigError(f"--target-agreement takes a fraction > 0 and <= 1 (or a percentage, e.g. 97%); "
                              f"got {self.agreement:g}")
        if not self.max_slowdown >= 1.0:
            raise ConfigError(f"--max-slowdown takes a ratio >= 1.0 (1.25: at most 25% slower than pure int8); "
                              f"got {self.max_slowdown:g}")


def check(target: TargetOptions, int8: bool, exporters, precisions_of) -> None:
    """Before any work: a target needs --int8 and formats whose int8 quantizer honours exclusions."""
    if not int8:
        raise ConfigError("--target-agreement applies to int8 files; add --int8")
    for e in exporters:
        cal = e.calibration
        if any(p == "int8" for p in precisions_of[e.format]) and cal is not None and not cal.exclusions:
            raise UnsupportedError(f"--target-agreement: {cal.label} int8 cannot keep layers in float"
                                   + (f" ({cal.no_exclusions_hint})" if cal.no_exclusions_hint else "")
                                   + f"; drop --format {e.format} or --target-agreement")


@dataclass
class Context:
    """What the loop needs from export(): ``build(exporter, precision, out_dir, quant)`` exports and
    validates one file (an Artifact, sidecar saved); ``ranking()`` the source-layer ranking."""

    target: TargetOptions
    build: Callable
    ranking: Callable[[], list[dict]]
    stage: Path
    quant: object
    progress: Callable[[str], None]


def reach(ctx: Context, exporter, precision, art) -> dict:
    """Make ``art`` (a staged pure-int8 file) meet the target; returns its precision_target block,
    ``art`` replaced in place by the chosen file when layers were kept in float."""
    t, say = ctx.target, ctx.progress
    before = _accuracy(art)
    block = {"target": t.agreement, "max_slowdown": t.max_slowdown, "before": before}
    if before["top1_agreement"] >= t.agreement:
        say(f"target: {Path(art.path).name} agrees {_pct(before)} >= {100 * t.agreement:g}% as pure int8")
        return dict(block, met=True, layers=[], after=before, latency=None, steps=[],
                    note="pure int8 meets the target: no layer kept in float, nothing re-timed")
    ranking = ctx.ranking()
    best, steps = None, []
    for k in (s for s in STEPS if s <= len(ranking)):
        layers = ranking[:k]
        where = ctx.stage / f".target-{exporter.format}-{k}"
        where.mkdir()
        say(f"target: {exporter.format} int8 with {k} layer(s) kept in float: {', '.join(l['layer'] for l in layers)}")
        cand = ctx.build(exporter, precision, where, replace(ctx.quant, exclude=tuple(l["layer"] for l in layers)))
        latency = _latency(art.path, cand.path, say)
        acc = _accuracy(cand)
        within = latency["ratio"] <= t.max_slowdown
        steps.append({"layers": k, "top1_agreement": acc["top1_agreement"], "cosine_mean": acc["cosine_mean"],
                      "latency_ratio": latency["ratio"], "within_budget": within})
        say(f"target: {k} layer(s) in float: agreement {_pct(acc)}, p50 {latency['ratio']:.2f}x pure int8")
        if within and (best is None or acc["top1_agreement"] > best[1]["top1_agreement"]):
            best = (cand, acc, latency, layers)
        if not within or acc["top1_agreement"] >= t.agreement:
            break
    met = best is not None and best[1]["top1_agreement"] >= t.agreement
    block.update(steps=steps, met=met, ranked_on=_ranked_on(ranking))
    if best is None:
        block.update(layers=[], after=before, latency={"ratio": steps[0]["latency_ratio"]} if steps else None)
        return block
    cand, acc, latency, layers = best
    block.update(layers=layers, after=acc, latency=latency)
    if met:  # the chosen file takes the pure-int8 file's place (and name) in the staging folder
        for f in cand.files():
            shutil.move(str(f), str(Path(art.path).parent / f.name))
        art.meta = cand.meta
    return block


def failure_line(target: TargetOptions, failed: list[tuple[str, dict]]) -> AccuracyGateError:
    parts = []
    for fmt, b in failed:
        after, lat = b["after"], b.get("latency") or {}
        cost = f" at {lat['ratio']:.2f}x the pure-int8 p50" if lat.get("ratio") else ""
        parts.append(f"{fmt} best {_pct(after)} with {len(b['layers'])} layer(s) in float{cost}")
    return AccuracyGateError(
        f"--target-agreement {100 * target.agreement:g}% not reached within --max-slowdown {target.max_slowdown:g}: "
        + "; ".join(parts) + "; nothing was written: lower --target-agreement, raise --max-slowdown, "
        "or pass more evaluation images (--data)")


def _accuracy(art) -> dict:
    acc = art.meta.get("accuracy") or {}
    return {k: acc.get(k) for k in ACCURACY_KEYS}


def _pct(acc: dict) -> str:
    n = acc.get("samples") or 0
    return f"{100 * acc['top1_agreement']:.1f}% ({round(acc['top1_agreement'] * n)}/{n})"


def _ranked_on(ranking: list[dict]) -> dict:
    return {"images": "calibration (not the evaluation images the target is judged on)",
            "count": ranking[0]["images"] if ranking else 0,
            "by": "model-output SQNR gain when the layer alone is kept in float, pure-int8 ONNX file"}


def _latency(base: Path, cand: Path, say) -> dict:
    """p50 at 1 thread of both files, interleaved rounds in fresh processes, in this run."""
    from ..runtime_bench.bench import bench
    from ..runtime_bench.config import BenchConfig

    cfg = BenchConfig(threads=(1,), warmup_runs=3, warmup_seconds=0.3, min_runs=60, min_seconds=1.5,
                      max_seconds=60, processes=2, keep_times=False)
    res = bench([base, cand], cfg, say).results
    p0, p1 = res[0].stats.p50_ms, res[1].stats.p50_ms
    return {"threads": 1, "pure_int8_p50_ms": p0, "p50_ms": p1, "ratio": p1 / p0,
            "runs": [res[0].stats.runs, res[1].stats.runs], "engine": res[1].engine}


def rank_layers(int8_onnx: Path, float_onnx: Path, calib, samples: int, progress) -> list[dict]:
    """Source layers, most helpful first when kept in float, measured on the calibration images."""
    import onnx

    from ..inspect.onnx_layers import quantized_layers
    from ..inspect.onnx_sensitivity import sensitivity
    from ..quantize.exclusions import onnx_layer_nodes

    q, f = onnx.load(str(int8_onnx)), onnx.load(str(float_onnx))
    f_tensors = {o for n in f.graph.node for o in n.output}
    layers = [l for l in quantized_layers(q) if l["tensor"] in f_tensors]
    arrays = calib.arrays[:samples]
    progress(f"target: ranking {len(layers)} layers by sensitivity on {len(arrays)} calibration images")
    sens = sensitivity(q, f, layers, arrays, input_name=q.graph.input[0].name, progress=progress)
    named = onnx_layer_nodes(f)
    out, seen = [], set()
    for r in sens["ranked"]:
        if r["module"] in named and r["module"] not in seen and r["gain_db"] > 0:
            seen.add(r["module"])
            out.append({"layer": r["module"], "op": r["op"], "sqnr_gain_db": r["gain_db"],
                        "output_sqnr_db": r["sqnr_db"], "calibration_top1_agreement": r["top1_agreement"],
                        "images": int(len(arrays))})
    return out


def reach_all(target: TargetOptions, staged: list, build, stage: Path, folded, calib, quant, progress) -> None:
    """Every staged int8 file brought to the target (its sidecar gets the precision_target block);
    AccuracyGateError, before anything leaves the staging folder, when one cannot be."""
    cache: list = []

    def ranking() -> list[dict]:
        if not cache:
            cache.append(_ranking(staged, build, stage, folded, calib, quant, progress))
        return cache[0]

    ctx = Context(target, build, ranking, stage, quant, progress)
    failed = []
    for exporter, precision, art in staged:
        if precision != "int8":
            continue
        block = reach(ctx, exporter, precision, art)
        art.meta["precision_target"] = block
        art.save_sidecar()
        if not block["met"]:
            failed.append((exporter.format, block))
    if failed:
        raise failure_line(target, failed)


def _ranking(staged, build, stage: Path, folded, calib, quant, progress) -> list[dict]:
    """The ranking from the staged pure-int8 ONNX file (one is made aside when ONNX is not exported)."""
    from ..export import EXPORTERS
    from ..export.base import in_layout
    from ..export.onnx_export import write_fp32_onnx

    onnx_int8 = next((a for e, p, a in staged if e.format == "onnx" and p == "int8"), None)
    where = stage / ".target-ranking"
    where.mkdir()
    if onnx_int8 is None:
        progress("target: exporting a pure-int8 ONNX file to rank the layers")
        onnx_int8 = build(EXPORTERS.get("onnx"), "int8", where, replace(quant, exclude=()))
    nhwc = onnx_int8.meta.get("input_layout") == "NHWC"
    float_onnx = where / "float.onnx"
    write_fp32_onnx(folded, folded.module, float_onnx, nhwc)
    return rank_layers(Path(onnx_int8.path), float_onnx, in_layout(calib, nhwc), quant.samples, progress)
