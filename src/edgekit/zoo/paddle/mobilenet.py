"""Paddle twins of the zoo's MobileNetV1 and MobileNetV2: the torch modules' layout layer for layer
(same sublayer names and order), so weights copy across in order (``transfer``) and back."""
from __future__ import annotations


def build(torch_module, name: str):
    """The Paddle twin of a zoo MobileNetV1/V2 torch module (its widths and classes read from it)."""
    import paddle
    from paddle import nn

    from ..mobilenet_v1 import MobileNetV1
    from ..mobilenet_v2 import MobileNetV2

    def conv_bn_act(tconv, act):
        k, s, p, g = tconv.kernel_size[0], tconv.stride[0], tconv.padding[0], tconv.groups
        layers = [nn.Conv2D(tconv.in_channels, tconv.out_channels, k, s, p, groups=g, bias_attr=False),
                  nn.BatchNorm2D(tconv.out_channels)]
        return nn.Sequential(*layers, *([act()] if act else []))

    class Block(nn.Layer):
        def __init__(self, tblock):
            super().__init__()
            self.residual = bool(getattr(tblock, "use_res_connect", False))
            if hasattr(tblock, "dw"):  # MobileNetV1 depthwise-separable
                self.dw, self.pw = conv_bn_act(tblock.dw[0], nn.ReLU), conv_bn_act(tblock.pw[0], nn.ReLU)
            else:  # MobileNetV2 inverted residual: ConvBNAct..., Conv2d, BatchNorm2d
                parts = [conv_bn_act(m[0], nn.ReLU6) for m in list(tblock.conv)[:-2]]
                last = tblock.conv[-2]
                parts += [nn.Conv2D(last.in_channels, last.out_channels, 1, bias_attr=False),
                          nn.BatchNorm2D(last.out_channels)]
                self.conv = nn.Sequential(*parts)

        def forward(self, x):
            y = self.pw(self.dw(x)) if hasattr(self, "dw") else self.conv(x)
            return x + y if self.residual else y

    class Net(nn.Layer):
        def __init__(self, tnet, act):
            super().__init__()
            feats = []
            for m in tnet.features:
                feats.append(conv_bn_act(m[0], act) if not hasattr(m, "dw") and not hasattr(m, "conv") else Block(m))
            self.features = nn.Sequential(*feats)
            lin = tnet.classifier[1]
            self.classifier = nn.Sequential(nn.Dropout(0.0), nn.Linear(lin.in_features, lin.out_features))

        def forward(self, x):
            x = paddle.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1)
            return self.classifier(x)

    if not isinstance(torch_module, (MobileNetV1, MobileNetV2)):
        raise TypeError(f"{name} has no Paddle twin")
    net = Net(torch_module, nn.ReLU if isinstance(torch_module, MobileNetV1) else nn.ReLU6)
    net.eval()
    return net
