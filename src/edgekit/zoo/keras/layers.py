"""Keras layers that mirror PyTorch modules exactly, in NHWC, under the same names.

A Keras twin is built by walking the (folded or unfolded) PyTorch module of a zoo model:
each torch module becomes the Keras layer(s) that compute the same function, named by
the torch module path (``features.1.conv.0.0``), so ``transfer.py`` can copy weights by
name and the TFLite file's tensor names point back at the PyTorch layers.

Decisions that keep the twin exact (checked numerically after every transfer):
- Padding: PyTorch pads symmetrically; TF's "same" pads (0, 1) for even inputs at stride
  2. Stride-1 odd kernels use "same" (symmetric there); anything else gets an explicit
  ZeroPadding2D + "valid": a PAD op in TFLite (MobileNetV2 int8 still runs as fast as
  keras.applications' own, see benchmarks/bench_tflite_mobilenet_v2.py).
- Max pooling pads with zeros instead of -inf: exact because every padded max pool in
  the zoo follows a ReLU (``transfer.check_twin`` would catch a model where it does not).
- ``ceil_mode`` pooling becomes extra bottom/right padding computed from static shapes.
- BatchNorm folded by ``fold_bn`` is an ``nn.Identity`` in torch and no layer in Keras.
"""
from __future__ import annotations

import math
from typing import Callable

from ...errors import UnsupportedError

# torch module class -> fn(x, module, name) -> keras tensor; families add their blocks
HANDLERS: dict[type, Callable] = {}


def handler(*torch_classes):
    def deco(fn):
        for c in torch_classes:
            HANDLERS[c] = fn
        return fn
    return deco


def _k():
    import keras

    return keras


def image_input(input_size: int, channels: int = 3):
    return _k().Input((input_size, input_size, channels), name="input")


def apply(x, module, name: str):
    """The Keras equivalent of ``module(x)`` for one torch module (recursively)."""
    from torch import nn

    for cls in type(module).__mro__:
        if cls in HANDLERS:
            return HANDLERS[cls](x, module, name)
    if isinstance(module, nn.Sequential):
        return sequential(x, module, name)
    raise UnsupportedError(
        f"No Keras equivalent for {type(module).__name__} at '{name}'; "
        "the Keras twin covers the zoo's layer types only"
    )


def sequential(x, module, name: str):
    for child_name, child in module.named_children():
        x = apply(x, child, f"{name}.{child_name}" if name else child_name)
    return x


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def conv(x, m, name: str):
    """nn.Conv2d -> Conv2D / DepthwiseConv2D (groups == in channels) / grouped Conv2D."""
    L = _k().layers
    k, s, d = _pair(m.kernel_size), _pair(m.stride), _pair(m.dilation)
    if isinstance(m.padding, str):
        raise UnsupportedError(f"Conv2d padding='{m.padding}' at '{name}' has no exact Keras twin")
    p = _pair(m.padding)
    if m.padding_mode != "zeros":
        raise UnsupportedError(f"Conv2d padding_mode='{m.padding_mode}' at '{name}' has no Keras twin")
    same = s == (1, 1) and all(ki % 2 == 1 and pi == di * (ki - 1) // 2 for ki, pi, di in zip(k, p, d))
    padding = "valid"
    if same and any(p):
        padding = "same"
    elif any(p):
        x = L.ZeroPadding2D(((p[0], p[0]), (p[1], p[1])), name=f"{name}_pad")(x)
    bias = m.bias is not None
    cin, cout, g = m.in_channels, m.out_channels, m.groups
    if g == 1:
        return L.Conv2D(cout, k, s, padding, dilation_rate=d, use_bias=bias, name=name)(x)
    if g == cin and cout % cin == 0:
        return L.DepthwiseConv2D(k, s, padding, depth_multiplier=cout // cin, dilation_rate=d,
                                 use_bias=bias, name=name)(x)
    return L.Conv2D(cout, k, s, padding, dilation_rate=d, groups=g, use_bias=bias, name=name)(x)


def batchnorm(x, m, name: str):
    return _k().layers.BatchNormalization(epsilon=m.eps, momentum=1.0 - (m.momentum or 0.1), name=name)(x)


def linear(x, m, name: str):
    return _k().layers.Dense(m.out_features, use_bias=m.bias is not None, name=name)(x)


def identity(x, m, name: str):
    return x


def relu(x, m, name: str):
    return _k().layers.ReLU(name=name)(x)


def relu6(x, m, name: str):
    return _k().layers.ReLU(max_value=6.0, name=name)(x)


def _activation(kind: str):
    def fn(x, m, name):
        return _k().layers.Activation(kind, name=name)(x)
    return fn


def pad_for_pool(x, kernel, stride, padding, ceil_mode: bool, name: str):
    """Zero padding so a 'valid' Keras pool sees the same windows as torch's pool."""
    k, s, p = _pair(kernel), _pair(stride), _pair(padding)
    extra = [0, 0]
    if ceil_mode:
        for i, size in enumerate((x.shape[1], x.shape[2])):
            out = math.ceil((size + 2 * p[i] - k[i]) / s[i]) + 1
            if (out - 1) * s[i] >= size + p[i]:  # torch: the last window must start inside
                out -= 1
            extra[i] = max(0, (out - 1) * s[i] + k[i] - (size + 2 * p[i]))
    if any(p) or any(extra):
        x = _k().layers.ZeroPadding2D(((p[0], p[0] + extra[0]), (p[1], p[1] + extra[1])),
                                      name=f"{name}_pad")(x)
    return x


def maxpool(x, m, name: str):
    if _pair(m.dilation) != (1, 1):
        raise UnsupportedError(f"MaxPool2d with dilation at '{name}' has no Keras twin")
    x = pad_for_pool(x, m.kernel_size, m.stride or m.kernel_size, m.padding, m.ceil_mode, name)
    return _k().layers.MaxPooling2D(_pair(m.kernel_size), _pair(m.stride or m.kernel_size), "valid", name=name)(x)


def avgpool(x, m, name: str):
    if any(_pair(m.padding)) and not m.count_include_pad:
        raise UnsupportedError(f"AvgPool2d(count_include_pad=False) with padding at '{name}' has no Keras twin")
    x = pad_for_pool(x, m.kernel_size, m.stride or m.kernel_size, m.padding, m.ceil_mode, name)
    return _k().layers.AveragePooling2D(_pair(m.kernel_size), _pair(m.stride or m.kernel_size), "valid", name=name)(x)


def adaptive_avgpool(x, m, name: str):
    if _pair(m.output_size) != (1, 1):
        raise UnsupportedError(f"AdaptiveAvgPool2d({m.output_size}) at '{name}': only output size 1 has a Keras twin")
    return global_pool(x, name, keepdims=True)


def global_pool(x, name: str, keepdims: bool = False):
    """Global average pooling (TFLite MEAN); keepdims mirrors torch's (N, C, 1, 1)."""
    return _k().layers.GlobalAveragePooling2D(keepdims=keepdims, name=name)(x)


def flatten(x, name: str):
    """torch.flatten(x, 1) after a 1x1 spatial map: same element order in NHWC."""
    if len(x.shape) == 4 and (x.shape[1], x.shape[2]) != (1, 1):
        raise UnsupportedError(f"flatten of a {x.shape[1]}x{x.shape[2]} map at '{name}' would reorder features in NHWC")
    return _k().layers.Flatten(name=name)(x) if len(x.shape) > 2 else x


def add(a, b, name: str):
    return _k().layers.Add(name=name)([a, b])


def multiply(a, b, name: str):
    return _k().layers.Multiply(name=name)([a, b])


def concat(tensors, name: str):
    return _k().layers.Concatenate(axis=-1, name=name)(list(tensors))


def model(inputs, outputs, name: str):
    return _k().Model(inputs, outputs, name=name)


def chain(*steps: str):
    """A twin builder for a module whose forward runs ``steps`` in order: child attributes by
    name, "pool:NAME" a global average pool (+ flatten), "flatten:NAME" a flatten."""
    extra = {"pool": global_pool, "flatten": flatten}

    def build(module, input_size: int, name: str):
        inp = image_input(input_size)
        x = inp
        for step in steps:
            kind, _, key = step.partition(":")
            x = extra[kind](x, key) if key else apply(x, getattr(module, step), step)
        return model(inp, x, name)

    return build


def _register_torch_handlers() -> None:
    from torch import nn

    handler(nn.Conv2d)(conv)
    handler(nn.BatchNorm2d)(batchnorm)
    handler(nn.Linear)(linear)
    handler(nn.Identity, nn.Dropout)(identity)
    handler(nn.ReLU)(relu)
    handler(nn.ReLU6)(relu6)
    handler(nn.Hardswish)(_activation("hard_swish"))
    handler(nn.Hardsigmoid)(_activation("hard_sigmoid"))
    handler(nn.Sigmoid)(_activation("sigmoid"))
    handler(nn.SiLU)(_activation("silu"))
    handler(nn.MaxPool2d)(maxpool)
    handler(nn.AvgPool2d)(avgpool)
    handler(nn.AdaptiveAvgPool2d)(adaptive_avgpool)
    handler(nn.Flatten)(lambda x, m, name: flatten(x, name))


_register_torch_handlers()
