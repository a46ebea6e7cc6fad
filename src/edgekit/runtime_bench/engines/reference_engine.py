"""The float reference: the PyTorch module itself (before export), in float32."""
from __future__ import annotations

import numpy as np


class TorchReferenceEngine:
    name = "torch"

    def __init__(self, module, threads: int | None = None) -> None:
        import torch

        self.runtime_version = torch.__version__
        self.module = module.eval()
        if threads:
            torch.set_num_threads(threads)

    def run(self, x: np.ndarray, batch: int = 16) -> np.ndarray:
        import torch

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
    return TorchReferenceEngine(loaded.module)
