"""The float reference: the model itself before export (a torch module or a Keras model), float32
NCHW batches in like every engine (Keras gets them transposed to NHWC here)."""
from __future__ import annotations

import numpy as np


class ReferenceEngine:
    def __init__(self, name: str, runtime_version: str, forward, batch: int = 16) -> None:
        self.name, self.runtime_version, self.batch = name, runtime_version, batch
        self._forward = forward  # one float32 NCHW batch -> numpy outputs

    def run(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        return np.concatenate([self._forward(np.ascontiguousarray(x[i:i + self.batch]))
                               for i in range(0, len(x), self.batch)])

    def close(self) -> None:
        pass

    def __enter__(self) -> "ReferenceEngine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def torch_reference(module, threads: int | None = None, batch: int = 16) -> ReferenceEngine:
    import torch

    try:
        module.eval()
    except NotImplementedError:  # torch.export modules keep the mode they were exported in
        pass
    if threads:
        torch.set_num_threads(threads)

    def forward(x):
        with torch.no_grad():
            return module(torch.from_numpy(x)).numpy()

    return ReferenceEngine("torch", torch.__version__, forward, batch)


def keras_reference(model, batch: int = 16) -> ReferenceEngine:
    import keras

    def forward(x):
        out = model(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), training=False)
        return np.asarray(next(iter(out.values())) if isinstance(out, dict) else out)

    return ReferenceEngine("keras", keras.__version__, forward, batch)


def reference_engine(loaded) -> ReferenceEngine:
    """Wrap a LoadedModel's float model: its torch module, or its Keras model (framework "keras")."""
    if loaded.framework == "keras":
        return keras_reference(loaded.module)
    # torch.export graphs are specialised to the example's batch size (1).
    static = loaded.notes.get("user_model_kind") == "exported_program"
    return torch_reference(loaded.module, batch=1 if static else 16)
