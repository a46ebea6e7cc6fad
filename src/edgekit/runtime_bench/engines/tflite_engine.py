"""TFLite engine ("litert"): ai_edge_litert, else tflite_runtime, else tensorflow.lite.

Float32 NCHW at the boundary like every engine: an NHWC file gets its input transposed
here, and int8/uint8/int16 inputs and outputs are (de)quantized here with the file's own
scale and zero point. Imports only numpy and the runtime, so the device-side runner can
use it (tflite_runtime is there for old Raspberry Pi images with numpy 1).
"""
from __future__ import annotations

import contextlib
import importlib
import os
import re
from pathlib import Path

import numpy as np

from ...errors import ConfigError, MissingDependencyError, UnsupportedError
from .base import ENGINES

RUNTIMES = (("ai_edge_litert.interpreter", "ai_edge_litert"),
            ("tflite_runtime.interpreter", "tflite_runtime"),
            ("tensorflow.lite", "tensorflow"))


def load_interpreter_module():
    """(Interpreter class, runtime name, version) from the first runtime that imports."""
    for mod_name, dist in RUNTIMES:
        try:
            mod = importlib.import_module(mod_name)
        except ImportError:
            continue
        version = getattr(importlib.import_module(dist), "__version__", "?")
        return mod.Interpreter, dist, version
    raise MissingDependencyError("No TFLite runtime found (ai-edge-litert, tflite-runtime or tensorflow). "
                                 "Install it with: pip install 'edgekit[tflite]'")


class TfliteEngine:
    name = "litert"

    def __init__(self, path: Path, threads: int = 1, **_kw) -> None:
        Interpreter, self.runtime, self.runtime_version = load_interpreter_module()
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"File '{path}' does not exist")
        try:
            with _quiet_fd2():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
                self.interp = Interpreter(model_path=str(path), num_threads=threads)
                self.interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise _load_error(path, exc) from None
        self.input = self.interp.get_input_details()[0]
        self.outputs = self.interp.get_output_details()

    def run(self, x: np.ndarray) -> np.ndarray:
        """(N, C, H, W) float32 -> (N, ...) float32, one sample per invoke (the file has batch 1)."""
        x = np.asarray(x, np.float32)
        shape = tuple(self.input["shape"])
        if len(shape) == 4 and x.ndim == 4 and x.shape[1:] != shape[1:] \
                and (x.shape[2], x.shape[3], x.shape[1]) == shape[1:]:
            x = x.transpose(0, 2, 3, 1)  # NCHW feeds for an NHWC file
        if x.shape[1:] != shape[1:]:
            raise ConfigError(f"Input shape {x.shape[1:]} does not fit the file's input {list(shape)}")
        outs = []
        for sample in x:
            self.interp.set_tensor(self.input["index"], _quantize(sample[None], self.input))
            self.interp.invoke()
            outs.append(_dequantize(self.interp.get_tensor(self.outputs[0]["index"]), self.outputs[0]))
        return np.concatenate(outs)

    def invoke(self) -> None:
        """One inference on whatever input is set (for latency loops)."""
        self.interp.invoke()

    def close(self) -> None:
        self.interp = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@contextlib.contextmanager
def _quiet_fd2():
    """Silence the runtime's C++ INFO line on stderr while an interpreter is created."""
    try:
        saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except OSError:
        yield
        return
    os.dup2(null, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    dtype = detail["dtype"]
    if dtype == np.float32:
        return np.ascontiguousarray(x, np.float32)
    scale, zero = detail["quantization"]
    if not scale:
        raise UnsupportedError(f"Input '{detail['name']}' is {np.dtype(dtype).name} without quantization parameters")
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero, info.min, info.max).astype(dtype)


def _dequantize(y: np.ndarray, detail: dict) -> np.ndarray:
    if y.dtype == np.float32:
        return y.copy()
    scale, zero = detail["quantization"]
    if not scale:
        return y.astype(np.float32)
    return (y.astype(np.float32) - zero) * scale


def _load_error(path: Path, exc: Exception) -> Exception:
    text = str(exc)
    custom = sorted(set(re.findall(r"unresolved custom op: (\w+)", text, flags=re.I)))
    if custom:
        return UnsupportedError(
            f"'{path.name}' uses custom operator(s) {', '.join(custom)} that this TFLite runtime does not "
            "provide; run it where those ops are registered (`edgekit inspect` lists them)")
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(exc).__name__)
    return ConfigError(f"TFLite runtime cannot load '{path.name}': {first[:200]}")


ENGINES.register("litert", TfliteEngine)
