"""MobileNetV2 written the way a user might, carrying torchvision's weights: a ModuleList of
blocks with named expand / depthwise / project convs, functional ReLU6, nn.AdaptiveAvgPool2d,
no Dropout module, and BatchNorm as separate attributes (so no module path matches the zoo's).

    edgekit export benchmarks._user_mobilenet:build --input-size 224 ...   (as module:factory)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SETTING = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]


class ConvUnit(nn.Module):
    def __init__(self, cin, cout, k=1, stride=1, groups=1, act=True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False)
        self.norm = nn.BatchNorm2d(cout)
        self.act = act

    def forward(self, x):
        x = self.norm(self.conv(x))
        return F.relu6(x) if self.act else x


class Block(nn.Module):
    def __init__(self, cin, cout, stride, t):
        super().__init__()
        hidden = cin * t
        self.expand = ConvUnit(cin, hidden) if t != 1 else None
        self.depthwise = ConvUnit(hidden, hidden, 3, stride, groups=hidden)
        self.project = ConvUnit(hidden, cout, act=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.expand(x) if self.expand is not None else x
        y = self.project(self.depthwise(y))
        return x + y if self.residual else y


class MyMobileNetV2(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        self.stem = ConvUnit(3, 32, 3, 2)
        blocks, cin = [], 32
        for t, c, n, s in SETTING:
            for i in range(n):
                blocks.append(Block(cin, c, s if i == 0 else 1, t))
                cin = c
        self.blocks = nn.ModuleList(blocks)
        self.head = ConvUnit(cin, 1280)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(1280, num_classes)

    def forward(self, x):
        x = self.stem(x)
        for b in self.blocks:
            x = b(x)
        return self.fc(torch.flatten(self.pool(self.head(x)), 1))


def build() -> nn.Module:
    """torchvision's MobileNetV2 weights mapped onto this layout by order (shapes checked)."""
    import _int8_eval as ev

    model = MyMobileNetV2()
    state = torch.load(ev.weights_path(), map_location="cpu", weights_only=True)
    theirs = [(k, v) for k, v in state.items() if not k.endswith("num_batches_tracked")]
    mine = [k for k in model.state_dict() if not k.endswith("num_batches_tracked")]
    assert len(theirs) == len(mine), (len(theirs), len(mine))
    new = {}
    for m, (t, v) in zip(mine, theirs):
        assert model.state_dict()[m].shape == v.shape, (m, t)
        new[m] = v
    model.load_state_dict(new, strict=False)
    return model.eval()
