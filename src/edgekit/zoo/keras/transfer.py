"""Copy PyTorch weights into a Keras twin exactly, by layer name, and prove it numerically.

Layouts: Conv2d (O, I/g, kh, kw) -> Conv2D (kh, kw, I/g, O); depthwise (C*m, 1, kh, kw) ->
DepthwiseConv2D (kh, kw, C, m); Linear (O, I) -> Dense (I, O); BatchNorm2d -> gamma, beta,
moving mean, moving variance (epsilon taken from the torch module). Every torch layer
with parameters must land in exactly one Keras layer, and the twin must reproduce the
torch logits to ``TOLERANCE`` of their range, else the export stops.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ...errors import UnsupportedError, WeightsError

TOLERANCE = 1e-4  # of the logit range, as BN folding


@dataclass
class TwinReport:
    layers_copied: int
    parameters: int
    max_abs_diff: float = 0.0
    logit_range: float = 0.0

    @property
    def relative_diff(self) -> float:
        return self.max_abs_diff / max(self.logit_range, 1e-12)

    def to_dict(self) -> dict:
        return {**asdict(self), "relative_diff": self.relative_diff}


def transfer_weights(module, kmodel) -> TwinReport:
    import keras
    from torch import nn

    torch_layers = dict(module.named_modules())
    copied, params = 0, 0
    for layer in kmodel.layers:
        if not layer.weights:
            continue
        src = torch_layers.get(layer.name)
        if src is None:
            raise WeightsError(f"Keras layer '{layer.name}' has no PyTorch layer of the same name to copy from")
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            w = _np(src.weight)  # (C*m, 1, kh, kw)
            c = layer.input.shape[-1]
            values = [w.reshape(c, -1, *w.shape[2:]).transpose(2, 3, 0, 1)]
            values += _bias(layer, src)
        elif isinstance(layer, keras.layers.Conv2D):
            values = [_np(src.weight).transpose(2, 3, 1, 0)] + _bias(layer, src)
        elif isinstance(layer, keras.layers.Dense):
            values = [_np(src.weight).T] + _bias(layer, src)
        elif isinstance(layer, keras.layers.BatchNormalization):
            if not isinstance(src, nn.modules.batchnorm._BatchNorm):
                raise WeightsError(f"Keras BatchNormalization '{layer.name}' faces a {type(src).__name__} in PyTorch")
            layer.epsilon = float(src.eps)
            values = [_np(src.weight), _np(src.bias), _np(src.running_mean), _np(src.running_var)]
        else:
            raise UnsupportedError(f"Cannot copy weights into Keras layer '{layer.name}' ({type(layer).__name__})")
        try:
            layer.set_weights(values)
        except ValueError as exc:
            raise WeightsError(f"Weights of '{layer.name}' do not fit its Keras twin: {str(exc).splitlines()[0][:160]}") from None
        copied += 1
        params += sum(int(v.size) for v in values)
    expected = sum(int(p.numel()) for p in module.parameters()) + sum(
        int(b.numel()) for n, b in module.named_buffers() if n.endswith(("running_mean", "running_var")))
    if params != expected:
        raise WeightsError(f"The Keras twin took {params:,} of the model's {expected:,} weights; "
                           "some PyTorch layers have no Keras counterpart")
    return TwinReport(copied, params)


def check_twin(module, kmodel, input_shape, report: TwinReport, tolerance: float = TOLERANCE,
               seed: int = 0) -> TwinReport:
    """Run both on the same random NCHW input; raise if the twin's logits differ."""
    import torch

    x = torch.randn(1, *input_shape[1:], generator=torch.Generator().manual_seed(seed))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one sample: 2 OpenMP threads next to TF's pool only spin (26 vs 100-500 ms)
    try:
        with torch.no_grad():
            ref = module.eval()(x).numpy()
    finally:
        torch.set_num_threads(threads)
    got = np.asarray(kmodel(x.numpy().transpose(0, 2, 3, 1), training=False))
    if got.shape != ref.shape:
        raise UnsupportedError(f"The Keras twin outputs shape {got.shape}, PyTorch {ref.shape}")
    report.max_abs_diff = float(np.abs(ref - got).max())
    report.logit_range = float(ref.max() - ref.min())
    if not report.relative_diff <= tolerance:
        raise UnsupportedError(
            f"The Keras twin does not reproduce the PyTorch model (max diff {report.max_abs_diff:.3g}, "
            f"logit range {report.logit_range:.3g}); please report this model"
        )
    return report


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32)


def _bias(layer, src) -> list:
    if not layer.use_bias:
        return []
    b = getattr(src, "bias", None)
    return [_np(b) if b is not None else np.zeros(layer.weights[-1].shape, np.float32)]
