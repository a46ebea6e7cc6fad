"""A Keras model as a frozen GraphDef, and TF's converter run on it with its logs kept quiet.

TF 2.21 + Keras 3 cannot convert int8 from an unfrozen concrete function, and
``from_keras_model`` round-trips through a SavedModel on disk, so the model is traced once,
frozen here and converted from the GraphDef: the same ops in a third of the time
(docs/decisions.md, "TFLite export").
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

from .._optional import import_tf
from .._quiet import captured_stderr
from ..errors import UnsupportedError, first_line

CONVERTER = "TF converter on the frozen GraphDef (tf.compat.v1.lite.TFLiteConverter)"


def freeze(kmodel, nhwc_shape, tf=None) -> "FrozenGraph":
    """The frozen (variable-free) GraphDef of ``kmodel`` for a batch-1 NHWC input.

    The first half of TF's ``convert_variables_to_constants_v2_as_graph``: its second half
    rebuilds a callable function from the GraphDef, which costs as much as the conversion
    (12 s for Xception) and which the converter does not need.
    """
    from tensorflow.python.framework import convert_to_constants as c2c

    tf = tf or import_tf()
    fn = tf.function(lambda x: kmodel(x, training=False))
    try:
        concrete = fn.get_concrete_function(tf.TensorSpec(nhwc_shape, tf.float32, name="input"))
        data = c2c._FunctionConverterDataInEager(func=concrete, lower_control_flow=True,  # noqa: SLF001
                                                 aggressive_inlining=False)
        graph_def, _ = c2c._replace_variables_by_constants(converter_data=data)  # noqa: SLF001
    except Exception as exc:  # a layer TF cannot trace at this shape
        raise UnsupportedError(f"TensorFlow cannot trace this Keras model at input {tuple(nhwc_shape)}: "
                               f"{first_line(exc)}") from None
    outputs = [t.name.split(":")[0] for t in concrete.outputs]
    return FrozenGraph(graph_def, [("input", list(nhwc_shape))], outputs)


@dataclass
class FrozenGraph:
    """A frozen GraphDef with its input/output names; ``converter()`` gives a fresh float converter.

    TF's v1 converter takes the GraphDef as is; ``from_concrete_functions`` would freeze the
    (already frozen) function a second time, which costs as much as the conversion itself.
    """

    graph_def: object
    inputs: list  # [(name, shape)]
    outputs: list  # [name]

    def converter(self):
        tf = import_tf()
        return tf.compat.v1.lite.TFLiteConverter(self.graph_def, None, None, input_arrays_with_shape=self.inputs,
                                                 output_arrays=self.outputs)


def nhwc_input_shape(kmodel, nchw) -> tuple:
    """The batch-1 NHWC input of a Keras image model; unknown sizes taken from the card's NCHW shape."""
    shape = tuple(kmodel.inputs[0].shape)
    if len(shape) != 4:
        raise UnsupportedError(f"TFLite export takes image models with one 4-D input; this one has {shape}")
    h = shape[1] or nchw[2]
    w = shape[2] or nchw[3]
    return (1, int(h), int(w), int(shape[3] or nchw[1]))


def convert(converter) -> bytes:
    """Run one conversion; a failure names the op and layer from the converter's log."""
    with warnings.catch_warnings(), captured_stderr() as log:
        warnings.simplefilter("ignore")
        try:
            return converter.convert()
        except Exception as exc:  # ConverterError and friends
            failure = exc
    raise UnsupportedError(_converter_message(failure, "".join(log))) from None


def _converter_message(exc: Exception, log: str) -> str:
    text = f"{exc}\n{log}"
    op = re.search(r"'(tf\.[\w.]+|tfl\.[\w.]+)' op", text)
    loc = re.search(r'loc\((?:fused\[)?"([^"]+)"', text)
    what = first_line(exc)
    if op:
        from ..inspect.tflite_inspect import layer_of

        layer = layer_of(loc.group(1)) if loc else "?"
        what = f"op {op.group(1)} in layer '{layer}' is not supported by TFLite builtins"
    what = what.rstrip(". ")
    if "16x8" in what:  # e.g. MobileNetV3's HARD_SWISH: no 16x8 kernel
        return (f"The TFLite converter failed: {what}. Try --float-fallback (those ops stay float), "
                "or --int8 / --fp16")
    return f"The TFLite converter failed: {what}. Try --float-fallback (int8), or the fp32 export"
