"""Per-layer summary: parameter and MAC counts, checked against torchvision's numbers and by hand."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
from torch import nn  # noqa: E402

from edgekit.errors import ConfigError  # noqa: E402
from edgekit.zoo import get_model  # noqa: E402
from edgekit.zoo.summary import format_summary_table, summarize  # noqa: E402


def _tiny() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),          # 8*8*8 out x 3*9     = 13,824
        nn.BatchNorm2d(8), nn.ReLU(),           # not counted
        nn.Conv2d(8, 8, 3, padding=1, groups=8),  # depthwise: 512 x 9 = 4,608
        nn.Conv2d(8, 4, 1, groups=2),           # grouped: 256 x 4    = 1,024
        nn.Flatten(), nn.Linear(256, 10),       # 2,560
    ).eval()


TINY_MACS = 13_824 + 4_608 + 1_024 + 2_560


def test_mobilenet_v2_matches_torchvision():
    s = summarize(get_model("mobilenet_v2"))  # the card's 1x3x224x224
    assert s["input_shape"] == [1, 3, 224, 224]
    assert s["total_params"] == s["trainable_params"] == 3_504_872
    assert 295e6 < s["total_macs"] < 305e6  # torchvision: 300.77M
    assert s["macs_source"] == "layers"
    assert sum(r["params"] for r in s["rows"]) == 3_504_872
    first = s["rows"][0]
    assert first == {"name": "features.0.0", "type": "Conv2d", "output_shape": [1, 32, 112, 112],
                     "params": 864, "macs": 112 * 112 * 32 * 27}
    table = format_summary_table(s)
    assert "mobilenet_v2" in table and "3,504,872" in table and "features.18.0 (Conv2d)" in table


def test_hand_counted_macs_per_sample():
    s = summarize(_tiny(), (2, 3, 8, 8))  # batch 2: MACs stay per sample
    assert s["total_macs"] == TINY_MACS
    by_type = {r["type"]: r for r in s["rows"]}
    assert by_type["BatchNorm2d"]["macs"] == 0 and by_type["BatchNorm2d"]["params"] == 16
    assert by_type["Linear"]["output_shape"] == [2, 10]
    assert s["total_params"] == sum(p.numel() for p in _tiny().parameters())


def test_frozen_params_and_shared_modules():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1, bias=False)

        def forward(self, x):
            return self.conv(self.conv(x))

    m = Twice()
    m.conv.weight.requires_grad_(False)
    s = summarize(m, (1, 3, 4, 4))
    assert [r["params"] for r in s["rows"]] == [9, 0]  # shown once
    assert s["total_macs"] == 2 * 16 * 3 * 3  # counted per call
    assert s["total_params"] == 9 and s["trainable_params"] == 0
    assert m.training  # the mode is restored


def test_torchscript_falls_back_to_aten_count():
    s = summarize(torch.jit.script(_tiny()), (1, 3, 8, 8))
    assert s["rows"] == [] and s["total_macs"] == TINY_MACS
    assert s["macs_source"].startswith("aten")
    assert "no per-layer rows" in format_summary_table(s)


def test_errors_are_one_line():
    with pytest.raises(ConfigError, match="input_shape"):
        summarize(_tiny())
    with pytest.raises(ConfigError, match=r"failed on an input of shape \[1, 3, 16, 16\]"):
        summarize(_tiny(), (1, 3, 16, 16))  # the Linear expects 8x8
    with pytest.raises(ConfigError, match="LoadedModel or a torch.nn.Module"):
        summarize("mobilenet_v2", (1, 3, 8, 8))
