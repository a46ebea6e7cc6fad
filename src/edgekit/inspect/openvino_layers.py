"""Per-layer error of an int8 OpenVINO IR (NNCF FakeQuantize) against the fp32 IR of the same export.

edgekit's IR comes from its ONNX export, so friendly names are the ONNX node names
(``/features/features.14/conv/conv.1/conv.1.0/Conv``) and name the torch modules the same way
(onnx_layers.module_path). A layer is a Convolution/GroupConvolution/MatMul with its bias Add and
Clamp, a residual Add, or a ReduceMean; its int8 output is the FakeQuantize after it, compared
with the fp32 IR's node of the same name (both run by OpenVINO's CPU plugin with those outputs
added). Equalized channels are compared after each channel's least-squares gain (as for TFLite).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .onnx_layers import _Stats, module_path

COMPUTE = {"Convolution": "Conv", "GroupConvolution": "Conv", "MatMul": "Gemm", "ReduceMean": "GlobalAveragePool",
           "AvgPool": "AveragePool", "MaxPool": "MaxPool"}
_TAIL = {"Add", "Clamp", "Relu"}  # bias, activation: same layer


def _is_const(node) -> bool:
    return node.get_type_name() == "Constant"


def _consumers(node) -> list:
    return [t.get_node() for t in node.output(0).get_target_inputs()]


def _layers(model) -> list[dict]:
    out = []
    for node in model.get_ordered_ops():
        t = node.get_type_name()
        residual = t == "Add" and not any(_is_const(node.input_value(i).get_node()) for i in range(2))
        if t not in COMPUTE and not residual:
            continue
        end = node
        while True:  # walk the bias Add and the activation to the layer's last float node
            nxt = _consumers(end)
            bias_or_act = len(nxt) == 1 and nxt[0].get_type_name() in _TAIL and (
                nxt[0].get_type_name() != "Add" or any(_is_const(nxt[0].input_value(i).get_node()) for i in range(2)))
            if bias_or_act:
                end = nxt[0]
                continue
            break
        fq = next((c for c in _consumers(end) if c.get_type_name() == "FakeQuantize"), None)
        q = None
        if fq is not None:
            lo, hi = (np.ravel(fq.input_value(i).get_node().get_data()).astype(np.float64) for i in (3, 4))
            levels = fq.get_attributes()["levels"]
            wide = int(np.argmax(hi - lo))  # per-channel ranges (NNCF, before a depthwise conv): the widest
            scale = float(hi[wide] - lo[wide]) / (levels - 1)
            q = {"dtype": f"{levels} levels", "scale": scale, "zero_point": int(round(-lo[wide] / scale)),
                 "range": [float(lo.min()), float(hi.max())], "channels": int(lo.size)}
        out.append({"node": node.get_friendly_name(), "op": "Add" if residual else COMPUTE[t],
                    "module": module_path(node.get_friendly_name().removesuffix("/WithoutBiases")),
                    "tensor": end.get_friendly_name(),
                    "end": end, "fq": fq, "output_quantization": q, "weights": None})
    return out


def layer_errors(int8_path: Path, float_path: Path, arrays: np.ndarray, threads: int = 1, batch: int = 8,
                 progress=None) -> list[dict]:
    import openvino as ov

    from ..errors import ConfigError

    core = ov.Core()
    q_model, f_model = core.read_model(str(int8_path)), core.read_model(str(float_path))
    layers = _layers(q_model)
    f_nodes = {n.get_friendly_name(): n for n in f_model.get_ordered_ops()}
    matched = [l for l in layers if l["tensor"] in f_nodes]
    if not matched:
        raise ConfigError(f"'{Path(float_path).name}' has none of the layers of '{Path(int8_path).name}': "
                          "it is not the float export of the same model")
    q_model.add_outputs([(l["fq"] or l["end"]).output(0) for l in matched])
    f_model.add_outputs([f_nodes[l["tensor"]].output(0) for l in matched])
    q_index = {o.get_node().input_value(0).get_node().get_friendly_name(): i for i, o in enumerate(q_model.outputs)}
    f_index = {o.get_node().input_value(0).get_node().get_friendly_name(): i for i, o in enumerate(f_model.outputs)}
    q_outs = [q_index[(l["fq"] or l["end"]).get_friendly_name()] for l in matched]
    f_outs = [f_index[l["tensor"]] for l in matched]
    config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"}
    q_req = core.compile_model(q_model, "CPU", config).create_infer_request()
    f_req = core.compile_model(f_model, "CPU", config).create_infer_request()
    stats = [_Stats("fit") for _ in matched]
    for start in range(0, len(arrays), batch):
        x = arrays[start:start + batch].astype(np.float32)
        q_req.infer([x])
        f_req.infer([x])
        for st, qo, fo in zip(stats, q_outs, f_outs):
            st.add(f_req.get_output_tensor(fo).data.copy(), q_req.get_output_tensor(qo).data.copy())
        if progress:
            progress(f"explain: {min(start + batch, len(arrays))}/{len(arrays)} images")
    figures = {l["tensor"]: st.figures() for l, st in zip(matched, stats)}
    rows = []
    for l in layers:
        row = {k: v for k, v in l.items() if k not in ("end", "fq")}
        rows.append(dict(row, matched=l["tensor"] in figures, sqnr_method="per-channel least-squares gain",
                         **figures.get(l["tensor"], {})))
    return rows
