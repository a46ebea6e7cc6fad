"""The Paddle forward of a test model, in a process of its own (test_paddle.py runs it).

PaddlePaddle 3 crashes (SIGSEGV in paddle/base/core.py) when it is imported into a process that
has already loaded TensorFlow, as the pytest process has by then; Paddle first, then TF, works.
So the tests never import paddle themselves.

    python tests/paddle_forward.py zoo:mobilenet_v1 WEIGHTS X.npy OUT.npy
    python tests/paddle_forward.py factory:build_mobilenet_v1 - X.npy OUT.npy
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def build(spec: str, weights: str):
    kind, name = spec.split(":", 1)
    if kind == "zoo":
        from edgekit.zoo import get_model
        from edgekit.zoo.paddle import paddle_twin

        return paddle_twin(get_model(name, Path(weights)))[0]
    import paddle_factories

    return getattr(paddle_factories, name)()


def main(spec: str, weights: str, x_path: str, out_path: str) -> None:
    import paddle

    layer = build(spec, weights)
    layer.eval()
    with paddle.no_grad():
        out = layer(paddle.to_tensor(np.load(x_path))).numpy()
    np.save(out_path, out)


if __name__ == "__main__":
    main(*sys.argv[1:5])
