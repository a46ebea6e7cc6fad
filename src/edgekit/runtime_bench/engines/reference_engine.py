"""The float reference: the PyTorch module itself (before export), in float32."""
from __future__ import annotations

import numpy as np


class TorchReferenceEngine:
    name = "torch"

    def __init__(self, module, threads: int | None = None, batch: int = 16) -> None:
        import torch

        self.batch = batch
        self.runtime_version = torch.__version__
        self.module = module
        try:
            module.eval()
        except NotImplementedError:  # torch.export modules keep the mode they were exported in
            pass
        if threads:
            torch.set_num_threads(threads)

    def run(self, x: np.ndarray) -> np.ndarray:
        import torch

        batch = self.batch
        outs = []
        with torch.no_grad():
            for i in range(0, len(x), batch):
                outs.append(self.module(torch.from_numpy(np.ascontiguousarray(x[i:i + batch]))).numpy())
        return np.concatenate(outs)

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class KerasReferenceEngine:
    """A Keras model as the float reference: NCHW float32 in (transposed to NHWC here), like every engine."""

    name = "keras"

    def __init__(self, model) -> None:
        import keras

        self.runtime_version = keras.__version__
        self.model = model

    def run(self, x: np.ndarray, batch: int = 16) -> np.ndarray:
        outs = []
        for i in range(0, len(x), batch):
            nhwc = np.ascontiguousarray(np.asarray(x[i:i + batch], np.float32).transpose(0, 2, 3, 1))
            out = self.model(nhwc, training=False)
            if isinstance(out, dict):
                out = next(iter(out.values()))
            outs.append(np.asarray(out))
        return np.concatenate(outs)

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def reference_engine(loaded):
    """Wrap a LoadedModel's float model: its torch module, or its Keras model (framework "keras")."""
    if getattr(loaded, "framework", "torch") == "keras":
        return KerasReferenceEngine(loaded.module)
    # torch.export graphs are specialised to the example's batch size (1).
    static = loaded.notes.get("user_model_kind") == "exported_program"
    return TorchReferenceEngine(loaded.module, batch=1 if static else 16)
