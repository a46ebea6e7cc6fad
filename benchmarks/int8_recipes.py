"""int8 recipes per format on MobileNetV2 (torchvision weights), pooled over both photo halves.

    PYTHONPATH=src python benchmarks/int8_recipes.py ROUTE:RECIPE [ROUTE:RECIPE ...] [--halves A,B]

ROUTE is onnx | tflite (Keras twin) | openvino | litert (the user-module route, litert-torch);
RECIPE names an entry of RECIPES[ROUTE] ("edgekit" is what edgekit ships today). Each recipe
is exported per half (calibrated on one half, judged on the other), then the halves pooled.
Prints one markdown row per recipe: both halves and the pool (agreement, mean logit cosine,
logit SQNR), and the export time per half (prep + conversion + quantization).
"""
from __future__ import annotations

import argparse
import copy
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import _int8_eval as ev
from _int8_routes import RECIPES


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+", help="ROUTE:RECIPE")
    ap.add_argument("--halves", default="A,B")
    ap.add_argument("--keep", help="folder to keep the files in")
    ap.add_argument("--model", default="zoo", choices=("zoo", "user"),
                    help="user: benchmarks/_user_mobilenet.py, MobileNetV2 in a layout of its own")
    ap.add_argument("--reuse", action="store_true", help="judge files a previous run left in --keep")
    ap.add_argument("--aug", action="store_true", help="also judge on 6 variants of each held-out photo")
    ap.add_argument("--floors", action="store_true",
                    help="say whether the pooled figures clear the int8 tests' floors (tests/int8_pooled.py)")
    args = ap.parse_args()
    loaded = ev.folded_mobilenet() if args.model == "zoo" else ev.folded_user_mobilenet()
    splits = [s for s in ev.halves(loaded, aug=args.aug) if s.name in args.halves.split(",")]
    out = Path(args.keep or tempfile.mkdtemp(prefix="edgekit-int8-recipes-"))
    aug_col = " | 6 variants, pooled" if args.aug else ""
    print("| route | recipe | " + " | ".join(f"half {s.name}" for s in splits) + f" | pooled{aug_col} | export s/half |")
    print("|---|---|" + "---|" * len(splits) + "---|---|" + ("---|" if args.aug else ""))
    for run in args.runs:
        route, recipe = run.split(":", 1)
        fn, kw = RECIPES[route][recipe]
        parts, secs, augs = [], [], []
        for s in splits:
            d = out / f"{route}_{recipe}_{s.name}"
            d.mkdir(parents=True, exist_ok=True)
            ev.say(f"{route}:{recipe} half {s.name}")
            t = ev.Timer()
            made = d / "made.txt"
            if args.reuse and made.is_file():
                path, sec = made.read_text().split("\n")[:2]
                path, sec = Path(path), float(sec)
            else:
                path = fn(copy_loaded(loaded), s, d, **kw)
                sec = t()
                made.write_text(f"{path}\n{sec}\n")
            secs.append(sec)
            parts.append(ev.figures(s.reference, ev.run_file(path, s.evalset.arrays)))
            if args.aug:
                augs.append(ev.figures(s.aug_reference, ev.run_file(path, s.aug)))
            ev.say(f"  {ev.fmt(parts[-1])} ({secs[-1]:.0f} s) flipped {[s.evalset.names[i] for i in parts[-1]['flipped']]}")
        cells = " | ".join(ev.fmt(p) for p in parts)
        pool = ev.fmt(ev.pooled(parts)) if len(parts) > 1 else ""
        if args.aug:
            pool += " | " + ev.fmt(ev.pooled(augs))
        print(f"| {route} | {recipe} | {cells} | {pool} | {' / '.join(f'{x:.0f}' for x in secs)} |", flush=True)
        if args.floors and len(parts) > 1:
            print(f"  floors of tests/int8_pooled.py: {floor_verdict(route, ev.pooled(parts))}", flush=True)


def floor_verdict(route: str, f: dict) -> str:
    """Which of the int8 tests' floors (agreement, cosine, SQNR) these pooled figures clear."""
    import numpy as np

    sys.path.insert(0, str(ev.REPO / "tests"))
    from int8_pooled import FLOORS

    floor = FLOORS["litert-torch" if route == "litert" else route]
    sqnr = 10 * np.log10(f["signal"] / f["noise"])
    checks = [("agreement", f["agree"], floor.agree), ("cosine", f["cos"].mean(), floor.cosine),
              ("SQNR", sqnr, floor.sqnr_db)]
    failed = [f"{name} {got:.4g} < {want}" for name, got, want in checks if got < want]
    return "FAILS (" + "; ".join(failed) + ")" if failed else "passes"


def copy_loaded(loaded):
    return replace(loaded, module=copy.deepcopy(loaded.module))


if __name__ == "__main__":
    main()
