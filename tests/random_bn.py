"""Random but non-trivial BatchNorm statistics for random-init zoo models in tests.

torchvision's init leaves BN at identity, so many models output near-constant logits
(MobileNetV1: a range of 1e-17) and a relative check against them would prove nothing."""
from __future__ import annotations


def randomize_statistics(module, seed: int = 1) -> None:
    """BN running mean/var, scale and shift drawn from ``seed``; Linear weights scaled to 1/sqrt(fan-in)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
                m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.copy_(torch.randn(c, generator=g) * 0.1)
            elif isinstance(m, torch.nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) / m.in_features ** 0.5)
