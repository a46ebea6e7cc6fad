"""TFLite int8 MobileNetV2 with chosen layers kept float (QuantConfig.exclude) vs pure int8: the
validate figures on held-out photos, for each photo half (A: edgekit's own calibration split of
the photos, B: swapped) and pooled over both (each photo judged once by a file not calibrated on it).

Per half, one int8-prepared module and one Keras twin serve every variant, so the files differ
only in their exclusions. The "-fw" variants also give the layers kept float their unrounded
(equalized only) weights: GPTQ skipped for them, which the pipeline does not do today (the
prepared module's weights all lie on the int8 grid, float layers included). Each variant's files (fp32 sibling and sidecars with the accuracy,
as `edgekit export` writes them) land in OUT/<half>/<variant>/, ready for
`edgekit bench FILE --threads 1` and `edgekit explain FILE`.

    PYTHONPATH=src python benchmarks/tflite_kept_float.py WEIGHTS.pth OUT [--photos tests/data/photos]
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

VARIANTS = {
    "pure": (),
    "top3": ("features.16", "features.15", "features.14.conv.2"),
    "blocks14-17": tuple(f"features.{b}.conv.{p}" for b in (14, 15, 16, 17) for p in ("0.0", "1.0", "2"))
    + ("features.15", "features.16"),
}
VARIANTS.update({f"{k}-fw": v for k, v in VARIANTS.items() if v})


def float_weights_for(folded_module, calibration, input_shape, exclude):
    """The int8 preparation with GPTQ skipped for the modules in ``exclude`` (equalized weights kept)."""
    import copy

    import torch

    from edgekit.quantize.equalize import equalize_channels
    from edgekit.quantize.weight_rounding import gptq_round_weights

    torch.set_num_threads(1)
    module = copy.deepcopy(folded_module).eval()
    equalize_channels(module, calibration, input_shape)
    kept = {n: m.weight.data.clone() for n, m in module.named_modules() if n in exclude and hasattr(m, "weight")}
    gptq_round_weights(module, calibration)
    for n, m in module.named_modules():
        if n in kept:
            m.weight.data = kept[n]
    return module


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("weights")
    ap.add_argument("out", type=Path)
    ap.add_argument("--photos", type=Path, default=Path("tests/data/photos"))
    args = ap.parse_args()
    from edgekit.data import load_image_set, split_calibration_eval
    from edgekit.export import ExportRequest
    from edgekit.export.tflite_export import TfliteExporter
    from edgekit.pipeline.prepare import fold
    from edgekit.quantize import QuantConfig
    from edgekit.quantize.prepare import prepare_for_int8
    from edgekit.runtime_bench.engines import open_engine
    from edgekit.runtime_bench.metrics import agreement
    from edgekit.runtime_bench.reference_engine import reference_engine
    from edgekit.runtime_bench.validate import validate_outputs
    from edgekit.zoo import get_model

    loaded = get_model("mobilenet_v2", args.weights)
    folded, _ = fold(loaded, lambda m: None)
    images = load_image_set(args.photos, loaded.card.preprocess)
    a_calib, a_eval = split_calibration_eval(images, 0.5)
    pooled: dict = {v: ([], [], []) for v in VARIANTS}
    rows = []
    for half, (calib, evalset) in {"A": (a_calib, a_eval), "B": (a_eval, a_calib)}.items():
        reference = reference_engine(folded).run(evalset.arrays)
        prepared, prep = prepare_for_int8(folded.module, calib.arrays, folded.card.input_shape)
        exporter = TfliteExporter()
        for variant, exclude in VARIANTS.items():
            if variant.endswith("-fw"):
                exporter = TfliteExporter()  # a new twin for the new weights
                prepared = float_weights_for(folded.module, calib.arrays, folded.card.input_shape, exclude)
            out = args.out / half / variant
            out.mkdir(parents=True, exist_ok=True)
            req = ExportRequest(folded, out, "int8", calibration=calib, quant=QuantConfig(exclude=exclude),
                                int8_module=prepared, int8_preparation=prep)
            for precision in ("fp32", "int8"):
                art = exporter.export(replace(req, precision=precision))
                art.meta["accuracy"] = acc = validate_outputs(reference, art.path, evalset)
                art.save_sidecar()
            with open_engine(art.path) as eng:
                got = eng.run(evalset.arrays)
            refs, outs, names = pooled[variant]
            refs.append(reference)
            outs.append(got)
            names.extend(evalset.names)
            rows.append({"half": half, "variant": variant, "file": str(art.path),
                         "verdict": art.meta["inspect"]["verdict"]["summary"],
                         **{k: acc[k] for k in ("samples", "top1_agreement", "cosine_mean", "sqnr_db")}})
            print(json.dumps(rows[-1]), file=sys.stderr)
    for variant, (refs, outs, names) in pooled.items():
        acc = agreement(np.concatenate(refs), np.concatenate(outs), names)
        rows.append({"half": "pooled", "variant": variant,
                     **{k: acc[k] for k in ("samples", "top1_agreement", "cosine_mean", "sqnr_db")}})
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
