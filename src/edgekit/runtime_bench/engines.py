"""Engines: one table of records, and files run in this process through runner.py's backends.

The device runner's backends are edgekit's only runtime code: bench runs them in fresh
processes (measure.py, devices/), validation drives them here through ``FileEngine``, a thin
adapter that takes and returns float32 NCHW batches (int8 I/O and NHWC handled by the
backend and ``runner.model_layout``), so validation never branches on format.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from .._quiet import captured_stderr
from .._registry import Registry
from ..errors import ConfigError, DeviceError, MissingDependencyError
from ..formats import FORMATS, format_of
from . import runner


@dataclass(frozen=True)
class EngineSpec:
    name: str  # what --engine and results call it
    backend: str  # runner.py's --engine (a class in runner.BACKENDS)
    formats: tuple[str, ...]  # the formats it runs
    precision_hint: Optional[str] = None  # runner.py's --precision-hint

    @property
    def runtimes(self) -> tuple[tuple[str, str], ...]:
        """(module, pip names) of the runtimes it can use, best first."""
        return runner.BACKENDS[self.backend].runtimes

    @property
    def extra(self) -> str:
        return runner.BACKENDS[self.backend].extra


ENGINES: Registry[EngineSpec] = Registry("engine")
for _spec in (
    EngineSpec("onnxruntime", "onnxruntime", ("onnx",)),
    EngineSpec("litert", "litert", ("tflite",)),
    # f32 forced: on CPUs with bf16 the plugin would run an "fp32" model in bf16 (top-1 67% here)
    EngineSpec("openvino", "openvino", ("openvino", "onnx"), precision_hint="f32"),
    EngineSpec("openvino-bf16", "openvino", ("openvino", "onnx"), precision_hint="bf16"),
    EngineSpec("executorch", "executorch", ("executorch",)),
    EngineSpec("ncnn", "ncnn", ("ncnn",)),
):
    ENGINES.register(_spec.name, _spec)


def engine_for(path: Path, engine: Optional[str] = None) -> EngineSpec:
    """The engine that runs ``path``: ``engine`` if given (checked), else its format's default."""
    path = Path(path)
    fmt = format_of(path)
    spec = ENGINES.get(engine or FORMATS.get(fmt).default_engine)
    if fmt not in spec.formats:
        raise ConfigError(f"Engine {spec.name} cannot run {fmt} files ('{path.name}'); it runs: {', '.join(spec.formats)}")
    return spec


def check_runtime(engine: str) -> None:
    """Refuse an engine whose runtime is not installed here, naming the extra, before any process starts."""
    spec = ENGINES.get(engine)
    if not any(importlib.util.find_spec(m) for m, _ in spec.runtimes):
        raise MissingDependencyError(
            f"The {spec.backend} runtime is not installed (needed for engine {engine}). "
            f"Install it with: pip install 'edgekit[{spec.extra}]'")


def runner_error(kind: Optional[str], message: str, default=DeviceError):
    """The EdgekitError for a runner.py error kind (``usage``, ``missing_runtime``, ``runtime``)."""
    return {"missing_runtime": MissingDependencyError, "usage": ConfigError}.get(kind, default)(message)


class FileEngine:
    """A model file run in this process by runner.py's backend for ``spec``."""

    def __init__(self, path: Path, spec: EngineSpec, threads: int = 1) -> None:
        self.name = spec.name
        try:
            with captured_stderr():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
                self.backend, _ = runner.open_backend(str(path), spec.backend, threads, spec.precision_hint or "f32")
        except runner.RunnerError as exc:
            raise runner_error(exc.kind, str(exc), ConfigError) from None  # a file its runtime refuses
        self.runtime_version = self.backend.runtime_version
        self.precision_hint = getattr(self.backend, "precision_hint", None)

    def run(self, x: np.ndarray) -> np.ndarray:
        """(N, C, H, W) float32 -> (N, ...) float32, one sample per run (files are timed at batch 1)."""
        try:
            samples, _ = runner.model_layout(np.asarray(x, np.float32), self.backend.shape)
            outs = []
            for sample in samples:
                self.backend.prepare(sample)
                self.backend.run_once()
                outs.append(self.backend.output())
        except runner.RunnerError as exc:
            raise runner_error(exc.kind, str(exc), ConfigError) from None
        return np.concatenate(outs)

    def close(self) -> None:
        self.backend = None

    def __enter__(self) -> "FileEngine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_engine(path: Path, engine: Optional[str] = None, threads: int = 1) -> FileEngine:
    return FileEngine(Path(path), engine_for(path, engine), threads)
