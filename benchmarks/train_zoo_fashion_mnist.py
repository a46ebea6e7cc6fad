"""Train every zoo architecture on Fashion-MNIST (Debian's dataset-fashion-mnist) with
edgekit's training library, cache the checkpoints, and report float top-1 on the 10,000 test
images. Resumable: a finished architecture is skipped, an interrupted one resumes from its
``.resume`` file. Weights are never downloaded.

    PYTHONPATH=src python benchmarks/train_zoo_fashion_mnist.py [--workers 2] [--models a,b]
        [--cache ~/.cache/edgekit/trained/fashion_mnist]

Each architecture trains in its own process with ``torch.set_num_threads(1)``: on this 2-core
machine shared with other work, two single-thread processes beat one two-thread process (2
threads measured 15 img/s vs 86 for 1 thread on MobileNetV2 at 32 px with the machine loaded).
Per-architecture logs: CACHE/logs/ARCH.log; results: CACHE/ARCH.json and CACHE/summary.md.
A run of several hours should keep CACHE on a disk that outlives the machine (EDGEKIT_TRAINED_CACHE):
a whole cache in ~/.cache was once lost with a replaced machine (docs/TRAINING.md).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_CACHE = Path(os.environ.get("EDGEKIT_TRAINED_CACHE", "~/.cache/edgekit/trained/fashion_mnist")).expanduser()
VAL_FRACTION = 1 / 30  # 2,000 of the 60,000 training images validate each epoch (split by name)

# arch -> input size, epochs, batches per epoch (None: all 58,000 training images), start
# from, peak learning rate (default: TrainConfig's).
# 32 px (Fashion-MNIST is 28 px) keeps an epoch within minutes for the mobile nets; planned
# from benchmarks/train_step_speed.py (images/s of a training step, 1 thread).
# MobileNetV1 0.25 reached 79.8% validation top-1 after 3 of 6 epochs (5e-3): later entries got
# more epochs (about 2.5 h for all on two idle cores; far longer on a loaded machine).
PLAN = {  # cheapest first, so that a session cut short still finishes most of them
    # 32 px x 6 epochs gave MobileNetV1 0.25 84.97% test top-1; one epoch at 64 px instead of
    # 32 px gave +7 points on MobileNetV1 0.25 and V2: 48 px for every mobile net.
    "mobilenet_v1_0_25": dict(size=48, epochs=12, steps=None),
    "squeezenet1_1": dict(size=48, epochs=10, steps=None, lr=2e-3),  # no BatchNorm: the gentler rate
    "shufflenet_v2_x0_5": dict(size=48, epochs=10, steps=None),
    "squeezenet1_0": dict(size=48, epochs=10, steps=None, lr=2e-3),
    "mobilenet_v1_0_5": dict(size=48, epochs=10, steps=None),
    "mobilenet_v3_small": dict(size=48, epochs=8, steps=None),
    "shufflenet_v2_x1_0": dict(size=48, epochs=8, steps=None),
    "shufflenet_v1_g2": dict(size=48, epochs=8, steps=None),
    "shufflenet_v1_g3": dict(size=48, epochs=8, steps=None),
    "mobilenet_v1": dict(size=48, epochs=8, steps=None),
    "mobilenet_v2": dict(size=48, epochs=8, steps=None),
    "mobilenet_v3_large": dict(size=48, epochs=8, steps=None),
    # 32 px x 2 epochs gave 85.56% (< 88%): at 32 px its output stride of 32 leaves a 1x1 map, and
    # the mobile nets gained ~7 points from 32 to 48 px. 16.1 img/s at 48 px: ~1 h per epoch idle.
    "xception": dict(size=48, epochs=3, steps=None),
    # same layers as xception, dilated: fine-tuned from the xception checkpoint (7.6 img/s)
    "xception_os8": dict(size=32, epochs=1, steps=300, init="xception"),
}


def checkpoint_of(cache: Path, arch: str) -> Path:
    return cache / f"{arch}_{PLAN[arch]['size']}px.pt"


def train_one(arch: str, cache: Path) -> dict:
    """Train (or resume, or skip) one architecture in this process; test top-1 on 10,000 images."""
    import torch

    torch.set_num_threads(1)
    from edgekit.data.fashion_mnist import CLASSES, read_fashion_mnist
    from edgekit.train import LabelledImages, TrainConfig, evaluate, train
    from edgekit.zoo import MODELS, get_model
    from edgekit.zoo.card import Preprocess

    plan = PLAN[arch]
    size = plan["size"]
    base = MODELS.get(arch).preprocess
    pre = Preprocess(crop=size, resize=size, mean=base.mean, std=base.std, color=base.color)
    x, y, names = read_fashion_mnist("train", size)
    data = LabelledImages(x, y, names, CLASSES, "fashion-mnist (Debian dataset-fashion-mnist) train")
    weights = checkpoint_of(cache, plan["init"]) if plan.get("init") else None
    config = TrainConfig(epochs=plan["epochs"], steps_per_epoch=plan["steps"], lr=plan.get("lr"),
                         val_fraction=VAL_FRACTION)
    out = checkpoint_of(cache, arch)

    def log(m):
        print(m, file=sys.stderr, flush=True)

    t0 = time.time()
    from edgekit.errors import ConfigError

    try:
        result = train(arch, data, out, pre, config, weights=weights, progress=log)
    except ConfigError as exc:  # the plan changed since that file was written: train anew
        log(f"{arch}: {exc}; the plan changed, training again")
        result = train(arch, data, out, pre, config, weights=weights, restart=True, progress=log)
    xt, yt, nt = read_fashion_mnist("test", size)
    test = LabelledImages(xt, yt, nt, CLASSES, "fashion-mnist test")
    top1, _ = evaluate(get_model(arch, out).module, test, pre)
    doc = {"model": arch, "plan": plan, "input_size": size, "epochs": plan["epochs"], "steps_per_epoch": plan["steps"],
           "init": plan.get("init", "scratch"), "train_seconds": result.seconds, "val_top1": result.val_top1,
           "test_top1": top1, "test_images": len(test), "checkpoint": str(out), "threads": 1,
           "wall_seconds_this_run": round(time.time() - t0, 1)}
    (cache / f"{arch}.json").write_text(json.dumps(doc, indent=2) + "\n")
    log(f"{arch}: test top-1 {top1:.2%} on {len(test)} images, trained in {result.seconds:.0f} s")
    return doc


def _done(cache: Path, arch: str) -> bool:
    """Trained with the current plan (a changed plan trains that architecture again)."""
    path = cache / f"{arch}.json"
    return path.is_file() and json.loads(path.read_text()).get("plan", PLAN[arch]) == PLAN[arch]


def run_all(models: list[str], cache: Path, workers: int) -> None:
    """Run each architecture as `python THIS --one ARCH` (argv list), ``workers`` at a time."""
    (cache / "logs").mkdir(parents=True, exist_ok=True)
    pending = [m for m in models if not _done(cache, m)]
    running: dict[str, subprocess.Popen] = {}
    failed: list[str] = []
    while pending or running:
        for arch, proc in list(running.items()):
            if proc.poll() is not None:
                del running[arch]
                print(f"{arch}: {'done' if proc.returncode == 0 else f'failed ({proc.returncode})'}", flush=True)
                if proc.returncode:
                    failed.append(arch)
        ready = [m for m in pending if not PLAN[m].get("init") or _done(cache, PLAN[m]["init"])
                 or PLAN[m]["init"] in failed]
        while ready and len(running) < workers:
            arch = ready.pop(0)
            pending.remove(arch)
            if PLAN[arch].get("init") in failed:
                failed.append(arch)
                continue
            log = open(cache / "logs" / f"{arch}.log", "a")
            print(f"{arch}: training ({PLAN[arch]}), log {log.name}", flush=True)
            running[arch] = subprocess.Popen([sys.executable, __file__, "--one", arch, "--cache", str(cache)],
                                             stdout=log, stderr=subprocess.STDOUT)
        time.sleep(5)
    write_summary(models, cache)


def write_summary(models: list[str], cache: Path) -> None:
    rows = [json.loads((cache / f"{m}.json").read_text()) for m in models if (cache / f"{m}.json").is_file()]
    lines = ["| model | input | epochs | init | train time | val top-1 | test top-1 (10,000) |",
             "|---|---:|---:|---|---:|---:|---:|"]
    for r in rows:
        ep = f"{r['epochs']}" + (f" x {r['steps_per_epoch']} batches" if r.get("steps_per_epoch") else "")
        lines.append(f"| {r['model']} | {r['input_size']} | {ep} | {r['init']} | {r['train_seconds'] / 60:.1f} min | "
                     f"{100 * r['val_top1']:.2f}% | {100 * r['test_top1']:.2f}% |")
    (cache / "summary.md").write_text("\n".join(lines) + "\n")
    (cache / "summary.json").write_text(json.dumps(rows, indent=2) + "\n")
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--models", default="", help="comma-separated; default: every planned architecture")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    if args.one:
        train_one(args.one, args.cache)
        return
    models = args.models.split(",") if args.models else list(PLAN)
    unknown = [m for m in models if m not in PLAN]
    if unknown:
        sys.exit(f"error: no training plan for {', '.join(unknown)}; planned: {', '.join(PLAN)}")
    run_all(models, args.cache, args.workers)


if __name__ == "__main__":
    main()
