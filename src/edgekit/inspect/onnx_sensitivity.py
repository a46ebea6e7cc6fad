"""Layer sensitivity of an int8 QDQ ONNX file: the model-output SQNR and top-1 agreement with the
float file when one layer alone is kept in float, so layers can be sorted by what fixing one buys.

"Kept in float" is an edit of the int8 graph in memory: the layer's output QuantizeLinear ->
DequantizeLinear pair is removed (so the next layer reads its float output) and its weights are
the float file's, in the int8 file's channel scales (onnx_layers.channel_gains). Where ONNX
Runtime dropped a Clip/Relu because the output range clipped instead, the float file's node
is put back. Every other scale is exactly the file's.
"""
from __future__ import annotations

import numpy as np

from .onnx_layers import _initializers, _session, channel_gains


def float_variant(int8_model, float_model, float_weights: dict, layers: list[dict], extra_tensors=()):
    """A copy of ``int8_model`` with ``layers`` (rows of quantized_layers) in float; the Q/DQ
    pairs on ``extra_tensors`` (e.g. the model input) are removed too."""
    import onnx
    from onnx import numpy_helper

    m = onnx.ModelProto()
    m.CopyFrom(int8_model)
    keep = without_qdq(m.graph.node, {l["tensor"] for l in layers} | set(extra_tensors))
    float_producer = {o: n for n in float_model.graph.node for o in n.output}
    float_inits = _initializers(float_model)
    known = {o for n in keep for o in n.output} | {i.name for i in m.graph.initializer}
    for layer in layers:
        node = next(n for n in keep if n.name == layer["node"])
        if node.name in float_weights:
            name = f"{node.input[1]}_kept_float"
            m.graph.initializer.append(numpy_helper.from_array(float_weights[node.name], name))
            node.input[1] = name
        f = float_producer.get(layer["tensor"])
        if f is not None and f.op_type in ("Clip", "Relu") and f.op_type != node.op_type:
            raw = layer["tensor"] + "_unclipped"
            node.output[list(node.output).index(layer["tensor"])] = raw
            for extra in f.input[1:]:  # Clip's bounds: Constant nodes the int8 graph may have dropped
                if extra and extra not in known:
                    m.graph.initializer.append(numpy_helper.from_array(float_inits[extra], extra)
                                               if extra in float_inits else _constant(float_model, extra))
                    known.add(extra)
            clip = onnx.NodeProto()
            clip.CopyFrom(f)
            clip.input[0] = raw
            keep.insert(keep.index(node) + 1, clip)
    del m.graph.node[:]
    m.graph.node.extend(keep)
    return m


def without_qdq(nodes, tensors: set) -> list:
    """``nodes`` without the QuantizeLinear -> DequantizeLinear pairs on ``tensors``, their readers
    rewired to the float tensor (the nodes are edited in place)."""
    q_out = {n.output[0]: n.input[0] for n in nodes if n.op_type == "QuantizeLinear" and n.input[0] in tensors}
    rename, keep = {}, []
    for n in nodes:
        if n.op_type == "QuantizeLinear" and n.input[0] in tensors:
            continue
        if n.op_type == "DequantizeLinear" and n.input[0] in q_out:
            rename[n.output[0]] = q_out[n.input[0]]
            continue
        keep.append(n)
    for n in keep:
        n.input[:] = [rename.get(i, i) for i in n.input]
    return keep


def _constant(model, name: str):
    from onnx import numpy_helper

    node = next(n for n in model.graph.node if n.op_type == "Constant" and n.output[0] == name)
    return numpy_helper.from_array(numpy_helper.to_array(node.attribute[0].t), name)


def output_figures(reference: np.ndarray, got: np.ndarray) -> dict:
    ref, out = reference.reshape(len(reference), -1).astype(np.float64), got.reshape(len(got), -1).astype(np.float64)
    noise = ((ref - out) ** 2).sum()
    cos = (ref * out).sum(1) / np.maximum(np.linalg.norm(ref, axis=1) * np.linalg.norm(out, axis=1), 1e-300)
    return {"sqnr_db": float(10 * np.log10((ref ** 2).sum() / noise)) if noise > 0 else float("inf"),
            "top1_agreement": float((ref.argmax(1) == out.argmax(1)).mean()), "cosine": float(cos.mean())}


def _run(model, arrays, input_name: str, threads: int) -> np.ndarray:
    sess = _session(model, [], threads)
    out = sess.get_outputs()[0].name
    return np.concatenate([sess.run([out], {input_name: arrays[i:i + 16]})[0] for i in range(0, len(arrays), 16)])


def sensitivity(int8_model, float_model, layers: list[dict], arrays: np.ndarray, input_name: str = "input",
                threads: int = 1, progress=None) -> dict:
    """{"int8": output figures of the file as it is; "all_float": every layer and activation kept in
    float (the edit's own check: near the float file, up to the channel gains' estimation);
    "ranked": per layer, output figures with that layer alone in float and ``gain_db`` over the
    file, most helpful first; "top3_together": the three most helpful kept in float at once}."""
    weights: dict = {}
    channel_gains(int8_model, float_model, weights)
    x = arrays.astype(np.float32)
    reference = _run(float_model, x, input_name, threads)
    base = output_figures(reference, _run(int8_model, x, input_name, threads))
    inits = {i.name for i in int8_model.graph.initializer}
    activations = [n.input[0] for n in int8_model.graph.node
                   if n.op_type == "QuantizeLinear" and n.input[0] not in inits]
    def edited(chosen, extra=()):
        """Output figures with ``chosen`` in float; None when this graph cannot take the edit (an
        op arrangement the edit does not know, e.g. ShuffleNetV1's last layers): that layer is
        then listed under "not_editable", never ranked on a guess."""
        try:
            return output_figures(reference, _run(float_variant(int8_model, float_model, weights, chosen, extra),
                                                  x, input_name, threads))
        except Exception:  # noqa: BLE001  (onnxruntime's Fail, a missing node: the edit, not the file)
            return None

    everything = edited(layers, activations)
    rows, not_editable = [], []
    for i, layer in enumerate(layers):
        fig = edited([layer])
        if fig is None:
            not_editable.append(layer["module"] or layer["node"])
            continue
        rows.append(dict(fig, module=layer["module"], op=layer["op"], node=layer["node"],
                         gain_db=fig["sqnr_db"] - base["sqnr_db"],
                         agreement_gain=fig["top1_agreement"] - base["top1_agreement"]))
        if progress and (i + 1) % 16 == 0:
            progress(f"explain: sensitivity {i + 1}/{len(layers)} layers")
    ranked = sorted(rows, key=lambda r: (-r["gain_db"], -r["top1_agreement"]))
    top = [next(l for l in layers if l["node"] == r["node"]) for r in ranked[:3]]
    together = edited(top) if top else None
    return {"int8": base, "all_float": everything, "ranked": ranked, "not_editable": not_editable,
            "top3_together": None if together is None else dict(together, modules=[l["module"] for l in top])}
