"""Per-layer error of an int8 .tflite against the fp32 .tflite of the same export (both converted
from the Keras twin, whose layer names are the torch module paths: zoo/keras/layers.py).

Both files run in LiteRT's builtin kernels with every tensor kept
(``experimental_preserve_all_tensors``; the XNNPACK delegate would hide intermediate tensors, so
int8 rounding may differ slightly from a delegated run). Each op's output is matched by (module,
op) in order. The int8 file's model was channel-equalized, and a .tflite gives no cheap way to
read the rescaling back, so each channel is compared after its least-squares gain (q_c ~ g_c f_c),
as benchmarks/tflite_layer_sqnr.py does: ``sqnr_method`` says so.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .onnx_layers import _Stats

# TFLite op -> the ONNX op name explain reports (so formats read alike)
LAYER_OPS = {"CONV_2D": "Conv", "DEPTHWISE_CONV_2D": "Conv", "FULLY_CONNECTED": "Gemm", "ADD": "Add",
             "MEAN": "GlobalAveragePool", "AVERAGE_POOL_2D": "AveragePool", "MAX_POOL_2D": "MaxPool",
             "MUL": "Mul", "CONCATENATION": "Concat", "HARD_SWISH": "HardSwish"}
_COMPUTE_SUFFIXES = ("/BiasAdd", "/convolution", "/MatMul", "/Add", "/Mean", "/depthwise")


def module_of(tensor_name: str) -> str:
    """``mobilenet_v2_1/features.0.2_1/Relu6;mobilenet_v2_1/features.0.0_1/BiasAdd;...`` ->
    ``features.0.0`` (the layer that computes; the fused activation is named second)."""
    parts = [p.strip() for p in tensor_name.split(";")]
    pick = next((p for p in parts if p.endswith(_COMPUTE_SUFFIXES)), parts[0])
    scope = pick.split("/")
    layer = scope[1] if len(scope) > 2 else scope[0]
    head, _, counter = layer.rpartition("_")
    layer = head if counter.isdigit() and head else layer
    layer = layer.removesuffix(".add")
    return "" if layer == "pool" else layer  # the twin's name for the root's functional pooling


def _interpreter(path: Path, threads: int):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True, num_threads=threads,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    return it


def _layers(it) -> list[dict]:
    details = {d["index"]: d for d in it.get_tensor_details()}
    out = []
    for op in it._get_ops_details():
        if op["op_name"] not in LAYER_OPS or not len(op["outputs"]):
            continue
        d = details[op["outputs"][0]]
        named = d["name"] if "/" in d["name"] or len(op["inputs"]) < 2 else details[op["inputs"][1]]["name"]
        scale, zero = d["quantization"]
        q = None
        if scale:
            info = np.iinfo(d["dtype"])
            q = {"dtype": np.dtype(d["dtype"]).name, "scale": float(scale), "zero_point": int(zero),
                 "range": [(info.min - zero) * scale, (info.max - zero) * scale]}
        weights = None
        if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") and len(op["inputs"]) > 1:
            w = details[op["inputs"][1]]
            n_scales = len(w.get("quantization_parameters", {}).get("scales", []))
            weights = {"dtype": np.dtype(w["dtype"]).name, "scales": n_scales,
                       "granularity": "per-channel" if n_scales > 1 else "per-tensor" if n_scales else "float"}
        out.append({"node": d["name"], "op": LAYER_OPS[op["op_name"]], "tflite_op": op["op_name"],
                    "module": module_of(named), "index": int(d["index"]), "output_quantization": q,
                    "weights": weights})
    return out


def layer_errors(int8_path: Path, float_path: Path, arrays_nhwc: np.ndarray, threads: int = 1,
                 progress=None) -> list[dict]:
    from ..errors import ConfigError

    q_it, f_it = _interpreter(int8_path, threads), _interpreter(float_path, threads)
    layers, f_layers = _layers(q_it), _layers(f_it)
    if [(l["module"], l["op"]) for l in layers] != [(l["module"], l["op"]) for l in f_layers]:
        raise ConfigError(f"'{Path(float_path).name}' does not have the layers of '{Path(int8_path).name}' in "
                          "the same order: it is not the float export of the same model")
    qparams = {d["index"]: d["quantization"] for d in q_it.get_tensor_details()}
    inp, f_inp = q_it.get_input_details()[0], f_it.get_input_details()[0]
    stats = [_Stats("fit") for _ in layers]
    for i, x in enumerate(arrays_nhwc):
        feed = x[None].astype(np.float32)
        f_it.set_tensor(f_inp["index"], feed)
        f_it.invoke()
        if inp["dtype"] != np.float32:
            scale, zero = inp["quantization"]
            info = np.iinfo(inp["dtype"])
            feed = np.clip(np.round(feed / scale + zero), info.min, info.max).astype(inp["dtype"])
        q_it.set_tensor(inp["index"], feed)
        q_it.invoke()
        for st, l, fl in zip(stats, layers, f_layers):
            q = q_it.get_tensor(l["index"]).astype(np.float32)
            s, z = qparams[l["index"]]
            if s:
                q = (q - z) * s
            f = f_it.get_tensor(fl["index"]).astype(np.float32)
            st.add(np.moveaxis(f, -1, 1), np.moveaxis(q, -1, 1))
        if progress and (i + 1) % 16 == 0:
            progress(f"explain: {i + 1}/{len(arrays_nhwc)} images")
    for l, st in zip(layers, stats):
        l.update(st.figures(), matched=True, tensor=l["node"], sqnr_method="per-channel least-squares gain")
    return layers
