"""Keras layers for the two tensor manipulations the zoo needs beyond stock layers.

Registered as serializable (package "edgekit") so a Keras twin can be saved as .keras
and loaded again once this module is imported.
"""
from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="edgekit")
class ChannelShuffle(keras.layers.Layer):
    """Channel shuffle on NHWC: reshape -> transpose -> reshape (TFLite: one TRANSPOSE).

    order="torchvision": channels (g, C/g) -> (C/g, g), as torchvision's ShuffleNetV2.
    order="megvii":      channels (C/g, g) -> (g, C/g), as Megvii's ShuffleNetV1.
    """

    def __init__(self, groups: int, order: str = "torchvision", **kwargs) -> None:
        super().__init__(**kwargs)
        if order not in ("torchvision", "megvii"):
            raise ValueError(f"order must be 'torchvision' or 'megvii', not {order!r}")
        self.groups, self.order = int(groups), order

    def call(self, x):
        _, h, w, c = x.shape
        g = self.groups
        split = (g, c // g) if self.order == "torchvision" else (c // g, g)
        x = keras.ops.reshape(x, (-1, h, w) + split)
        x = keras.ops.transpose(x, (0, 1, 2, 4, 3))
        return keras.ops.reshape(x, (-1, h, w, c))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "groups": self.groups, "order": self.order}


@keras.saving.register_keras_serializable(package="edgekit")
class ChannelSplit(keras.layers.Layer):
    """Split channels into equal parts (torch ``x.chunk(n, dim=1)``); TFLite: one SPLIT."""

    def __init__(self, parts: int = 2, **kwargs) -> None:
        super().__init__(**kwargs)
        self.parts = int(parts)

    def call(self, x):
        return keras.ops.split(x, self.parts, axis=-1)

    def compute_output_shape(self, input_shape):
        c = input_shape[-1] // self.parts if input_shape[-1] is not None else None
        return [tuple(input_shape[:-1]) + (c,)] * self.parts

    def get_config(self):
        return {**super().get_config(), "parts": self.parts}
