"""ONNX Runtime engine (CPU execution provider)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..._optional import require
from ...errors import ConfigError, one_line
from .base import ENGINES


class OnnxRuntimeEngine:
    name = "onnxruntime"

    def __init__(self, path: Path, threads: int = 1, optimized_model_path: Path | None = None) -> None:
        ort = require("onnxruntime", extra="onnx")
        self.runtime_version = ort.__version__
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if optimized_model_path is not None:
            opts.optimized_model_filepath = str(optimized_model_path)
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph types
            raise ConfigError(f"onnxruntime cannot load '{path}': {one_line(exc)}") from None
        self.input_name = self.session.get_inputs()[0].name

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(x, np.float32)})[0]

    def close(self) -> None:
        self.session = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


ENGINES.register("onnxruntime", OnnxRuntimeEngine)
