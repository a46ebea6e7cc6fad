"""BatchNorm folding for every zoo model: no BN left, outputs unchanged, none in the ONNX file."""
from __future__ import annotations

import pytest
import torch

from edgekit.fold_bn import fold_batchnorm
from edgekit.zoo import get_model, list_models

SIZE = 64


def _randomize_bn(module) -> None:
    """Untrained BNs are identities; give them real statistics so folding is actually tested."""
    g = torch.Generator().manual_seed(0)
    for m in module.modules():
        if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.BatchNorm1d)):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


@pytest.mark.parametrize("name", list_models())
def test_fold_keeps_outputs_and_removes_every_batchnorm(name):
    loaded = get_model(name)
    _randomize_bn(loaded.module)
    x = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    n_bn = sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in loaded.module.modules())
    folded, report = fold_batchnorm(loaded.module, x)
    assert report.folded == n_bn  # SqueezeNet has none
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in folded.modules())
    with torch.no_grad():
        ref, got = loaded.module(x), folded(x)
    rng = float(ref.max() - ref.min())
    assert float((ref - got).abs().max()) <= 1e-4 * rng
    assert report.relative_diff <= 1e-4


@pytest.mark.parametrize("name", list_models())
def test_onnx_export_has_no_batchnorm_node(name, tmp_path):
    import onnx

    from edgekit.formats.onnx import export_torch_to_onnx

    loaded = get_model(name)
    folded, _ = fold_batchnorm(loaded.module, torch.randn(1, 3, SIZE, SIZE))
    path = tmp_path / f"{name}.onnx"
    export_torch_to_onnx(folded, (1, 3, SIZE, SIZE), path)
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert "BatchNormalization" not in ops
    assert "Conv" in ops


def test_fold_refuses_when_outputs_would_change():
    """A conv whose output also feeds something besides its BN cannot be folded silently."""
    from edgekit.errors import UnsupportedError

    class Branchy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
            self.bn = torch.nn.BatchNorm2d(4)

        def forward(self, x):
            y = self.conv(x)
            return self.bn(y) + y

    m = Branchy().eval()
    _randomize_bn(m)
    with pytest.raises(UnsupportedError, match="changed the outputs"):
        fold_batchnorm(m, torch.randn(1, 3, 8, 8))
