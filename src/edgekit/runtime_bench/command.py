"""The one place runner.py's command line is built (host bench, device bench, validation)."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

from . import runner
from .engines import EngineSpec

RUNNER = Path(runner.__file__)
REFERENCE = [sys.executable, "-m", "edgekit.runtime_bench.reference_runner"]  # torch: host only
_QUICK = ["--warmup", "0", "--warmup-seconds", "0", "--min-runs", "1", "--min-seconds", "0", "--no-times"]


def runner_argv(program: list[str], model: str, threads: int, json_out: str, spec: Optional[EngineSpec] = None,
                cfg=None, inputs: Optional[str] = None, outputs: Optional[str] = None) -> list[str]:
    """``program`` (e.g. [python, runner.py]) timing ``model`` with ``spec``'s backend; ``cfg``: a
    BenchConfig's warm-up and minimums (None: one run, outputs only); ``inputs``/``outputs``: .npy
    samples to run once and where their outputs go."""
    argv = [*program, "--model", str(model)]
    if spec is not None:
        argv += ["--engine", spec.backend]
    argv += ["--threads", str(threads), "--json-out", str(json_out)]
    if cfg is None:
        argv += _QUICK
    else:
        argv += ["--warmup", str(cfg.warmup_runs), "--warmup-seconds", str(cfg.warmup_seconds),
                 "--min-runs", str(cfg.min_runs), "--min-seconds", str(cfg.min_seconds),
                 "--max-seconds", str(cfg.max_seconds)] + ([] if cfg.keep_times else ["--no-times"])
    if spec is not None and spec.precision_hint:
        argv += ["--precision-hint", spec.precision_hint]
    if inputs:
        argv += ["--input-npy", str(inputs), "--output-npy", str(outputs)]
    return argv


def host_env() -> dict:
    """The environment of a runner process on this host: TF's C++ logs down, this edgekit importable
    (reference_runner runs as ``-m edgekit...``, also from a source tree)."""
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    return env
