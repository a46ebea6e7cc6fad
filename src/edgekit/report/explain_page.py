"""`edgekit explain ... --report DIR`: the per-layer story of one model's int8 files side by side,
as Markdown, one SVG plot (SQNR along depth, one line per file) and one self-contained HTML page.

Layers are matched by their source name (the torch module path), which explain gives every
format alike; the x axis is the network order of the first file."""
from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Optional

from .._files import atomic_path, ensure_writable_dir

FILES = {"md": "explain.md", "html": "explain.html", "plot": "sqnr_along_depth.svg"}


def file_labels(docs: list[dict]) -> list[str]:
    """Each file's name in the comparison: its format, or its file name when formats repeat."""
    formats = [d["format"] for d in docs]
    return [f if formats.count(f) == 1 else Path(d["file"]).name for f, d in zip(formats, docs)]


def by_layer(docs: list[dict]) -> list[dict]:
    """One row per source layer, in the first file's order (then any layer only later files have):
    its op and each file's SQNR and cosine (None where that file has no such layer)."""
    labels = file_labels(docs)
    order: list[str] = []
    rows: dict[str, dict] = {}
    for label, d in zip(labels, docs):
        for layer in d["layers"]:
            key = layer["module"] or "(model)"
            if key not in rows:
                order.append(key)
                rows[key] = {"module": key, "op": layer["op"], "sqnr_db": {}, "cosine": {}}
            rows[key]["sqnr_db"][label] = layer.get("sqnr_db")
            rows[key]["cosine"][label] = layer.get("cosine")
    return [rows[k] for k in order]


def comparison_table(docs: list[dict]) -> tuple[list[dict], list[tuple[str, str]]]:
    """Flat rows and (key, header) columns for a text table: SQNR per file, and the spread."""
    labels = file_labels(docs)
    flat = []
    for row in by_layer(docs):
        values = [v for v in row["sqnr_db"].values() if _finite(v)]
        flat.append({"module": row["module"], "op": row["op"], **{f"sqnr:{l}": row["sqnr_db"].get(l) for l in labels},
                     "spread": (max(values) - min(values)) if len(values) > 1 else None})
    cols = [("module", "layer (source)"), ("op", "op")] + [(f"sqnr:{l}", f"{l} SQNR dB") for l in labels]
    return flat, cols + [("spread", "spread dB")]


def summary_lines(docs: list[dict], within_db: float = 3.0) -> list[str]:
    """Per file: median SQNR and model-output figures; across files: layers within ``within_db``
    of the first file's SQNR."""
    labels = file_labels(docs)
    lines = []
    for label, d in zip(labels, docs):
        s, out = d["summary"], d["model_output"]
        line = f"{label}: {s['measured']}/{s['layers']} layers measured, median SQNR {s['median_sqnr_db']:.1f} dB"
        if out.get("sqnr_db") is not None:
            line += (f"; model output SQNR {out['sqnr_db']:.2f} dB, cosine {out['cosine_mean']:.4f}, "
                     f"top-1 agreement {out['top1_agreement']:.1%} ({out['samples']} images)")
        lines.append(line)
    rows = by_layer(docs)
    for label in labels[1:]:
        pairs = [(r["sqnr_db"].get(labels[0]), r["sqnr_db"].get(label)) for r in rows]
        pairs = [(a, b) for a, b in pairs if _finite(a) and _finite(b)]
        close = sum(abs(a - b) <= within_db for a, b in pairs)
        lines.append(f"{label} vs {labels[0]}: {close}/{len(pairs)} layers within {within_db:g} dB")
    return lines


def sqnr_figure(docs: list[dict]):
    """SQNR along depth, one line per file; the model output's SQNR as a dashed line of its colour."""
    from .plots import COLORS, _figure

    rows = by_layer(docs)
    labels = file_labels(docs)
    fig = _figure(max(8.0, 0.12 * len(rows) + 3), 4.6)
    ax = fig.add_subplot()
    for label, d in zip(labels, docs):
        color = COLORS.get(d["format"])
        xs = [i for i, r in enumerate(rows) if _finite(r["sqnr_db"].get(label))]
        ax.plot(xs, [rows[i]["sqnr_db"][label] for i in xs], marker=".", linewidth=1.2, label=label, color=color)
        out = d["model_output"].get("sqnr_db")
        if _finite(out):
            ax.axhline(out, linestyle="--", linewidth=0.8, color=color or "#555")
    step = max(1, math.ceil(len(rows) / 40))
    ax.set_xticks(range(0, len(rows), step), [rows[i]["module"] for i in range(0, len(rows), step)],
                  rotation=90, fontsize=6)
    ax.set_ylabel("SQNR against float (dB)")
    ax.set_xlabel("quantized layer, in network order (source name)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, title="dashed: model output", title_fontsize=7)
    ax.set_title("Per-layer SQNR along depth")
    return fig


def write_explain_report(docs: list[dict], out_dir: Path) -> dict:
    """explain.md, sqnr_along_depth.svg and explain.html in ``out_dir``; every text is made
    before any file is written, each written to a temp file and renamed."""
    from .plots import data_uri, to_svg

    out_dir = ensure_writable_dir(Path(out_dir))
    svg = to_svg(sqnr_figure(docs))
    texts = {FILES["plot"]: svg, FILES["md"]: _markdown(docs), FILES["html"]: _html(docs, data_uri(svg))}
    for name, text in texts.items():
        with atomic_path(out_dir / name) as tmp:
            tmp.write_text(text)
    return {k: str(out_dir / v) for k, v in FILES.items()}


def _title(docs: list[dict]) -> str:
    return "edgekit explain: " + ", ".join(Path(d["file"]).name for d in docs)


def _evaluation_line(docs: list[dict]) -> str:
    ev = docs[0]["evaluation"]
    return (f"evaluation: {ev['count']} images from {ev['origin']} ({ev['chosen_by']}), never the calibration "
            "images; SQNR and cosine of each quantized layer's output against the float file's matching tensor")


def _markdown(docs: list[dict]) -> str:
    rows, cols = comparison_table(docs)
    lines = [f"# {_title(docs)}", "", _evaluation_line(docs), ""] + [f"- {l}" for l in summary_lines(docs)]
    lines += ["", f"![SQNR along depth]({FILES['plot']})", "",
              "| " + " | ".join(h for _, h in cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(r.get(k)) for k, _ in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _html(docs: list[dict], plot_uri: str) -> str:
    from .html import STYLE

    e = html.escape
    rows, cols = comparison_table(docs)
    parts = ["<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
             f"<title>{e(_title(docs))}</title><style>{STYLE}</style></head><body>",
             f"<h1>{e(_title(docs))}</h1>", f"<p class='env'>{e(_evaluation_line(docs))}</p><ul>"]
    parts += [f"<li>{e(l)}</li>" for l in summary_lines(docs)]
    parts += ["</ul><h2>SQNR along depth</h2>",
              f"<img class='plot' id='plot-sqnr' alt='SQNR along depth' src='{plot_uri}'>",
              "<h2>Layer by layer</h2><div class='scroll'><table><thead><tr>"
              + "".join(f"<th>{e(h)}</th>" for _, h in cols) + "</tr></thead><tbody>"]
    parts += ["<tr>" + "".join(f"<td>{e(_cell(r.get(k)))}</td>" for k, _ in cols) + "</tr>" for r in rows]
    parts += ["</tbody></table></div>", "</body></html>"]
    return "\n".join(parts)


def _cell(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.1f}" if math.isfinite(v) else str(v)
    return str(v)


def _finite(v: Optional[float]) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)
