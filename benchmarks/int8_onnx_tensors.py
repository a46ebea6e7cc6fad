"""Which quantized tensors of an int8 QDQ ONNX file cost the logits their SQNR (MobileNetV2).

    PYTHONPATH=src python benchmarks/int8_onnx_tensors.py FILE.onnx --half A|B [--top 15]

For every activation QuantizeLinear -> DequantizeLinear pair: "alone" = logit SQNR with only
that activation quantized (weights still int8, every other activation float): its own noise;
"fixed" = SQNR with every activation but that one quantized: what keeping it float buys.
Edits the graph (a DequantizeLinear's output is rewired to its QuantizeLinear's input), so
the scales are exactly those of the file.
"""
from __future__ import annotations

import argparse

import numpy as np
import onnx.numpy_helper  # noqa: F401

import _int8_eval as ev


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--half", default="A")
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args()
    import onnx

    loaded = ev.folded_mobilenet()
    split = [s for s in ev.halves(loaded) if s.name == args.half][0]
    model = onnx.load(args.file)
    pairs = activation_pairs(model)

    def sqnr(bypass):
        got = run(bypassed(model, bypass), split.evalset.arrays)
        f = ev.figures(split.reference, got)
        return 10 * np.log10(f["signal"] / f["noise"]), f["agree"]

    full = sqnr(set())
    wonly = sqnr(set(pairs))
    print(f"all quantized: {full[0]:.2f} dB {full[1]}/{len(split.evalset)}; weights only: {wonly[0]:.2f} dB")
    rows = []
    for t in pairs:
        alone = sqnr(set(pairs) - {t})
        fixed = sqnr({t})
        rows.append((t, alone, fixed))
        ev.say(f"{t}: alone {alone[0]:.1f} fixed {fixed[0]:.2f} ({fixed[1]})")
    print("| tensor | alone dB | fixed dB (agree) |\n|---|---|---|")
    for t, alone, fixed in sorted(rows, key=lambda r: -r[2][0])[: args.top]:
        print(f"| {t} | {alone[0]:.1f} | {fixed[0]:.2f} ({fixed[1]}) |")
    print("\nin network order, alone dB:")
    print(" ".join(f"{a[0]:.0f}" for _, a, _ in rows))


CLIPPED: set = set()  # MobileNetV2's ReLU6 outputs (Clip 0..6), set by activation_pairs


def activation_pairs(model) -> list[str]:
    """Names of the float tensors behind each activation Q -> DQ pair, in graph order."""
    inits = {i.name for i in model.graph.initializer}
    producers = {o: n.op_type for n in model.graph.node for o in n.output}
    CLIPPED.update(n.input[0] for n in model.graph.node if n.op_type == "QuantizeLinear"
                   and n.input[0].endswith("Clip_output_0") and producers.get(n.input[0]) == "Conv")
    return [n.input[0] for n in model.graph.node if n.op_type == "QuantizeLinear" and n.input[0] not in inits]


def bypassed(model, tensors: set):
    import onnx

    from edgekit.inspect.onnx_sensitivity import without_qdq

    m = onnx.ModelProto()
    m.CopyFrom(model)
    keep = without_qdq(m.graph.node, tensors)
    # ORT drops a Conv's Clip/Relu when the quantization range does the clipping: put it back
    for t in tensors & CLIPPED:
        producer = next(n for n in keep if t in n.output)
        raw = t + "_unclipped"
        producer.output[list(producer.output).index(t)] = raw
        keep.insert(keep.index(producer) + 1, onnx.helper.make_node("Clip", [raw, "clip_lo", "clip_hi"], [t]))
    if tensors & CLIPPED:
        m.graph.initializer.extend([onnx.numpy_helper.from_array(np.array(0, np.float32), "clip_lo"),
                                    onnx.numpy_helper.from_array(np.array(6, np.float32), "clip_hi")])
    del m.graph.node[:]
    m.graph.node.extend(keep)
    return m


def run(model, arrays):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": arrays})[0]


if __name__ == "__main__":
    main()
