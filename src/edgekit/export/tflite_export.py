"""TFLite export: fp32, fp16 weights, full-integer int8 and 16x8, with app metadata.

Routes (chosen for the best file, measured on MobileNetV2 — see DEPENDENCIES.md):
- zoo model from PyTorch: build its Keras twin, copy the BN-folded weights exactly
  (checked to 1e-4 of the logit range), convert with TF's converter. The graph is
  NHWC-native: no Transpose ops, every conv int8, as fast as TF's own keras.applications
  MobileNetV2 (p50 ratio 0.995 at 1 thread). For int8 the twin is built from the module
  after quantize/prepare.py (channel equalization + GPTQ weight rounding).
- Keras model (zoo Keras build or a user's .keras/.h5/SavedModel): TF's converter directly.
- any other torch module: litert-torch (optional extra, +0.94 GB) if installed.

TF 2.21 + Keras 3 cannot convert int8 from an unfrozen concrete function (variables are
not frozen) and ``from_keras_model`` round-trips through a SavedModel on disk (slow), so
the Keras model is traced once per export, frozen to a GraphDef (``freeze``) and converted
by TF's converter from that GraphDef: the same ops as ``from_keras_model`` (MobileNetV2:
35 CONV_2D, 17 DEPTHWISE_CONV_2D, 0 TRANSPOSE) in a third of the time. The frozen graph is
reused for every precision of one export. int8 calibration: quantize/tflite_int8.py.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .._files import atomic_path
from ..errors import ConfigError, UnsupportedError
from ..quantize.config import QuantConfig
from ..quantize.tflite_int8 import IO_DTYPES, check_quant_config, convert_float, quantize
from ._tf import captured_stderr, import_tf
from .artifact import Artifact, artifact_name, tool_versions
from .base import EXPORTERS, ExportRequest

LABEL_SETS = {"imagenet1k": ("imagenet1k_labels.txt", 1000)}  # card.classes -> packaged file
_CONVERTER = "TF converter on the frozen GraphDef (tf.compat.v1.lite.TFLiteConverter)"


@dataclass(frozen=True)
class TfliteOptions:
    """TFLite-only choices (the CLI's --io-dtype, --float-fallback; metadata on by default)."""

    io_dtype: str = "int8"  # I/O of int8 files: int8 | uint8 | float32 (see quantize/tflite_int8.py)
    float_fallback: bool = False  # int8: keep ops without int8 kernels in float instead of failing
    metadata: bool = True

    def __post_init__(self) -> None:
        if self.io_dtype not in IO_DTYPES:
            raise ConfigError(f"Unknown --io-dtype '{self.io_dtype}'. Valid: {', '.join(IO_DTYPES)}")


class TfliteExporter:
    format = "tflite"
    frameworks = ("torch", "keras")
    precisions = ("fp32", "fp16", "int8", "int16x8")
    uses_int8_preparation = True  # the Keras-twin route; see ExportRequest.int8_module
    requires = ("tensorflow",)

    def __init__(self) -> None:
        self._graph_cache: Optional[tuple] = None  # (module, input_shape, frozen fn, info, keras model)
        self._int8_cache: Optional[tuple] = None  # (prepared module, frozen fn, info, keras model)

    def check(self, framework: str, precision: str, quant=None, options=None) -> None:
        """Refuse what the TF converter cannot do before any slow work."""
        if precision in ("int8", "int16x8") and quant is not None:
            check_quant_config(quant)

    def export(self, req: ExportRequest) -> Artifact:
        loaded = req.loaded
        opts = (getattr(req, "options", None) or {}).get("tflite") or TfliteOptions()
        quant = req.quant or QuantConfig()
        if req.precision in ("int8", "int16x8"):
            check_quant_config(quant)
        final = Path(req.out_dir) / artifact_name(loaded.card.name, req.precision, "tflite")
        if loaded.framework == "torch" and not _has_twin(loaded.card):
            from .tflite_torch import export_with_litert_torch

            return export_with_litert_torch(req, opts, final)
        integer = req.precision in ("int8", "int16x8")
        if integer and loaded.framework == "torch" and req.int8_module is not None:
            frozen, info = self._int8_graph(loaded, req)
        else:
            frozen, info = self._frozen_graph(loaded, req.progress)
        req.progress(f"tflite {req.precision}: converting ({info['route']})")
        if not integer:
            converter = frozen.converter()
            qsummary = convert_float(converter, req.precision)
            data = _convert(converter)
        else:
            data, qsummary = quantize(frozen.converter, req.precision, req.calibration, quant, opts.io_dtype,
                                      opts.float_fallback, run=_convert)
        meta = self.finish(req, opts, data, final, info, qsummary)
        art = Artifact(final, "tflite", req.precision, loaded.card.to_dict(), loaded.provenance(), meta)
        art.save_sidecar()
        return art

    def finish(self, req: ExportRequest, opts: TfliteOptions, data: bytes, final: Path, info: dict,
               qsummary: dict) -> dict:
        """Check the converted bytes, add metadata, write atomically; return the sidecar meta."""
        from ..inspect.tflite_inspect import inspect_tflite, layer_of

        report = inspect_tflite(data, label=final.name)
        if req.precision in ("int8", "int16x8") and report["float_ops"]:
            known = self._layer_names()
            for f in report["float_ops"]:
                f["layer"] = layer_of(f["output"], known)
            if not opts.float_fallback:
                raise UnsupportedError(_float_ops_message(report["float_ops"], req.precision))
        md_info = None
        if opts.metadata:
            data, md_info = _with_metadata(data, req.loaded.card, req.precision, report)
        with atomic_path(final) as tmp:
            tmp.write_bytes(data)
        meta = {"tools": {**tool_versions("keras", "ai-edge-litert", "torch"), "tensorflow": _tf_version()},
                "conversion": info, "quantization": qsummary, "fold_bn": req.fold_report,
                "layout": "NHWC" if _nhwc(report) else "NCHW",
                "io": {"inputs": report["inputs"], "outputs": report["outputs"]},
                "inspect": {"verdict": report["verdict"], "transpose_ops": report["transpose_ops"],
                            "operators": report["operators"],
                            "float_ops": report["float_ops"]},  # per-layer record of what stayed float
                "metadata": md_info}
        if req.calibration is not None and req.precision in ("int8", "int16x8"):
            meta["calibration"] = req.calibration.summary()
        v = report["verdict"]
        req.progress(f"tflite {req.precision}: {final.name} ({len(data) / 1e6:.1f} MB, {v['precision']}; "
                     f"{report['transpose_ops']} Transpose ops)")
        return meta

    def _int8_graph(self, loaded, req):
        """Torch route, int8 / 16x8: the Keras twin of the int8-prepared module the pipeline
        made (channel equalization + GPTQ weight rounding, quantize/prepare.py), whose weights
        already lie on TFLite's int8 grid; checked against the prepared torch module like any twin.

        MobileNetV2, 39 held-out photos (edgekit's split of the shared photos): top-1 agreement
        87% / cosine 0.992 without it, 97% / 0.994 with it (about 10 s more on 2 cores).
        """
        cached = self._int8_cache
        if cached is not None and cached[0] is req.int8_module:
            return cached[1], cached[2]
        from dataclasses import replace

        from ..zoo.keras import keras_twin

        prepared, summary = req.int8_module, req.int8_preparation
        req.progress(f"tflite: building the Keras twin of the int8-prepared {loaded.card.name}")
        twin = keras_twin(replace(loaded, module=prepared))
        nhwc = _nhwc_input_shape(twin.model, loaded.card.input_shape)
        frozen = freeze(twin.model, nhwc)
        info = {"route": "keras-twin", "converter": _CONVERTER, "input_shape_nhwc": list(nhwc),
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
        if loaded.framework == "torch":
            from ..zoo.keras import keras_twin

            progress(f"tflite: building the Keras twin of {loaded.card.name} and copying weights")
            twin = keras_twin(loaded)  # raises unless it reproduces the torch logits to 1e-4
            kmodel, route = twin.model, "keras-twin"
        else:
            kmodel, twin, route = module, None, "keras"
        nhwc = _nhwc_input_shape(kmodel, shape)
        frozen = freeze(kmodel, nhwc, tf)
        info = {"route": route, "converter": _CONVERTER, "input_shape_nhwc": list(nhwc)}
        if twin is not None:
            info["keras_twin"] = twin.report.to_dict()
            progress(f"tflite: Keras twin matches PyTorch (max diff {twin.report.relative_diff:.1e} of the logit range)")
        self._graph_cache = (module, shape, frozen, info, kmodel)
        return frozen, info


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
                               f"{_first_line(exc)}") from None
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


def _convert(converter) -> bytes:
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
    what = _first_line(exc)
    if op:
        from ..inspect.tflite_inspect import layer_of

        layer = layer_of(loc.group(1)) if loc else "?"
        what = f"op {op.group(1)} in layer '{layer}' is not supported by TFLite builtins"
    return f"The TFLite converter failed: {what}. Try --float-fallback (int8), or the fp32 export"


def _float_ops_message(float_ops: list, precision: str) -> str:
    first = float_ops[0]
    more = f" (and {len(float_ops) - 1} more: {', '.join(sorted({f['op'] for f in float_ops[1:]})[:4])})" \
        if len(float_ops) > 1 else ""
    return (f"{precision}: op {first['op']} in layer '{first['layer']}' has no {precision} kernel in TFLite "
            f"and would run in float{more}. Re-run with --float-fallback to keep it in float "
            "(a mixed int8/float file), or export fp32/fp16 only")


def _with_metadata(data: bytes, card, precision: str, report: dict):
    from importlib import resources

    from .tflite_metadata import build_metadata, populate

    if len(report["inputs"]) != 1 or len(report["outputs"]) != 1:
        return data, {"written": False, "reason": "metadata is written for 1-input, 1-output image models"}
    labels_name, files = None, {}
    label_set = LABEL_SETS.get(card.classes)
    if card.labels and len(card.labels) == card.num_classes:  # a trained checkpoint's class names
        labels_name = "labels.txt"
        files[labels_name] = "".join(f"{name}\n" for name in card.labels).encode()
    elif label_set and card.num_classes == label_set[1]:
        labels_name = "labels.txt"
        files[labels_name] = resources.files("edgekit.data").joinpath(label_set[0]).read_bytes()
    pre = card.preprocess
    try:
        import importlib.metadata as md

        version = md.version("edgekit")
    except Exception:
        version = "unknown"
    meta = build_metadata(
        name=card.name, description=card.description or f"{card.name} image classifier",
        version=f"edgekit {version}, {precision}", author="edgekit", license=card.license,
        input_size=pre.crop, color=pre.color, mean=pre.mean, std=pre.std,
        labels_file=labels_name, num_classes=card.num_classes)
    data = populate(data, meta, files, io_names=("input", "logits"))
    return data, {"written": True, "labels": labels_name, "mean": list(pre.mean), "std": list(pre.std),
                  "color": pre.color}


def _nhwc_input_shape(kmodel, nchw) -> tuple:
    shape = tuple(kmodel.inputs[0].shape)
    if len(shape) != 4:
        raise UnsupportedError(f"TFLite export takes image models with one 4-D input; this one has {shape}")
    h = shape[1] or nchw[2]
    w = shape[2] or nchw[3]
    return (1, int(h), int(w), int(shape[3] or nchw[1]))


def _nhwc(report: dict) -> bool:
    shp = report["inputs"][0]["shape"] if report["inputs"] else []
    return len(shp) == 4 and shp[-1] in (1, 3, 4) and shp[1] not in (1, 3, 4)


def _tf_version() -> Optional[str]:
    import sys

    tf = sys.modules.get("tensorflow")
    return getattr(tf, "__version__", None)


def _has_twin(card) -> bool:
    """Zoo models have a Keras twin; a user's model never does, whatever its name."""
    from ..zoo.keras import has_twin

    return card.family != "user" and has_twin(card.name)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


EXPORTERS.register("tflite", TfliteExporter())
