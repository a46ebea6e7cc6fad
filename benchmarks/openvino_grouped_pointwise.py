"""OpenVINO's CPU plugin and int8 grouped 1x1 convolutions on AMX: where it is wrong, and what
edgekit's rewrite (quantize/openvino_grouped_pointwise.py) costs and gives.

    PYTHONPATH=src python benchmarks/openvino_grouped_pointwise.py layers
        # one ReLU + grouped 1x1 conv, NNCF int8: SQNR of the plugin's int8 run and of the same
        # IR with its FakeQuantize ops computed in fp32, per (input channels per group, groups)
    PYTHONPATH=src python benchmarks/openvino_grouped_pointwise.py models [--models shufflenet_v1_g2,shufflenet_v1_g3]
        # the Fashion-MNIST ShuffleNetV1 (benchmarks/fashion_mnist_accuracy_table.py files):
        # agreement with float on the 200 evaluation images and p50 latency at 1 thread, int8
        # written as before (grouped) and as edgekit writes it now (dense), each run by the
        # plugin as this CPU selects and capped at AVX512-VNNI (ONEDNN_MAX_CPU_ISA)

Every variant of a row is timed in the same process, one after another: this machine is shared,
compare within a row. Needs the CPU flags it names (amx_int8 in /proc/cpuinfo) to show the fault.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
CONFIG = {"INFERENCE_NUM_THREADS": 1, "INFERENCE_PRECISION_HINT": "f32"}


def emulated(model):
    """``model`` with each activation FakeQuantize rewritten as fp32 arithmetic (same grid, same
    rounding), so that the plugin cannot fuse it into an int8 kernel: NNCF's quantization, in fp32."""
    import openvino.opset13 as ops

    for op in model.get_ordered_ops():
        if op.get_type_name() != "FakeQuantize" or op.input_value(0).get_node().get_type_name() == "Constant":
            continue
        x, il, ih, ol, oh = (op.input_value(i) for i in range(5))
        n = np.float32(op.get_attributes()["levels"] - 1)
        q = ops.round(ops.divide(ops.subtract(ops.minimum(ops.maximum(x, il), ih), il),
                                 ops.divide(ops.subtract(ih, il), n)), "half_to_even")
        y = ops.add(ops.multiply(q, ops.divide(ops.subtract(oh, ol), n)), ol)
        for reader in list(op.output(0).get_target_inputs()):
            reader.replace_source_output(y.output(0))
    model.validate_nodes_and_infer_types()
    return model


def outputs(model, x):
    import openvino as ov

    req = ov.Core().compile_model(model, "CPU", CONFIG).create_infer_request()
    return np.concatenate([req.infer([x[i:i + 1]])[0].copy() for i in range(len(x))])


def p50_ms(model, x, runs=300):
    import openvino as ov

    req = ov.Core().compile_model(model, "CPU", CONFIG).create_infer_request()
    for i in range(20):
        req.infer([x[i % len(x):i % len(x) + 1]])
    t = []
    for i in range(runs):
        t0 = time.perf_counter()
        req.infer([x[i % len(x):i % len(x) + 1]])
        t.append(time.perf_counter() - t0)
    return float(np.median(t) * 1e3)


def sqnr(ref, y):
    return float(10 * np.log10((ref ** 2).sum() / ((ref - y) ** 2).sum()))


def layers() -> None:
    import nncf
    import openvino as ov
    import torch

    nncf.set_log_level(40)
    print(f"{'in/group':>8} {'groups':>6} {'plugin int8 dB':>15} {'emulated dB':>12}")
    for cpg, g in [(16, 2), (25, 2), (32, 2), (50, 2), (64, 2), (65, 2), (66, 2), (68, 2), (70, 2), (71, 2),
                   (72, 2), (80, 2), (96, 2), (100, 2), (200, 2), (64, 3), (72, 3), (80, 3), (80, 4), (100, 1)]:
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Conv2d(cpg * g, cpg * g, 1, groups=g)).eval()
        x = torch.randn(64, cpg * g, 12, 12).numpy()
        m = ov.convert_model(net, example_input=torch.from_numpy(x[:1]))
        ref = outputs(m, x)
        with contextlib.redirect_stdout(sys.stderr):  # NNCF's progress bars
            q = nncf.quantize(m, nncf.Dataset([x[i:i + 1] for i in range(64)]), subset_size=64)
        print(f"{cpg:>8} {g:>6} {sqnr(ref, outputs(q, x)):>15.1f} {sqnr(ref, outputs(emulated(q.clone()), x)):>12.1f}",
              flush=True)


def export_int8(arch: str, work: Path, dense: bool) -> Path:
    """The OpenVINO int8 file edgekit writes for the table's trained ``arch`` (dense=False: as before the rewrite)."""
    from train_zoo_fashion_mnist import DEFAULT_CACHE, checkpoint_of

    from edgekit.pipeline import DataOptions, export
    from edgekit.quantize import QuantConfig, openvino_int8
    from edgekit.zoo import get_model

    if not dense:
        openvino_int8.densify_grouped_pointwise = lambda model: []
    src = DEFAULT_CACHE / "table" / "files" / arch
    out = work / ("dense" if dense else "grouped")
    r = export(get_model(arch, checkpoint_of(DEFAULT_CACHE, arch)), out, ["openvino"], int8=True,
               quant=QuantConfig(samples=300), data=DataOptions(calib=src / "calib.npy", eval=src / "eval.npy"))
    return next(a.path for a in r.artifacts if a.precision == "int8")


def measure(xml: str, fp32_xml: str, data: str) -> dict:
    """Agreement, SQNR and p50 of ``xml`` against ``fp32_xml`` in this process (its ISA as the env sets it)."""
    import openvino as ov

    core = ov.Core()
    x = np.load(data)[:200].astype(np.float32)
    ref, model = outputs(core.read_model(fp32_xml), x), core.read_model(xml)
    y = outputs(model, x)
    return {"agreement": float((y.argmax(1) == ref.argmax(1)).mean()), "sqnr_db": round(sqnr(ref, y), 1),
            "p50_ms": round(p50_ms(model, x), 3), "fp32_p50_ms": round(p50_ms(core.read_model(fp32_xml), x), 3)}


def models(names: list[str], work: Path) -> None:
    from train_zoo_fashion_mnist import DEFAULT_CACHE

    rows = []
    for arch in names:
        src = DEFAULT_CACHE / "table" / "files" / arch
        fp32 = src / f"{arch}_fp32.xml"
        for dense in (False, True):
            proc = subprocess.run([sys.executable, __file__, "_export", arch, str(work / arch), str(int(dense))],
                                  stdout=subprocess.PIPE, text=True, check=True)
            xml = proc.stdout.strip().splitlines()[-1]
            size = Path(xml).with_suffix(".bin").stat().st_size
            for isa in ("as selected", "AVX512_CORE_VNNI"):
                env = dict(os.environ, **({"ONEDNN_MAX_CPU_ISA": isa} if isa != "as selected" else {}))
                out = subprocess.run([sys.executable, __file__, "_measure", xml, str(fp32), str(src / "eval.npy")],
                                     stdout=subprocess.PIPE, text=True, check=True, env=env)
                rows.append({"model": arch, "int8 convs": "dense" if dense else "grouped", "isa": isa,
                             "bin_bytes": size, **json.loads(out.stdout.strip().splitlines()[-1])})
                print(json.dumps(rows[-1]), flush=True)
    print("\n| model | grouped 1x1 as | ISA | agreement | SQNR dB | int8 p50 ms | fp32 p50 ms | .bin bytes |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['int8 convs']} | {r['isa']} | {r['agreement']:.3f} | {r['sqnr_db']} | "
              f"{r['p50_ms']} | {r['fp32_p50_ms']} | {r['bin_bytes']:,} |")


def main() -> None:
    if sys.argv[1] == "_export":
        print(export_int8(sys.argv[2], Path(sys.argv[3]), sys.argv[4] == "1"))
        return
    if sys.argv[1] == "_measure":
        print(json.dumps(measure(*sys.argv[2:5])))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["layers", "models"])
    ap.add_argument("--models", default="shufflenet_v1_g2,shufflenet_v1_g3")
    ap.add_argument("--work", type=Path, default=Path("/tmp/edgekit-ov-grouped"))
    a = ap.parse_args()
    cpu = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    print(f"CPU: amx_int8 {'yes' if 'amx_int8' in cpu else 'no'}, avx512_vnni {'yes' if 'avx512_vnni' in cpu else 'no'}")
    layers() if a.what == "layers" else models(a.models.split(","), a.work)


if __name__ == "__main__":
    main()
