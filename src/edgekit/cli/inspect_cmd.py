"""`edgekit inspect FILE`: operators, dtypes, I/O, metadata and whether a file is really int8."""
from __future__ import annotations

from pathlib import Path

import click

from . import params
from .common import emit, handle_errors, json_option, table


@click.command("inspect")
@click.argument("file", type=params.MODEL_FILE)
@json_option
@handle_errors
def command(file, as_json):
    """Show what is inside FILE (.tflite, .onnx, .pte, ncnn .param): ops, dtypes, I/O, metadata, and the int8 verdict."""
    from .._contained import call

    # parsed (protobuf / flatbuffers / ONNX Runtime) in a child process: a file that crashes or
    # hangs a native parser ends that process with one line, not edgekit
    doc = call("edgekit.inspect:inspect_file", str(file), what=f"inspecting '{file}'", timeout=300)
    emit({**doc, **_recorded_accuracy(file)}, as_json, _human)


def _recorded_accuracy(file) -> dict:
    """{"sidecar_accuracy": ...}: what edgekit measured when it exported FILE, if its sidecar says."""
    from ..errors import EdgekitError
    from ..export.artifact import Artifact, sidecar_path

    if not sidecar_path(file).is_file():
        return {}
    try:
        acc = Artifact.load(file).meta.get("accuracy")
    except EdgekitError as exc:
        return {"sidecar_error": str(exc)}
    return {"sidecar_accuracy": acc} if acc else {}


def _human(r: dict) -> str:
    v = r["verdict"]
    lines = [f"{r['file']}  ({r['format']}, {r['size_bytes'] / 1e6:.2f} MB)",
             f"verdict: {v['precision']}{' (fully int8)' if v['fully_int8'] else ''} - {v['summary']}"]
    for kind in ("inputs", "outputs"):
        for t in r[kind]:
            q = t.get("quantization")
            qs = f"  scale {q['scale'][0]:.4g} zero point {q['zero_point'][0]}" if q else ""
            lines.append(f"{kind[:-1]:<7}{t['name']}  {t['shape']}  {t['dtype']}{qs}")
    if "transpose_ops" in r:
        lines.append(f"transpose ops: {r['transpose_ops']}")
    if r["format"] == "tflite":
        gran = ", ".join(f"{k} x{n}" for k, n in r["weight_granularity"].items()) or "-"
        lines.append(f"weight quantization: {gran}")
        if r["custom_ops"]:
            lines.append("custom ops: " + ", ".join(f"{k} x{n}" for k, n in r["custom_ops"].items()))
        md = r["metadata"]["tflite_metadata"]
        if md and "error" not in md:
            lines.append(f"metadata: TFLite Metadata '{md['name']}', {md['labels']} labels, "
                         f"normalization {md['normalization']}, files {md['associated_files']}")
        else:
            lines.append(f"metadata: {'error: ' + md['error'] if md else 'no TFLite Metadata'}"
                         f" (entries: {', '.join(r['metadata']['entries']) or 'none'})")
        rows = _compute_rows(r["compute_ops"])
        if rows:
            lines += ["", table(rows, [("op", "compute op"), ("n", "count"), ("input", "input"),
                                       ("weights", "weights"), ("granularity", "weight scales")])]
        if r["float_ops"]:
            lines.append("ops running in float: " + ", ".join(
                f"{f['op']} ({f['layer']})" for f in r["float_ops"][:10]) + (" ..." if len(r["float_ops"]) > 10 else ""))
    elif "details" in r:  # executorch, ncnn
        lines += r["details"]
    else:
        rt = r.get("runtime") or {}
        if rt.get("error"):
            lines.append(f"runtime view: {rt['error']}")
        st = r["static"]
        lines.append(f"static QDQ view: {st['qdq_compute_ops']} QDQ-wrapped compute ops, "
                     f"{st['float_compute_ops']} float; weight scales {st['weight_granularity'] or '-'}")
    ops = [{"op": k, "n": n} for k, n in r["operators"].items()]
    lines += ["", table(ops, [("op", "operator"), ("n", "count")])]
    dts = ", ".join(f"{k} x{n}" for k, n in r["tensor_dtypes"].items())
    if dts:
        lines.append(f"tensor dtypes: {dts}")
    if r.get("sidecar_accuracy"):
        from .accuracy_view import accuracy_tables

        lines += ["", "measured against the float model when edgekit exported it (sidecar):",
                  accuracy_tables([(Path(r["file"]).name, r["sidecar_accuracy"])])]
    elif r.get("sidecar_error"):
        lines.append(f"sidecar: {r['sidecar_error']}")
    if r.get("precision_target"):
        from .export_cmd import target_lines

        lines += ["", "precision target (sidecar):"] + target_lines({"path": r["file"], "meta": r})
    return "\n".join(lines)


def _compute_rows(compute: list) -> list:
    groups: dict = {}
    for c in compute:
        key = (c["op"], c["input"], c["weights"], c["granularity"])
        groups[key] = groups.get(key, 0) + 1
    return [{"op": k[0], "n": n, "input": k[1], "weights": k[2], "granularity": k[3]} for k, n in groups.items()]
