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


def reference_engine(loaded) -> TorchReferenceEngine:
    """Wrap a LoadedModel's float module (a Keras twin gets its own engine later)."""
    # torch.export graphs are specialised to the example's batch size (1).
    static = loaded.notes.get("user_model_kind") == "exported_program"
    return TorchReferenceEngine(loaded.module, batch=1 if static else 16)
