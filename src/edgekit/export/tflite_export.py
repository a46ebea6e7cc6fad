"""TFLite export: fp32, fp16 weights, full-integer int8 and 16x8, with app metadata.

Routes, chosen for the best file (docs/decisions.md, "TFLite export"):
- a zoo model from PyTorch: its Keras twin with the BN-folded weights copied exactly
  (checked to 1e-4 of the logit range), converted by TF's converter: NHWC-native, no
  Transpose ops. For int8 the twin is built from the int8-prepared module;
- a Keras model (a zoo Keras build or a user's .keras/.h5/SavedModel): TF's converter;
- any other torch module: litert-torch (optional extra, +0.94 GB), ``tflite_torch``.
The frozen graph (``tflite_graph``) is reused for every precision of one export.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

from .._optional import import_tf
from ..errors import ConfigError, UnsupportedError
from ..quantize import tflite_int8
from ..types import Framework, Precision
from .artifact import Artifact, artifact_path
from .base import EXPORTERS, Exporter, ExporterOptions, ExportRequest
from .tflite_finish import write_tflite
from .tflite_graph import CONVERTER, convert, freeze, nhwc_input_shape


@dataclass(frozen=True)
class TfliteOptions(ExporterOptions):
    """TFLite-only choices (the CLI's --io-dtype, --float-fallback, --fp16, --int16x8; metadata on by default)."""

    format = "tflite"
    io_dtype: str = "int8"  # I/O of int8 files: int8 | uint8 | float32 (see quantize/tflite_int8.py)
    float_fallback: bool = False  # int8: keep ops without int8 kernels in float instead of failing
    metadata: bool = True
    fp16: bool = False  # also write a file with float16 weights
    int16x8: bool = False  # also write a 16x8 file (int16 activations, int8 weights)

    def __post_init__(self) -> None:
        if self.io_dtype not in tflite_int8.IO_DTYPES:
            raise ConfigError(f"Unknown --io-dtype '{self.io_dtype}'. Valid: {', '.join(tflite_int8.IO_DTYPES)}")

    @property
    def extra_precisions(self) -> tuple[Precision, ...]:
        return tuple(p for p, on in ((Precision.FP16, self.fp16), (Precision.INT16X8, self.int16x8)) if on)


class TfliteExporter(Exporter):
    format = "tflite"
    frameworks = (Framework.TORCH, Framework.KERAS)
    precisions = (Precision.FP32, Precision.FP16, Precision.INT8, Precision.INT16X8)
    calibration = tflite_int8.CALIBRATION
    options_type = TfliteOptions
    requires = ("tensorflow",)
    int8_preparation = True  # the Keras-twin route

    def __init__(self) -> None:
        self._graph_cache: Optional[tuple] = None  # (module, input_shape, frozen fn, info, keras model)
        self._int8_cache: Optional[tuple] = None  # (prepared module, frozen fn, info, keras model)

    def check(self, framework, precision, quant=None, options=None) -> None:
        super().check(framework, precision, quant, options)
        if precision == Precision.INT16X8 and quant is not None and quant.exclude:
            raise UnsupportedError("tflite int16x8 is whole-model in TF's converter: it cannot keep chosen layers "
                                   "in float; drop --int16x8, or the exclusions (int8 keeps them float)")

    def export(self, req: ExportRequest) -> Artifact:
        loaded = req.loaded
        opts = self.options_of(req.options)
        self.check(loaded.framework, req.precision, req.quant, req.options)
        final = artifact_path(req.out_dir, loaded.card.name, req.precision, self.format)
        if loaded.framework == Framework.TORCH and not _has_twin(loaded.card):
            from .tflite_torch import export_with_litert_torch

            return export_with_litert_torch(req, opts, final)
        integer = req.precision.integer
        if integer and loaded.framework == Framework.TORCH and req.int8_module is not None:
            frozen, info = self._int8_graph(loaded, req)
        else:
            frozen, info = self._frozen_graph(loaded, req.progress)
        req.progress(f"tflite {req.precision}: converting ({info['route']})")
        if not integer:
            converter = frozen.converter()
            qsummary = tflite_int8.convert_float(converter, req.precision)
            data = convert(converter)
        else:
            data, qsummary = tflite_int8.quantize(frozen.converter, req.precision, req.calibration, req.quant,
                                                  opts.io_dtype, opts.float_fallback, run=convert)
        return write_tflite(req, opts, data, final, info, qsummary, self._layer_names())

    def _int8_graph(self, loaded, req):
        """Torch route, int8 / 16x8: the Keras twin of the int8-prepared module the pipeline made,
        whose weights already lie on TFLite's int8 grid; checked against it like any twin."""
        cached = self._int8_cache
        if cached is not None and cached[0] is req.int8_module:
            return cached[1], cached[2]
        from ..zoo.keras import keras_twin

        prepared, summary = req.int8_module, req.int8_preparation
        req.progress(f"tflite: building the Keras twin of the int8-prepared {loaded.card.name}")
        twin = keras_twin(replace(loaded, module=prepared))
        nhwc = nhwc_input_shape(twin.model, loaded.card.input_shape)
        frozen = freeze(twin.model, nhwc)
        info = {"route": "keras-twin", "converter": CONVERTER, "input_shape_nhwc": list(nhwc),
                "keras_twin": twin.report.to_dict(), "int8_preparation": summary}
        self._int8_cache = (prepared, frozen, info, twin.model)
        return frozen, info

    def _layer_names(self) -> Optional[set]:
        names = set()
        for cached in (self._graph_cache, self._int8_cache):
            if cached:
                names |= {layer.name for layer in cached[-1].layers}  # the Keras model, last in both
        return names or None

    def _frozen_graph(self, loaded, progress):
        """Trace + freeze the Keras model once; reused by every precision of this export."""
        module = loaded.module
        shape = loaded.card.input_shape
        cached = self._graph_cache
        if cached is not None and cached[0] is module and cached[1] == shape:
            return cached[2], cached[3]
        self._graph_cache = None
        tf = import_tf()
        if loaded.framework == Framework.TORCH:
            from ..zoo.keras import keras_twin

            progress(f"tflite: building the Keras twin of {loaded.card.name} and copying weights")
            twin = keras_twin(loaded)  # raises unless it reproduces the torch logits to 1e-4
            kmodel, route = twin.model, "keras-twin"
        else:
            kmodel, twin, route = module, None, "keras"
        nhwc = nhwc_input_shape(kmodel, shape)
        frozen = freeze(kmodel, nhwc, tf)
        info = {"route": route, "converter": CONVERTER, "input_shape_nhwc": list(nhwc)}
        if twin is not None:
            info["keras_twin"] = twin.report.to_dict()
            progress(f"tflite: Keras twin matches PyTorch (max diff {twin.report.relative_diff:.1e} of the logit range)")
        self._graph_cache = (module, shape, frozen, info, kmodel)
        return frozen, info


def _has_twin(card) -> bool:
    """Zoo models have a Keras twin; a user's model never does, whatever its name."""
    from ..zoo.keras import has_twin

    return card.family != "user" and has_twin(card.name)


EXPORTERS.register("tflite", TfliteExporter())
