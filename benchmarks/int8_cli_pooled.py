"""The shipped route's int8 accuracy pooled over both photo halves, as the int8 tests judge it.

    PYTHONPATH=src python benchmarks/int8_cli_pooled.py OUT [--format onnx --format openvino ...]

Runs `edgekit export mobilenet_v2 --weights W --int8` twice: half A with `--calib tests/data/photos`
(edgekit's own split), half B with the halves swapped (`--calib <A's held-out half> --data <A's
calibration half>`, as tests/conftest.py's mobilenet_v2_export_swapped), then judges each int8
file on the photos it was not calibrated on (tests/int8_pooled.py) and prints one markdown row
per format: half A, half B, pooled (agreement, mean logit cosine, logit SQNR). `--reuse` judges
the files a previous run left in OUT. `--user` exports benchmarks/_user_mobilenet.py instead
(torchvision's weights in a layout of its own, as `module:factory` with ImageNet's preprocessing
given by flags): the user-module route, judged against that module's own float logits.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import _int8_eval as ev

sys.path.insert(0, str(ev.REPO / "tests"))
SUFFIX = {"onnx": ".onnx", "tflite": ".tflite", "openvino": ".xml"}
# ImageNet's preprocessing on the 0-255 scale, as torchvision's MobileNetV2 weights expect
USER_MODEL = ["_user_mobilenet:build", "--input-size", "224", "--resize", "256", "--num-classes", "1000",
              "--mean", "123.675,116.28,103.53", "--std", "58.395,57.12,57.375"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--format", action="append", dest="formats", choices=sorted(SUFFIX))
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--user", action="store_true", help="benchmarks/_user_mobilenet.py as module:factory")
    args = ap.parse_args()
    model = USER_MODEL if args.user else ["mobilenet_v2", "--weights", str(ev.weights_path())]
    formats = args.formats or ["onnx", "openvino"]
    out = Path(args.out)
    halves_dir = make_halves(out / "halves")
    runs = {"A": ["--calib", str(ev.PHOTOS)],
            "B": ["--calib", str(halves_dir / "eval"), "--data", str(halves_dir / "calib")]}
    for half, calib_args in runs.items():
        if not (args.reuse and (out / half).is_dir()):
            t0 = time.perf_counter()
            cmd = [sys.executable, "-m", "edgekit.cli.main", "export", *model, "--int8", *calib_args,
                   "--out", str(out / half), "--no-record"]
            for f in formats:
                cmd += ["--format", f]
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ev.REPO / "src"), str(Path(__file__).parent)])}
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
            ev.say(f"half {half}: exported in {time.perf_counter() - t0:.0f} s")
    held = held_out(args.user)
    print("| format | half A | half B | pooled |\n|---|---|---|---|")
    for f in formats:
        files = {h: next((out / h).glob(f"*_int8{SUFFIX[f]}")) for h in runs}
        cells = [fmt(pooled({h: files[h]}, held)) for h in runs] + [fmt(pooled(files, held))]
        print(f"| {f} | " + " | ".join(cells) + " |", flush=True)


def make_halves(root: Path) -> Path:
    from edgekit.data import load_image_set
    from edgekit.zoo.card import Preprocess
    from int8_pooled import copy_photos, halves

    if not root.is_dir():
        calib, evalset = halves(load_image_set(ev.PHOTOS, Preprocess.for_size(32)))["A"]
        for s, side in ((calib, "calib"), (evalset, "eval")):
            copy_photos(ev.PHOTOS, s.names, root / side)
    return root


def held_out(user: bool = False) -> dict:
    """{"A"/"B": (held-out photos, float logits of the BN-folded model)} as tests/conftest.py."""
    from edgekit.data import load_image_set
    from edgekit.runtime_bench.reference_engine import reference_engine
    from int8_pooled import halves

    loaded = ev.folded_user_mobilenet() if user else ev.folded_mobilenet()
    images = load_image_set(ev.PHOTOS, loaded.card.preprocess)
    engine = reference_engine(loaded)
    return {h: (e, engine.run(e.arrays)) for h, (_, e) in halves(images).items()}


def pooled(files: dict, held: dict) -> dict:
    from int8_pooled import pooled_figures

    return pooled_figures(files, {h: held[h] for h in files})


def fmt(acc: dict) -> str:
    n = acc["samples"]
    agree = round(acc["top1_agreement"] * n)
    return f"{agree}/{n} {100 * agree / n:.1f}% cos {acc['cosine_mean']:.4f} {acc['sqnr_db']:.1f} dB"


if __name__ == "__main__":
    main()
