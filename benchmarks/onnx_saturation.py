"""Does an int8 ONNX file saturate this CPU's int8 kernels? Pooled figures of an A/B pair (tests/int8_pooled.py)
fused (ORT's int8 kernels), unfused (DequantizeLinear + float Conv: exact int8 math), and the same
integers as uint8 weights (U8U8 kernels). PYTHONPATH=src python benchmarks/onnx_saturation.py W A.onnx B.onnx
(docs/int8_accuracy.md, section 8)."""
import sys, time, numpy as np, onnx, onnxruntime as ort
from pathlib import Path
from onnx import numpy_helper
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
ort.set_default_logger_severity(3)
from edgekit.runtime_bench.metrics import agreement
import torch
from edgekit.data import load_image_set
from edgekit.fold_bn import fold_batchnorm
from edgekit.runtime_bench.reference_engine import reference_engine
from edgekit.zoo import get_model
from int8_pooled import halves
W = sys.argv[1]
files = {"A": Path(sys.argv[2]),
         "B": Path(sys.argv[3])}
loaded = get_model("mobilenet_v2", W)
loaded.module, _ = fold_batchnorm(loaded.module, torch.zeros(1, 3, 224, 224))
images = load_image_set(Path(__file__).resolve().parents[1] / "tests" / "data" / "photos", loaded.card.preprocess)
eng = reference_engine(loaded)
held = {h: (e, eng.run(e.arrays)) for h, (_, e) in halves(images).items()}

def to_u8u8(src, dst):
    m = onnx.load(str(src))
    inits = {i.name: i for i in m.graph.initializer}
    n = 0
    for node in m.graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in inits:
            continue
        w = numpy_helper.to_array(inits[node.input[0]])
        if w.dtype != np.int8:
            continue
        zp = numpy_helper.to_array(inits[node.input[2]])
        inits[node.input[0]].CopyFrom(numpy_helper.from_array((w.astype(np.int16) + 128).astype(np.uint8), node.input[0]))
        inits[node.input[2]].CopyFrom(numpy_helper.from_array((zp.astype(np.int16) + 128).astype(np.uint8), node.input[2]))
        n += 1
    onnx.save(m, str(dst)); return n

def run(path, x, level):
    so = ort.SessionOptions(); so.graph_optimization_level = level; so.intra_op_num_threads = 1
    s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    out = np.concatenate([s.run(None, {name: x[i:i+1]})[0] for i in range(len(x))])
    t = []
    for _ in range(30):
        t0 = time.perf_counter(); s.run(None, {name: x[:1]}); t.append(time.perf_counter() - t0)
    return out, float(np.median(t) * 1e3)

variants = {"s8 fused": (lambda p: p, ort.GraphOptimizationLevel.ORT_ENABLE_ALL),
            "s8 unfused (exact)": (lambda p: p, ort.GraphOptimizationLevel.ORT_DISABLE_ALL),
            "u8u8 fused": (lambda p: p.with_suffix(".u8u8.onnx"), ort.GraphOptimizationLevel.ORT_ENABLE_ALL)}
for p in files.values():
    print("u8u8 weights rewritten:", to_u8u8(p, p.with_suffix(".u8u8.onnx")))
for label, (f, lvl) in variants.items():
    refs, outs, names, ms = [], [], [], []
    for h, p in files.items():
        e, r = held[h]
        o, t = run(f(p), e.arrays, lvl)
        refs.append(r); outs.append(o); names += e.names; ms.append(t)
    a = agreement(np.concatenate(refs), np.concatenate(outs), names)
    print(f"{label}: {round(a['top1_agreement']*78)}/78 cos {a['cosine_mean']:.4f} sqnr {a['sqnr_db']:.2f} dB p50 {np.mean(ms):.2f} ms")
