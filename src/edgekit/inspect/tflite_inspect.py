"""Inspect any .tflite file: operators, tensor dtypes, I/O, metadata, and "is it really int8?".

The flatbuffer is read with the schema code that ships with ai-edge-litert (or TensorFlow),
never by creating an interpreter, so files with custom operators, delegates' ops or ops
this runtime lacks are reported instead of failing.

What counts:
- compute ops: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, TRANSPOSE_CONV, BATCH_MATMUL,
  CONV_3D; for each, the activation input type, the weight type (a constant, or the
  float16 constant behind a DEQUANTIZE in fp16-weight files) and the weight quantization
  granularity (per-channel = more than one scale).
- float ops: any op other than QUANTIZE / DEQUANTIZE with a float input or output that
  is not a constant: these run in float even in an "int8" file (converter fallback).
- layers kept float on purpose (``--exclude`` at export, recorded in the sidecar): when every
  float op is one the sidecar names, the verdict is "int8 with float layers" and lists them;
  any other float op makes it "mixed". The file's ops decide; the sidecar only names the intent.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Optional, Union

from ..errors import ConfigError
from ..formats.tflite import enum_names, load_model, operator_names, schema
from ..formats.tflite_metadata import METADATA_NAME, read_metadata

COMPUTE_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "BATCH_MATMUL", "CONV_3D")
BOUNDARY_OPS = ("QUANTIZE", "DEQUANTIZE")
FLOAT_TYPES = ("FLOAT32", "FLOAT16", "FLOAT64", "BFLOAT16")


def inspect_tflite(source: Union[str, Path, bytes], label: Optional[str] = None,
                   kept_float: Optional[dict] = None) -> dict:
    """Everything `edgekit inspect` reports about a .tflite file, as a JSON-able dict.

    ``kept_float``: {name asked: [{"op", "layer", "node"}]}, the ops the export kept float on
    purpose (quantize/tflite_int8.py); for a file on disk, read from its sidecar when there is one.
    """
    if isinstance(source, (bytes, bytearray)):
        data, label = bytes(source), label or "<bytes>"
    else:
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"File '{path}' does not exist")
        data, label = path.read_bytes(), label or str(path)
        if kept_float is None:
            kept_float = _recorded_kept_float(path)
    model = load_model(data, label)
    try:
        return _inspect(model, data, label, kept_float or {})
    except ConfigError:
        raise
    except Exception as exc:  # offsets pointing outside the file, etc.
        raise ConfigError(f"'{label}' is a corrupt TFLite flatbuffer ({type(exc).__name__}: {exc})") from None


def _recorded_kept_float(path: Path) -> dict:
    """The ops the sidecar beside ``path`` says were kept float (quantization.kept_float)."""
    sidecar = path.with_name(path.name + ".edgekit.json")
    try:
        kept = json.loads(sidecar.read_text(encoding="utf-8"))["meta"]["quantization"]["kept_float"]
        return {str(k): [{"layer": str(op["layer"]), "node": str(op["node"])} for op in v] for k, v in kept.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def source_layer(output: str, weight: str = "") -> str:
    """The source layer of an op, as `edgekit explain` names it: from its output tensor's name, or
    its weights' for an output without a scope (the graph output "Identity"); a PAD counts as
    the layer it pads for."""
    from .tflite_layers import module_of

    return module_of(output if "/" in output or not weight else weight).removesuffix("_pad")


def _inspect(model, data: bytes, label: str, kept_float: dict) -> dict:
    type_names = enum_names(schema().TensorType)
    codes = operator_names(model)

    buffer_has_data = {}

    def is_const(tensor) -> bool:
        b = tensor.Buffer()
        if b <= 0 or b >= model.BuffersLength():
            return False
        if b not in buffer_has_data:
            buf = model.Buffers(b)
            buffer_has_data[b] = buf.DataLength() > 0 or (buf.Size() or 0) > 0
        return buffer_has_data[b]

    ops: Counter = Counter()
    dtypes: Counter = Counter()
    compute, float_ops, custom = [], [], Counter()
    granularity: Counter = Counter()
    for s in range(model.SubgraphsLength()):
        sg = model.Subgraphs(s)
        tensors = [sg.Tensors(i) for i in range(sg.TensorsLength())]
        ttype = [type_names.get(t.Type(), str(t.Type())) for t in tensors]
        const = [is_const(t) for t in tensors]
        for t in ttype:
            dtypes[t] += 1
        dequantized_from = {}  # tensor index -> type of the constant a DEQUANTIZE read (fp16 weights)
        for o in range(sg.OperatorsLength()):
            op = sg.Operators(o)
            idx = op.OpcodeIndex()
            name = codes[idx] if 0 <= idx < len(codes) else f"OPCODE_{idx}"
            ops[name] += 1
            ins = [i for i in op.InputsAsNumpy().tolist() if i >= 0] if op.InputsLength() else []
            outs = [i for i in op.OutputsAsNumpy().tolist() if i >= 0] if op.OutputsLength() else []
            if name.startswith("CUSTOM:"):
                custom[name[7:]] += 1
            if name == "DEQUANTIZE" and ins and const[ins[0]]:
                for out in outs:
                    dequantized_from[out] = ttype[ins[0]]
                continue
            if name in COMPUTE_OPS and len(ins) >= 2:
                w = ins[1]
                q = tensors[w].Quantization()
                nscale = q.ScaleLength() if q is not None else 0
                gran = "per-channel" if nscale > 1 else "per-tensor" if nscale == 1 else "none"
                granularity[gran] += 1
                compute.append({"op": name, "subgraph": s, "index": o, "input": ttype[ins[0]],
                                "weights": dequantized_from.get(w, ttype[w]), "granularity": gran,
                                "output": _name(tensors[outs[0]]) if outs else ""})
            if name in BOUNDARY_OPS or name.startswith("CUSTOM:"):
                continue
            live = [i for i in ins if not const[i] and i not in dequantized_from] + outs
            if any(ttype[i] in FLOAT_TYPES for i in live):
                out = _name(tensors[outs[0]]) if outs else ""
                module = source_layer(out, _name(tensors[ins[1]]) if len(ins) > 1 else "")
                float_ops.append({"op": name, "subgraph": s, "index": o, "output": out, "layer": layer_of(out),
                                  "module": module})
    sg0 = model.Subgraphs(0)
    report = {
        "file": label,
        "format": "tflite",
        "size_bytes": len(data),
        "schema_version": model.Version(),
        "subgraphs": model.SubgraphsLength(),
        "operators": dict(sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))),
        "operator_count": sum(ops.values()),
        "custom_ops": dict(custom),
        "transpose_ops": ops.get("TRANSPOSE", 0),
        "tensor_dtypes": dict(sorted(dtypes.items(), key=lambda kv: -kv[1])),
        "inputs": [_io(sg0.Tensors(i), type_names) for i in sg0.InputsAsNumpy().tolist()] if sg0.InputsLength() else [],
        "outputs": [_io(sg0.Tensors(i), type_names) for i in sg0.OutputsAsNumpy().tolist()] if sg0.OutputsLength() else [],
        "compute_ops": compute,
        "float_ops": float_ops,
        "weight_granularity": dict(granularity),
        "metadata": _metadata(model, data),
    }
    # the converter may rename an op's output (the graph output's op becomes "Identity1"), so by layer too
    by_name = {op[key]: name for name, ops in kept_float.items() for op in ops for key in ("layer", "node")}
    for f in float_ops:
        asked = by_name.get(f["module"]) or by_name.get(f["output"])
        if f["subgraph"] == 0 and asked:
            f["kept_float"] = asked  # a layer the export was asked to keep float
    report["verdict"] = verdict(report)
    return report


def _name(tensor) -> str:
    n = tensor.Name()
    return n.decode("utf-8", "replace") if n else ""


def layer_of(tensor_name: str, known: Optional[set] = None) -> str:
    """The Keras/PyTorch layer a converter tensor name comes from ('model/features.3.conv/Sin' -> 'features.3.conv').

    With ``known`` layer names, Keras' call-scope suffix ('norm_1' for layer 'norm') is undone.
    """
    first = tensor_name.split(";")[0]
    parts = [p for p in first.split("/") if p]
    name = parts[-2] if len(parts) >= 3 else (parts[0] if parts else tensor_name)
    if known is not None and name not in known:
        base = re.sub(r"_\d+$", "", name)
        if base in known:
            return base
    return name


def _io(tensor, type_names) -> dict:
    q = tensor.Quantization()
    quant = None
    if q is not None and q.ScaleLength():
        quant = {"scale": [float(v) for v in q.ScaleAsNumpy()[:4]],
                 "zero_point": [int(v) for v in q.ZeroPointAsNumpy()[:4]] if q.ZeroPointLength() else [0]}
    shape = tensor.ShapeAsNumpy().tolist() if tensor.ShapeLength() else []
    return {"name": _name(tensor), "shape": shape, "dtype": type_names.get(tensor.Type(), str(tensor.Type())),
            "quantization": quant}


def _metadata(model, data: bytes) -> dict:
    names = []
    for i in range(model.MetadataLength()):
        n = model.Metadata(i).Name()
        names.append(n.decode("utf-8", "replace") if n else "")
    out = {"entries": names, "tflite_metadata": None}
    if METADATA_NAME in names:
        try:
            md = read_metadata(data)
            out["tflite_metadata"] = {"name": md.get("name"), "labels": len(md.get("labels") or []),
                                      "normalization": (md.get("inputs") or [{}])[0].get("normalization"),
                                      "associated_files": md.get("packed_files", [])}
        except Exception as exc:  # a third-party file with broken metadata is still inspectable
            out["tflite_metadata"] = {"error": f"{type(exc).__name__}: {exc}"[:200]}
    return out


def verdict(r: dict) -> dict:
    """Precision class and the 'really int8?' answer, from the per-op facts."""
    compute = r["compute_ops"]
    int_in = [c for c in compute if c["input"] in ("INT8", "UINT8")]
    int16_in = [c for c in compute if c["input"] == "INT16"]
    int_w = [c for c in compute if c["weights"] in ("INT8", "UINT8", "INT4")]
    fp16_w = [c for c in compute if c["weights"] == "FLOAT16"]
    io = sorted({t["dtype"] for t in r["inputs"] + r["outputs"]})
    n = len(compute)
    fully_int8 = bool(n) and len(int_in) == n and len(int_w) == n and not r["float_ops"] and not r["custom_ops"]
    if r["custom_ops"] and not n:
        kind = "unknown (custom ops only)"
    elif fully_int8 or (r["custom_ops"] and n and len(int_in) == n and len(int_w) == n and not r["float_ops"]):
        kind = "int8"
    elif n and len(int16_in) == n and len(int_w) == n and not r["float_ops"]:
        kind = "int16x8"
    elif n and not int_in and not int16_in and len(int_w) == n:
        kind = "dynamic-range (int8 weights, float compute)"
    elif n and len(fp16_w) == n:
        kind = "fp16 weights (float32 compute)"
    elif not int_in and not int16_in and not int_w:
        kind = "float32"
    else:
        kind = "mixed"
    float_compute = [c for c in compute if c["input"] in FLOAT_TYPES]
    kept = list(dict.fromkeys(f["kept_float"] for f in r["float_ops"] if f.get("kept_float")))
    if kind == "mixed" and int_in and kept and all(f.get("kept_float") for f in r["float_ops"]) and \
            len(int_in) + len(float_compute) == n and len(int_w) == len(int_in) and not r["custom_ops"]:
        kind = "int8 with float layers"  # exactly the layers the export kept float, the rest int8
    lines = [f"{len(int_in)}/{n} compute ops take int8 inputs, {len(int_w)}/{n} int8 weights"]
    if r["custom_ops"]:
        lines.append(f"custom ops not checked: {', '.join(sorted(r['custom_ops']))}")
    if kind == "int8 with float layers":
        lines.append(f"int8 with {len(kept)} layers kept float as asked at export "
                     f"({len(r['float_ops'])} float ops): {', '.join(kept)}")
    elif r["float_ops"] and (int_in or int16_in or int_w):
        listed = ", ".join(sorted({f"{f['op']} ({f['layer']})" for f in r["float_ops"]})[:6])
        lines.append(f"{len(r['float_ops'])} ops run in float: {listed}")
    return {"precision": kind, "fully_int8": fully_int8, "io_dtypes": io,
            "float_compute_ops": len(float_compute), "float_ops": len(r["float_ops"]),
            "kept_float_layers": kept, "summary": "; ".join(lines)}
