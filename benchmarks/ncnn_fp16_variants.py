"""ncnn fp16 of MobileNetV2: where the error comes from (docs/decisions.md, "ncnn fp16").

From edgekit's fp32 ncnn export (pnnx fp16=0), writes fp16 .bin variants with chosen weight
blobs kept fp32 and runs each, and the fp32 file, under ncnn's runtime precision settings, on
all 78 photos against the BN-folded float model: top-1 agreement, logit SQNR, cosine min, and
tuxpaint/lion.png's float-top-1 minus best-other logit (0.0119 in float). ``--per-layer`` also
rounds one layer at a time (the others fp32): that layer's own cost in dB.

    PYTHONPATH=src python benchmarks/ncnn_fp16_variants.py OUT_DIR [--per-layer]
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from _mobilenet_files import REPO, weights_path

FLAGS = ("use_fp16_storage", "use_fp16_packed", "use_fp16_arithmetic", "use_bf16_storage", "use_bf16_packed")
SETTINGS = {"all off (edgekit's runner)": (), "fp16 storage": FLAGS[:1], "fp16 storage+packed+arithmetic": FLAGS[:3],
            "bf16 storage+packed": FLAGS[3:]}


def run(param: Path, x: np.ndarray, on=()) -> np.ndarray:
    import ncnn

    net = ncnn.Net()
    net.opt.num_threads, net.opt.use_vulkan_compute = 1, False
    for f in FLAGS:
        setattr(net.opt, f, f in on)
    assert net.load_param(str(param)) == 0 and net.load_model(str(param.with_suffix(".bin"))) == 0
    outs = []
    for sample in x:
        ex = net.create_extractor()
        ex.input("in0", ncnn.Mat(np.ascontiguousarray(sample, np.float32)))
        outs.append(np.array(ex.extract("out0")[1], np.float32).reshape(-1))
    return np.stack(outs)


def figures(ref: np.ndarray, out: np.ndarray, lion: int) -> dict:
    r, c = ref.astype(np.float64), out.astype(np.float64)
    top1, rows = r.argmax(1), np.arange(len(r))
    others = c.copy()
    others[rows, top1] = -np.inf
    cos = (r * c).sum(1) / np.linalg.norm(r, axis=1) / np.linalg.norm(c, axis=1)
    return {"agree": int((c.argmax(1) == top1).sum()), "sqnr_db": round(float(10 * np.log10((r ** 2).sum()
            / ((r - c) ** 2).sum())), 2), "cosine_min": round(float(cos.min()), 7),
            "lion_gap": round(float(c[lion, top1[lion]] - others[lion].max()), 5)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--per-layer", action="store_true")
    args = ap.parse_args()
    import torch

    from edgekit.data import load_image_set
    from edgekit.fold_bn import fold_batchnorm
    from edgekit.formats.ncnn import convert_with_pnnx
    from edgekit.formats.ncnn_bin import fp32_kept, read_blobs, write_fp16
    from edgekit.runtime_bench.reference_engine import reference_engine
    from edgekit.zoo import get_model

    loaded = get_model("mobilenet_v2", weights_path())
    loaded.module, _ = fold_batchnorm(loaded.module, torch.zeros(1, 3, 224, 224))
    images = load_image_set(REPO / "tests" / "data" / "photos", loaded.card.preprocess)
    ref = reference_engine(loaded).run(images.arrays).reshape(len(images.arrays), -1)
    lion = images.names.index("tuxpaint/lion.png")
    (args.out / "staging").mkdir(parents=True, exist_ok=True)
    fp32 = args.out / "fp32.ncnn.param"
    convert_with_pnnx(loaded.module, loaded.card.input_shape, fp32, args.out / "staging", fp16=False)
    blobs, arrays, _ = read_blobs(fp32, fp32.with_suffix(".bin"))
    names = [b.layer for b in blobs]

    def variant(label: str, keep: set, settings=("all off (edgekit's runner)",)) -> None:
        param = args.out / "v.ncnn.param"
        shutil.copy(fp32, param)
        write_fp16(param.with_suffix(".bin"), blobs, arrays, keep)
        for s in settings:
            print(json.dumps({"file": label, "runtime": s, "bin_bytes": param.with_suffix(".bin").stat().st_size,
                              **figures(ref, run(param, images.arrays, SETTINGS[s]), lion)}), flush=True)

    for s, on in SETTINGS.items():
        print(json.dumps({"file": "fp32", "runtime": s, **figures(ref, run(fp32, images.arrays, on), lion)}), flush=True)
    variant("fp16, every blob", set(), SETTINGS)
    first3 = set(names[:3])
    for label, keep in (("fp16, classifier fp32", {names[-1]}), ("fp16, first conv fp32", {names[0]}),
                        ("fp16, first depthwise fp32", {names[1]}), ("fp16, first 3 convs fp32", first3),
                        ("fp16, shipped (smallest 0.5% fp32)", fp32_kept(blobs)),
                        ("fp16, smallest 2% fp32", fp32_kept(blobs, 0.02))):
        variant(label, keep)
    for name in names if args.per_layer else []:
        variant(f"only {name} fp16", set(names) - {name})


if __name__ == "__main__":
    main()
