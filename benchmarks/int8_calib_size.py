"""What holding out part of --calib costs: int8 accuracy against the number of calibration photos.

    PYTHONPATH=src python benchmarks/int8_calib_size.py ROUTE:RECIPE [...] [--folds 4]

The 78 photos are cut into 4 folds by name hash. Each fold in turn is the evaluation set
(never calibrated on); the file is calibrated on 1, 2 or all 3 of the other folds (about 19,
39 and 58 photos; every combination), so each photo is judged once per combination and size.
Also prints the in-sample figure of the 3-fold files (judged on their own calibration photos):
what a default that calibrates on everything and evaluates on the same photos would show.
"""
from __future__ import annotations

import argparse
import itertools
import tempfile
from pathlib import Path

import _int8_eval as ev
from _int8_routes import RECIPES
from int8_recipes import copy_loaded


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--keep")
    args = ap.parse_args()
    loaded = ev.folded_mobilenet()
    images = ev.photos(loaded.card)
    folds = ev.kfolds(loaded, args.folds, images)
    out = Path(args.keep or tempfile.mkdtemp(prefix="edgekit-int8-calib-size-"))
    print("| route | recipe | calibration photos | runs | held-out (pooled per run) | in-sample |")
    print("|---|---|---|---|---|---|")
    for run in args.runs:
        route, recipe = run.split(":", 1)
        fn, kw = RECIPES[route][recipe]
        by_size: dict[int, list] = {}
        insample = []
        for k, held in enumerate(folds):
            evalset = images.subset(held)
            ref = ev.reference(loaded.module, evalset.arrays)
            others = [i for i in range(len(folds)) if i != k]
            for size in range(1, len(others) + 1):
                for combo in itertools.combinations(others, size):
                    names = [n for i in combo for n in folds[i]]
                    calib = images.subset([n for n in images.names if n in set(names)])
                    tag = f"k{k}c{''.join(map(str, combo))}"
                    split = ev.Split(tag, calib, evalset, ref)
                    d = out / f"{route}_{recipe}_{tag}"
                    d.mkdir(parents=True, exist_ok=True)
                    ev.say(f"{run} eval fold {k}, calibration folds {combo} ({len(calib)} photos)")
                    path = fn(copy_loaded(loaded), split, d, **kw)
                    f = ev.figures(ref, ev.run_file(path, evalset.arrays))
                    by_size.setdefault(size, []).append((len(calib), f))
                    ev.say(f"  {ev.fmt(f)}")
                    if size == len(others):
                        cref = ev.reference(loaded.module, calib.arrays)
                        insample.append(ev.figures(cref, ev.run_file(path, calib.arrays)))
        for size, rows in sorted(by_size.items()):
            n_cal = sorted({c for c, _ in rows})
            pool = ev.pooled([f for _, f in rows])
            ins = ev.fmt(ev.pooled(insample)) if size == len(folds) - 1 else ""
            print(f"| {route} | {recipe} | {'/'.join(map(str, n_cal))} | {len(rows)} | {ev.fmt(pool)} | {ins} |", flush=True)


if __name__ == "__main__":
    main()
