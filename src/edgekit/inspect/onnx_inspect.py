"""Inspect an .onnx file: operators, tensor dtypes, I/O, and which Conv/Gemm really run int8.

Two views, because a QDQ file says one thing and runs another:
- static (the file): op counts; Conv/Gemm/MatMul whose activation and weight inputs come from
  DequantizeLinear nodes are "QDQ-wrapped" (meant to run int8);
- runtime (ONNX Runtime itself): the graph ORT executes after its own fusions
  (ORT_ENABLE_ALL, CPU provider), saved with ``optimized_model_filepath`` and counted:
  QLinearConv / QGemm / ConvInteger / MatMulInteger / QLinearMatMul run int8, while
  Conv / FusedConv / NCHWc Conv / Gemm / MatMul / FusedGemm / FusedMatMul run in float.
"""
from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

from .._optional import require
from ..errors import ConfigError, one_line

INT8_COMPUTE = ("QLinearConv", "QGemm", "ConvInteger", "MatMulInteger", "QLinearMatMul", "DynamicQuantizeMatMul",
                "MatMulIntegerToFloat", "QAttention")
FLOAT_COMPUTE = ("Conv", "FusedConv", "Gemm", "MatMul", "FusedGemm", "FusedMatMul", "ConvTranspose")
_QDQ_TARGETS = ("Conv", "Gemm", "MatMul", "ConvTranspose")


def inspect_onnx(path, runtime: bool = True) -> dict:
    onnx = require("onnx", extra="onnx")
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"File '{path}' does not exist")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # DecodeError and friends
        raise ConfigError(f"'{path}' is not a readable ONNX model ({one_line(exc)})") from None
    if not model.graph.node:
        raise ConfigError(f"'{path}' is not an ONNX model (no graph nodes)")
    bad = _non_text_field(model)
    if bad:  # protobuf hands back bytes for a string field that is not UTF-8 (a damaged file)
        raise ConfigError(f"'{path}' is a damaged ONNX model: {bad} is not UTF-8 text")
    g = model.graph
    ops = Counter(n.op_type for n in g.node)
    producers = {o: n for n in g.node for o in n.output}
    inits = {i.name: i for i in g.initializer}
    qdq, float_static = 0, []
    for n in g.node:
        if n.op_type not in _QDQ_TARGETS or len(n.input) < 2:
            continue
        src = [producers.get(i) for i in n.input[:2]]
        if all(p is not None and p.op_type == "DequantizeLinear" for p in src):
            qdq += 1
        else:
            float_static.append(n.name or n.op_type)
    dtypes = Counter(_dtype_name(onnx, i.data_type) for i in g.initializer)
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        dtypes[_dtype_name(onnx, vi.type.tensor_type.elem_type)] += 1
    granularity = Counter()
    weight_inputs = {n.input[1] for n in g.node if n.op_type in _QDQ_TARGETS and len(n.input) > 1}
    for n in g.node:
        if n.op_type == "DequantizeLinear" and n.output[0] in weight_inputs and len(n.input) > 1 \
                and n.input[1] in inits:
            granularity["per-channel" if len(inits[n.input[1]].dims) and inits[n.input[1]].dims[0] > 1
                        else "per-tensor"] += 1
    report = {
        "file": str(path), "format": "onnx", "size_bytes": path.stat().st_size,
        "opset": {o.domain or "ai.onnx": o.version for o in model.opset_import},
        "operators": dict(sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))),
        "operator_count": sum(ops.values()),
        "custom_domains": sorted({n.domain for n in g.node if n.domain not in ("", "ai.onnx", "com.microsoft")}),
        "transpose_ops": ops.get("Transpose", 0),
        "tensor_dtypes": dict(dtypes),
        "inputs": [_io(onnx, v) for v in g.input if v.name not in inits],
        "outputs": [_io(onnx, v) for v in g.output],
        "static": {"qdq_compute_ops": qdq, "float_compute_ops": len(float_static),
                   "float_compute_nodes": float_static[:20], "weight_granularity": dict(granularity)},
        "metadata": {p.key: p.value for p in model.metadata_props},
    }
    report["runtime"] = _runtime_view(path) if runtime else None
    report["verdict"] = _verdict(report)
    return report


def _non_text_field(model):
    """The first string field that arrived as bytes, named for the message; else None."""
    g = model.graph
    fields = [("an operator type", n.op_type) for n in g.node] + [("a node name", n.name) for n in g.node]
    fields += [("a domain", n.domain) for n in g.node] + [("a tensor name", t) for n in g.node for t in
                                                          list(n.input) + list(n.output)]
    fields += [("an initializer name", i.name) for i in g.initializer]
    fields += [("a graph input/output name", v.name) for v in list(g.input) + list(g.output) + list(g.value_info)]
    fields += [("a dimension name", d.dim_param) for v in list(g.input) + list(g.output)
               for d in v.type.tensor_type.shape.dim]
    fields += [("an opset domain", o.domain) for o in model.opset_import]
    fields += [("a metadata entry", x) for p in model.metadata_props for x in (p.key, p.value)]
    return next((what for what, v in fields if not isinstance(v, str)), None)


def _runtime_view(path: Path) -> dict:
    """Count the compute ops in the graph ONNX Runtime actually runs (its optimized model)."""
    ort = require("onnxruntime", extra="onnx")
    onnx = require("onnx", extra="onnx")
    with tempfile.TemporaryDirectory(prefix="edgekit-ort-") as td:
        opt = Path(td) / "optimized.onnx"
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.optimized_model_filepath = str(opt)
        so.log_severity_level = 3
        so.intra_op_num_threads = 1
        try:
            ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
            m = onnx.load(str(opt), load_external_data=False)
        except Exception as exc:
            return {"error": f"onnxruntime cannot load it: {one_line(exc)}"}
    ops = Counter(n.op_type for n in m.graph.node)
    int8 = {k: v for k, v in ops.items() if k in INT8_COMPUTE}
    flt = {k: v for k, v in ops.items() if k in FLOAT_COMPUTE}
    return {"onnxruntime": ort.__version__, "int8_compute_ops": int8, "float_compute_ops": flt,
            "operators": dict(sorted(ops.items(), key=lambda kv: (-kv[1], kv[0])))}


def _verdict(r: dict) -> dict:
    rt = r.get("runtime") or {}
    n_int8 = sum((rt.get("int8_compute_ops") or {}).values())
    n_float = sum((rt.get("float_compute_ops") or {}).values())
    static = r["static"]
    if rt and "error" not in rt:
        total = n_int8 + n_float
        fully = total > 0 and n_float == 0
        kind = "int8" if fully else "float32" if n_int8 == 0 and static["qdq_compute_ops"] == 0 else "mixed"
        summary = f"ONNX Runtime runs {n_int8}/{total} compute ops in int8"
        if n_float and n_int8:
            summary += f", {n_float} in float ({', '.join(f'{k} x{v}' for k, v in rt['float_compute_ops'].items())})"
    else:
        total = static["qdq_compute_ops"] + static["float_compute_ops"]
        fully = total > 0 and static["float_compute_ops"] == 0
        kind = "int8 (QDQ)" if fully else "float32" if static["qdq_compute_ops"] == 0 else "mixed"
        summary = f"{static['qdq_compute_ops']}/{total} compute ops are QDQ-wrapped (static view)"
    return {"precision": kind, "fully_int8": fully,
            "io_dtypes": sorted({t["dtype"] for t in r["inputs"] + r["outputs"]}), "summary": summary}


def _io(onnx, v) -> dict:
    t = v.type.tensor_type
    shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim]
    return {"name": v.name, "shape": shape, "dtype": _dtype_name(onnx, t.elem_type), "quantization": None}


def _dtype_name(onnx, code: int) -> str:
    try:
        return onnx.helper.tensor_dtype_to_np_dtype(code).name.upper() if code else "UNDEFINED"
    except Exception:
        return str(code)


