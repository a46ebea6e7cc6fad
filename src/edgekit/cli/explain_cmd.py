"""`edgekit explain FILE`: each quantized layer of an int8 file against its float sibling."""
from __future__ import annotations

from pathlib import Path

import click

from . import params
from .accuracy_view import interval
from .common import emit, handle_errors, json_option, progress, table


@click.command("explain")
@click.argument("files", nargs=-1, required=True, type=params.MODEL_FILE)
@click.option("--data", type=params.DATA,
              help="Evaluation images (folder or .npy), never the calibration images. "
                   "Default: the held-out images the file's sidecar records.")
@click.option("--threads", type=params.THREADS, default=1, show_default=True, help="Threads for the runtime (ONNX Runtime, LiteRT, OpenVINO).")
@click.option("--sensitivity/--no-sensitivity", default=True, show_default=True,
              help="ONNX: also run the file once per layer with that layer alone kept in float.")
@click.option("--report", "report_dir", type=click.Path(path_type=Path), default=None,
              help="Also write explain.md, explain.html and sqnr_along_depth.svg (SQNR along depth, "
                   "one line per file) into this folder.")
@json_option
@handle_errors
def command(files, data, threads, sensitivity, report_dir, as_json):
    """Per-layer SQNR and cosine of an int8 FILE made by edgekit against the float file beside it,
    each layer named by the torch module it came from, in network order. Several FILES (the
    ONNX, TFLite and OpenVINO files of one model) are also compared layer by layer."""
    from .._contained import call
    from .._files import ensure_writable_dir

    if report_dir is not None:
        ensure_writable_dir(report_dir)  # before minutes of work, not after
    docs = []
    for file in files:
        progress(f"explain: running {file} and its float sibling layer by layer (in a process of its own)")
        docs.append(call("edgekit.pipeline.explain:explain_file", str(file), str(data or ""), str(threads),
                         "1" if sensitivity else "0", what=f"explaining '{file}'", timeout=1800))
    written = None
    if report_dir is not None:
        from ..report.explain_page import write_explain_report

        written = write_explain_report(docs, report_dir)
        progress(f"explain: report in {written['html']}")
    if len(docs) == 1:
        emit({**docs[0], **({"report": written} if written else {})}, as_json, _human)
    else:
        from ..report.explain_page import by_layer

        doc = {"files": docs, "by_layer": by_layer(docs), **({"report": written} if written else {})}
        emit(doc, as_json, _human_several)


def _human_several(d: dict) -> str:
    from ..report.explain_page import comparison_table, summary_lines

    rows, cols = comparison_table(d["files"])
    parts = [_human(doc) for doc in d["files"]]
    return "\n\n".join(parts + ["layer by layer (SQNR dB against float):\n" + table(rows, cols)
                                 + "\n" + "\n".join(summary_lines(d["files"]))])


def _human(d: dict) -> str:
    ev, out, s = d["evaluation"], d["model_output"], d["summary"]
    rows = []
    for l in d["layers"]:
        q = l["output_quantization"]
        rows.append({"module": l["module"] or "(model)", "op": l["op"], "sqnr": l.get("sqnr_db"),
                     "cos": l.get("cosine"), "scale": q and q["scale"], "zp": q and q["zero_point"],
                     "range": q and f"{q['range'][0]:.3g}..{q['range'][1]:.3g}",
                     "weights": l["weights"] and f"{l['weights']['dtype']} {l['weights']['granularity']}"})
    head = [f"{d['file']} vs {d['float_file']}",
            f"evaluation: {ev['count']} images from {ev['origin']} ({ev['chosen_by']}); "
            f"calibration: {d['calibration'].get('count', '?')} other images"
            + ("" if ev.get("calibration_overlap_checked") else
               " (calibration folder not found: overlap checked by the set's name hash only)"),
            ""]
    tail = ["", f"{s['measured']}/{s['layers']} layers measured; median SQNR {s['median_sqnr_db']:.1f} dB; "
                f"lowest: {', '.join(s['lowest'])}"]
    if out.get("sqnr_db") is not None:
        tail.append(f"model output (sidecar, {out['samples']} images): SQNR {out['sqnr_db']:.2f} dB, "
                    f"cosine {out['cosine_mean']:.4f}, top-1 agreement {out['top1_agreement']:.1%}"
                    + (f" (95% CI {interval(out['top1_agreement_ci95'])})" if out.get("top1_agreement_ci95") else ""))
    layer_table = table(rows, [("module", "layer (torch module)"), ("op", "op"), ("sqnr", "SQNR dB"),
                               ("cos", "cosine"), ("scale", "out scale"), ("zp", "zero pt"),
                               ("range", "out range"), ("weights", "weights")])
    return "\n".join(head + [layer_table] + tail + _sensitivity_lines(d.get("sensitivity"), ev["count"]))


def _sensitivity_lines(sens, n: int, top: int = 10) -> list[str]:
    if not sens:
        return []
    from ..runtime_bench.intervals import wilson_interval

    base, three = sens["int8"], sens["top3_together"]

    def ci(agree: float) -> str:
        return f" (95% CI {interval(wilson_interval(round(agree * n), n))})"

    rows = [{"module": r["module"] or "(model)", "op": r["op"], "sqnr": r["sqnr_db"], "gain": r["gain_db"],
             "agree": f"{r['top1_agreement']:.1%}"} for r in sens["ranked"][:top]]
    return ["", f"sensitivity: one layer kept in float, model output against the float file "
                f"(as shipped: SQNR {base['sqnr_db']:.2f} dB, top-1 agreement {base['top1_agreement']:.1%}"
                f"{ci(base['top1_agreement'])}); "
                f"top {len(rows)} of {len(sens['ranked'])}:",
            table(rows, [("module", "layer kept in float"), ("op", "op"), ("sqnr", "output SQNR dB"),
                         ("gain", "gain dB"), ("agree", "top-1 agree")]),
            (f"top 3 kept in float together ({', '.join(three['modules'])}): SQNR {three['sqnr_db']:.2f} dB, "
             f"top-1 agreement {three['top1_agreement']:.1%}{ci(three['top1_agreement'])}" if three
             else "top 3 kept in float together: the graph edit failed") + "; every layer in float: "
            + (f"{sens['all_float']['sqnr_db']:.1f} dB (the edit's own floor)" if sens.get("all_float")
               else "the graph edit failed")] + (
        [f"not ranked ({len(sens['not_editable'])}; this graph cannot take the float edit there): "
         + ", ".join(sens["not_editable"][:8]) + (" ..." if len(sens["not_editable"]) > 8 else "")]
        if sens.get("not_editable") else [])
