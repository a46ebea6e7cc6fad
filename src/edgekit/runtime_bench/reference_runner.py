"""Latency of the float PyTorch model, measured exactly as runner.py measures files.

    python -m edgekit.runtime_bench.reference_runner --model mobilenet_v2 [--weights W.pth]
        [runner.py's options] --json-out RESULT.json

Same loop, statistics and JSON (engine "torch"); the model is the zoo model as loaded (eager,
BatchNorm not folded: what a PyTorch user runs), under torch.inference_mode. Host only:
this one imports edgekit and torch, which is why it is not part of runner.py.
"""
from __future__ import annotations

import os
import time

import numpy as np

from . import runner


class TorchBackend:
    engine = "torch"
    runtime = "torch"

    def __init__(self, model: str, weights: str | None, threads: int) -> None:
        import torch

        from ..zoo import get_model

        torch.set_num_threads(threads)
        self.torch, self.runtime_version = torch, torch.__version__
        self.module = get_model(model, weights).module.eval()
        self.shape = list(get_model_card(model).input_shape)
        self.name, self.dtype, self.quant = "input", np.float32, None
        self.x = self.out = None

    def prepare(self, x: np.ndarray) -> None:
        self.x = self.torch.from_numpy(np.ascontiguousarray(x, np.float32))

    def run_once(self) -> None:
        with self.torch.inference_mode():
            self.out = self.module(self.x)

    def output(self) -> np.ndarray:
        return self.out.numpy().astype(np.float32)


def get_model_card(name: str):
    from ..zoo import MODELS

    return MODELS.get(name)


def open_torch(args):
    if args.threads < 1:
        raise runner.RunnerError("--threads must be >= 1", "usage")
    t0 = time.perf_counter()
    try:
        import torch  # noqa: F401
    except ImportError:
        raise runner.RunnerError("torch is not installed; install torch==2.13.0 (see README)", "missing_runtime")
    t1 = time.perf_counter()
    try:
        backend = TorchBackend(args.model, args.weights, args.threads)
    except Exception as exc:  # EdgekitError (unknown model, bad weights) and torch errors alike
        raise runner.RunnerError(f"cannot build {args.model}: {exc}", "usage")
    t2 = time.perf_counter()
    files = [args.weights] if args.weights and os.path.isfile(args.weights) else []
    return backend, {"engine": "torch", "import_ms": (t1 - t0) * 1e3, "load_ms": (t2 - t1) * 1e3, "files": files}


def main(argv=None) -> int:
    parser = runner.make_parser()
    parser.add_argument("--weights")
    return runner.main(argv, parser=parser, opener=open_torch)


if __name__ == "__main__":
    raise SystemExit(main())
