"""The report's three plots, as SVG: latency distribution per file, accuracy vs latency, size
per format and precision. matplotlib's object API (no pyplot): no global state, no display."""
from __future__ import annotations

import base64
import io
from typing import Optional

from .._optional import require

COLORS = {"onnx": "#1f77b4", "tflite": "#ff7f0e", "openvino": "#2ca02c", "torch": "#7f7f7f"}
MARKERS = {"fp32": "o", "fp16": "s", "int8": "^", "int16x8": "D"}


def _figure(width: float, height: float):
    require("matplotlib", extra="report")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def to_svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})  # no date: same data, same bytes
    return buf.getvalue()


def data_uri(svg: str) -> str:
    """An <img> source: each plot keeps its own SVG ids, and the page stays one file."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def label(row: dict) -> str:
    return f"{row['file']} [{row['engine']}, {row['threads']}t]"


def latency_distribution(rows: list[dict]):
    """Box per file (whiskers p1-p99, p50 line) over every timed run; sorted by median."""
    rows = sorted((r for r in rows if r.get("times_ms")), key=lambda r: r["p50_ms"], reverse=True)
    fig = _figure(9, 1.2 + 0.45 * max(len(rows), 1))
    ax = fig.add_subplot()
    if rows:
        box = ax.boxplot([r["times_ms"] for r in rows], orientation="horizontal", whis=(1, 99),
                         showfliers=False, patch_artist=True, widths=0.6)
        for patch, r in zip(box["boxes"], rows):
            patch.set_facecolor(COLORS.get(r["format"], "#9467bd"))
            patch.set_alpha(0.75)
        ax.set_yticks(range(1, len(rows) + 1), [label(r) for r in rows], fontsize=8)
    ax.set_xlabel("latency per inference (ms); box p25-p75, line p50, whiskers p1-p99")
    ax.set_xlim(left=0)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("Latency distribution per file")
    return fig


def accuracy_vs_latency(rows: list[dict]) -> Optional[object]:
    rows = [r for r in rows if r.get("top1_agreement") is not None]
    if not rows:
        return None
    fig = _figure(9, 4.5)
    ax = fig.add_subplot()
    for r in rows:
        ax.scatter(r["p50_ms"], 100 * r["top1_agreement"], s=90, color=COLORS.get(r["format"], "#9467bd"),
                   marker=MARKERS.get(r["precision"], "o"), edgecolor="black", linewidth=0.5)
        ax.annotate(f"{r['format']} {r['precision']}", (r["p50_ms"], 100 * r["top1_agreement"]),
                    textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xlabel("p50 latency (ms), lower is better")
    ax.set_ylabel("top-1 agreement with float (%)")
    ax.set_xlim(left=0)
    lowest = min(100 * r["top1_agreement"] for r in rows)
    ax.set_ylim(min(lowest - 5, 90), 101)
    ax.grid(alpha=0.3)
    ax.set_title("Accuracy vs latency (held-out real images)")
    return fig


def accuracy_vs_latency_by_device(rows: list[dict]) -> Optional[object]:
    """One panel per device (a sweep): each point a file (model, format by colour, precision by
    marker). x: p50, or the mean where the tool reports no percentiles (benchmark_model)."""
    rows = [r for r in rows if r.get("top1_agreement") is not None and (r.get("p50_ms") or r.get("mean_ms"))]
    devices = sorted({r.get("device") or "this host" for r in rows})
    if not rows:
        return None
    fig = _figure(9, 3.6 * len(devices))
    axes = fig.subplots(len(devices), 1, squeeze=False)[:, 0]
    lowest = min(100 * r["top1_agreement"] for r in rows)
    for ax, device in zip(axes, devices):
        mine = [r for r in rows if (r.get("device") or "this host") == device]
        means = any(r.get("p50_ms") is None for r in mine)
        for r in mine:
            x, y = r.get("p50_ms") or r["mean_ms"], 100 * r["top1_agreement"]
            ax.scatter(x, y, s=60, color=COLORS.get(r["format"], "#9467bd"), marker=MARKERS.get(r["precision"], "o"),
                       edgecolor="black", linewidth=0.5)
            ax.annotate(r.get("model") or r["file"], (x, y), textcoords="offset points", xytext=(4, 3), fontsize=6)
        ax.set_xscale("log")
        ax.set_xlabel("mean latency (ms; no percentiles from this tool)" if means else "p50 latency (ms)")
        ax.set_ylabel("top-1 agreement (%)")
        ax.set_ylim(min(lowest - 5, 90), 101)
        ax.grid(alpha=0.3)
        ax.set_title(device, fontsize=10)
    handles = [ax.scatter([], [], color=c, marker="o", label=f) for f, c in COLORS.items() if f != "torch"]
    handles += [ax.scatter([], [], color="white", edgecolor="black", marker=m, label=p) for p, m in MARKERS.items()]
    axes[0].legend(handles=handles, fontsize=7, ncol=len(handles), loc="lower left")
    fig.suptitle("Accuracy vs latency per device (top-1 agreement with float on held-out real images)")
    return fig


def size_by_format(rows: list[dict]):
    """Grouped bars: one group per format, one bar per precision (largest file of each pair)."""
    sizes: dict[tuple[str, str], float] = {}
    for r in rows:
        if r.get("size_mb"):
            sizes[(r["format"], r["precision"])] = max(r["size_mb"], sizes.get((r["format"], r["precision"]), 0))
    formats = sorted({f for f, _ in sizes})
    precisions = sorted({p for _, p in sizes}, key=lambda p: list(MARKERS).index(p) if p in MARKERS else 99)
    fig = _figure(7, 3.8)
    ax = fig.add_subplot()
    width = min(0.8 / max(len(precisions), 1), 0.3)
    for i, p in enumerate(precisions):
        xs = [j + i * width for j, f in enumerate(formats) if (f, p) in sizes]
        ys = [sizes[(f, p)] for f in formats if (f, p) in sizes]
        bars = ax.bar(xs, ys, width, label=p, color=["#4c72b0", "#dd8452", "#55a868", "#c44e52"][i % 4])
        ax.bar_label(bars, fmt="%.1f", fontsize=8)
    ax.set_xticks([j + width * (len(precisions) - 1) / 2 for j in range(len(formats))], formats)
    ax.set_ylabel("file size (MB)")
    ax.legend(title="precision")
    ax.set_title("Size per format and precision")
    return fig
