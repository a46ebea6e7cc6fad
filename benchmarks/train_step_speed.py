"""Images/s of one training step (forward + backward + SGD update) per zoo architecture and
input size, on random inputs: what plans the epochs of train_zoo_fashion_mnist.py.

    PYTHONPATH=src python benchmarks/train_step_speed.py --sizes 32,48,64 --threads 1 [--models a,b]
"""
from __future__ import annotations

import argparse
import json
import time

import torch


def step_speed(name: str, size: int, batch: int, steps: int) -> float:
    from edgekit.zoo import get_model

    module = get_model(name, num_classes=10).module.train()
    opt = torch.optim.SGD(module.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, 10, (batch,))

    def one():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(module(x), y).backward()
        opt.step()

    one()  # warm-up (allocations, first-call paths)
    t0 = time.perf_counter()
    for _ in range(steps):
        one()
    return batch * steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="32,48,64")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--models", default="")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from edgekit.zoo import list_models

    names = args.models.split(",") if args.models else list_models()
    for name in names:
        for size in map(int, args.sizes.split(",")):
            try:
                ips = step_speed(name, size, args.batch, args.steps)
            except Exception as exc:  # too small an input for this architecture
                print(json.dumps({"model": name, "size": size, "error": str(exc)[:120]}), flush=True)
                continue
            print(json.dumps({"model": name, "size": size, "threads": args.threads,
                              "images_per_s": round(ips, 1)}), flush=True)


if __name__ == "__main__":
    main()
