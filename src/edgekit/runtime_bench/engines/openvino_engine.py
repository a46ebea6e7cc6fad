"""OpenVINO engine (CPU plugin) for .xml IR and .onnx files: "openvino" (f32) and "openvino-bf16".

"openvino" forces INFERENCE_PRECISION_HINT=f32: on CPUs with bf16 support the plugin would
otherwise run an fp32 model in bf16 (measured here: cosine 0.98, top-1 agreement 67% vs
torch). bf16 is its own engine so it is never mistaken for fp32. The plugin properties come
from runner.openvino_config, so accuracy and latency runs are configured identically.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..._optional import require
from ...errors import ConfigError, one_line
from ..runner import openvino_config
from .base import ENGINES


class OpenVINOEngine:
    def __init__(self, path: Path, threads: int = 1, precision_hint: str = "f32") -> None:
        ov = require("openvino", extra="openvino")
        self.name = "openvino" if precision_hint == "f32" else f"openvino-{precision_hint}"
        self.runtime_version = ov.get_version()
        core = ov.Core()
        try:
            model = core.read_model(str(path))
            port = model.input(0)
            if port.get_partial_shape().is_dynamic:  # one image at a time, as the latency runs
                model.reshape({port.get_any_name(): [d.get_length() if d.is_static else 1
                                                      for d in port.get_partial_shape()]})
            self.compiled = core.compile_model(model, "CPU", openvino_config(threads, precision_hint))
        except Exception as exc:  # OpenVINO raises RuntimeError/GeneralFailure for bad files
            raise ConfigError(f"openvino cannot load '{path}': {one_line(exc)}") from None
        self.precision_hint = self.compiled.get_property("INFERENCE_PRECISION_HINT").to_string()
        self.request = self.compiled.create_infer_request()

    def run(self, x: np.ndarray) -> np.ndarray:
        outs = []
        for sample in np.ascontiguousarray(x, np.float32):
            self.request.infer({0: sample[None]})
            outs.append(np.array(self.request.get_output_tensor(0).data, dtype=np.float32))
        return np.concatenate(outs)

    def close(self) -> None:
        self.request = self.compiled = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


ENGINES.register("openvino", lambda path, threads=1, **kw: OpenVINOEngine(path, threads, "f32"))
ENGINES.register("openvino-bf16", lambda path, threads=1, **kw: OpenVINOEngine(path, threads, "bf16"))
