"""`edgekit export MODEL`: fold BN, export each format, quantize, validate against float."""
from __future__ import annotations

from pathlib import Path

import click

from ..export import EXPORTERS
from ..export.base import LAYOUTS
from ..formats import FORMATS
from ..quantize.tflite_int8 import IO_DTYPES
from ..types import CalibrationMethod
from . import params
from .common import emit, handle_errors, json_option, progress
from .model_options import model_options, resolve_model
from .results_options import command_line, db_options, open_db

FORMAT_HELP = f"{', '.join(EXPORTERS.names())}; repeatable. Default: every installed format."


def _calib_method_help() -> str:
    """--calib-method's help, from each exporter's declared calibration."""
    offers = {name: e.calibration for name, e in EXPORTERS.items() if e.calibration}
    title = {name: FORMATS.get(name).title for name in offers}

    def grouped(by: dict) -> dict:
        out: dict = {}
        for k, v in by.items():
            out.setdefault(v, []).append(k)
        return out

    def both(items) -> str:
        items = list(items)
        return " and ".join(filter(None, [", ".join(items[:-1]), items[-1]]))

    bests = ", ".join(f"{both(title[f] for f in fs)} {m}"
                      for m, fs in grouped({f: c.best for f, c in offers.items()}).items())
    methods = [m for m in CalibrationMethod if m != CalibrationMethod.AUTO]
    everywhere = [m for m in methods if all(m in c.methods for c in offers.values())]
    some = grouped({m: tuple(f for f, c in offers.items() if m in c.methods) for m in methods if m not in everywhere})
    only = "; ".join(f"{both(ms)} {'are' if len(ms) > 1 else 'is'} {both(title[f] for f in fs)} only"
                     for fs, ms in some.items() if fs)
    return (f"How int8 activation ranges are chosen: auto (each format's best: {bests}), "
            f"{', '.join(everywhere)}" + (f"; {only}." if only else "."))


def target_options(f):
    """--target-agreement / --max-slowdown, shared by export and run."""
    f = click.option("--max-slowdown", type=params.SLOWDOWN, default=None,
                     help="With --target-agreement: the latency budget, p50 at 1 thread on this host as a ratio "
                          "to the pure-int8 file's, measured in the same run. Default 1.25.")(f)
    return click.option("--target-agreement", type=params.AGREEMENT, default=None,
                        help="With --int8: keep the most sensitive layers in float until top-1 agreement with the "
                             "float model on the evaluation images reaches this (0.97 or 97%); fails, writing "
                             "nothing, if the latency budget is reached first (docs/target_agreement.md).")(f)


def target_of(target_agreement, max_slowdown, int8):
    """The flags as a TargetOptions (None without --target-agreement), checked before any work."""
    from ..errors import ConfigError
    from ..pipeline.target import TargetOptions

    if target_agreement is None:
        if max_slowdown is not None:
            raise ConfigError("--max-slowdown is the latency budget of --target-agreement; add --target-agreement")
        return None
    if not int8:
        raise ConfigError("--target-agreement applies to int8 files; add --int8")
    return TargetOptions(target_agreement, 1.25 if max_slowdown is None else max_slowdown)


@click.command("export")
@click.argument("model")
@model_options
@click.option("--format", "formats", multiple=True, help=FORMAT_HELP)
@click.option("--int8", is_flag=True, help="Also write int8 files (post-training quantization).")
@click.option("--calib", type=params.DATA, help="Calibration images (folder) or .npy. Default: photos shipped with edgekit.")
@click.option("--data", type=params.DATA, help="Evaluation images, disjoint from --calib. Default: a held-out part of --calib.")
@click.option("--calib-method", default="auto", show_default=True, help=_calib_method_help())
@click.option("--calib-samples", type=params.SAMPLES, default=100, show_default=True, help="Calibration images used at most.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("edgekit-out"), show_default=True)
@click.option("--framework", type=click.Choice(["torch", "keras", "paddle"]),
              help="Export a zoo model's PyTorch build (default), its Keras build (then --weights may also be a .weights.h5 saved from it) or its PaddlePaddle build (mobilenet_v1*, mobilenet_v2; via its torch twin). Keras files (.keras/.h5/SavedModel) are keras; a module:factory returning a paddle.nn.Layer is paddle.")
@click.option("--io-dtype", type=click.Choice(IO_DTYPES), default="int8", show_default=True,
              help="Input/output type of int8 .tflite files (uint8: TFLite Task Library / ML Kit; float32: float interface).")
@click.option("--fp16", is_flag=True, help="Also write a .tflite (and, with --format ncnn, an ncnn model) with float16 weights.")
@click.option("--int16x8", is_flag=True, help="Also write a 16x8 .tflite (int16 activations, int8 weights).")
@click.option("--float-fallback", is_flag=True,
              help="int8 .tflite: keep ops that have no int8 kernel in float instead of failing.")
@click.option("--input-layout", type=click.Choice(LAYOUTS), default="auto", show_default=True,
              help="Input layout of .onnx and OpenVINO files: auto keeps the model's own (NCHW for PyTorch, "
                   "NHWC for Keras); nchw / nhwc convert. The sidecar says which.")
@target_options
@db_options
@json_option
@handle_errors
def command(model, formats, int8, calib, data, calib_method, calib_samples, out_dir, framework, io_dtype, fp16,
            int16x8, float_fallback, input_layout, target_agreement, max_slowdown, db_path, no_record, as_json,
            **model_kw):
    """Export MODEL (a zoo name, a TorchScript/.pt2 file, or package.module:factory)."""
    from ..pipeline import DataOptions, export
    from ..quantize import QuantConfig

    quant = QuantConfig(method=calib_method, samples=calib_samples)  # validate flags first
    target = target_of(target_agreement, max_slowdown, int8)
    db = open_db(db_path, no_record)  # an unusable database fails before the slow work
    options = (_tflite_flags(formats, io_dtype, fp16, int16x8, float_fallback),
               *_layout_options(formats, input_layout), *_ncnn_flags(formats, fp16))
    loaded = _resolve(model, framework, model_kw)
    result = export(loaded, out_dir, list(formats) or None, int8=int8,
                    data=DataOptions(calib=calib, eval=data), quant=quant, progress=progress,
                    options=options, target=target)
    if db:
        db.record_export(result.artifacts, command=command_line())
    emit(result.to_dict(), as_json, _human)


def _tflite_flags(formats, io_dtype, fp16, int16x8, float_fallback):
    """The TFLite-only flags as TfliteOptions (refused without tflite)."""
    from ..errors import ConfigError
    from ..export.tflite_export import TfliteOptions

    tflite_fp16 = fp16 and not (formats and "tflite" not in formats and "ncnn" in formats)
    options = TfliteOptions(io_dtype=io_dtype, float_fallback=float_fallback, fp16=tflite_fp16, int16x8=int16x8)
    if formats and "tflite" not in formats and options != TfliteOptions():
        raise ConfigError("--int16x8, --io-dtype and --float-fallback apply to .tflite files, --fp16 to .tflite "
                          "and ncnn files; add --format tflite")
    return options


def _ncnn_flags(formats, fp16):
    """--fp16 for ncnn, when ncnn is named (it is never exported by default)."""
    from ..export.ncnn_export import NcnnOptions

    return [NcnnOptions(fp16=fp16)] if "ncnn" in formats else []


def _layout_options(formats, layout):
    """--input-layout as the options of the formats it applies to (refused without any of them)."""
    from ..errors import ConfigError
    from ..export.onnx_export import OnnxOptions
    from ..export.openvino_export import OpenVINOOptions

    applies = [o for o in (OnnxOptions(layout), OpenVINOOptions(layout)) if not formats or o.format in formats]
    if layout != "auto" and not applies:
        raise ConfigError("--input-layout applies to onnx and openvino files; add --format onnx or --format openvino")
    return applies


def _resolve(model, framework, model_kw):
    """A zoo name as its PyTorch build or (--framework keras) its Keras build; Keras files as Keras."""
    from ..errors import ConfigError

    weights = model_kw.get("weights")
    keras_weights = None
    if framework == "keras" and weights is not None and Path(weights).suffix.lower() in (".h5", ".keras"):
        keras_weights, model_kw = weights, {**model_kw, "weights": None}
    loaded = resolve_model(model, **model_kw)
    if framework == "torch" and loaded.framework == "keras":
        raise ConfigError(f"'{model}' is a Keras model; export it with --framework keras (or without --framework)")
    if framework == "paddle":
        return _paddle(model, loaded)
    if framework == "keras" and loaded.framework == "torch":
        from ..zoo.keras import has_twin, to_keras

        if not has_twin(loaded.card.name):
            raise ConfigError(f"--framework keras takes a zoo model or a Keras file; '{model}' is a PyTorch model")
        progress(f"keras: building the Keras version of {loaded.card.name}")
        loaded = to_keras(loaded, keras_weights)
    return loaded


def _paddle(model, loaded):
    """--framework paddle: a zoo name through its Paddle twin; a Paddle factory as it came in."""
    from ..errors import ConfigError
    from ..zoo import MODELS
    from ..zoo.paddle import TWINS, to_paddle_zoo

    if loaded.notes.get("source_framework") == "paddle":
        return loaded
    if model in MODELS and loaded.card.name in TWINS:
        progress(f"paddle: building the Paddle version of {loaded.card.name} and bringing it back into its torch twin")
        return to_paddle_zoo(loaded)
    if model in MODELS:
        raise ConfigError(f"--framework paddle: '{model}' has no Paddle twin; zoo models that have one: {', '.join(TWINS)}")
    raise ConfigError(f"--framework paddle: '{model}' gave a {loaded.framework} model, not a paddle.nn.Layer; pass "
                      "module:factory with a factory returning a paddle.nn.Layer (or drop --framework paddle)")


def _human(doc: dict) -> str:
    from .accuracy_view import accuracy_tables

    arts = doc["artifacts"]
    items = [(a["path"], a["meta"].get("accuracy") or {}) for a in arts]
    extras = [{"precision": a["precision"], "size_mb": Path(a["path"]).stat().st_size / 1e6} for a in arts]
    head = f"BatchNorm folded: {doc['fold_bn'].get('folded')} layers"
    return (head + "\n" + accuracy_tables(items, [("precision", "precision"), ("size_mb", "MB")], extras)
            + "".join("\n" + line for a in arts for line in target_lines(a)))


def target_lines(a: dict) -> list[str]:
    """The precision_target block of one artifact (as export/run --json carry it), for people."""
    b = a["meta"].get("precision_target")
    if not b:
        return []
    name, before, after = Path(a["path"]).name, b["before"], b["after"]

    def pct(acc):
        n = acc.get("samples") or 0
        ci = acc.get("top1_agreement_ci95")
        sure = f", 95% CI {100 * ci[0]:.0f}-{100 * ci[1]:.0f}%" if ci else ""
        return (f"{100 * acc['top1_agreement']:.1f}% ({round(acc['top1_agreement'] * n)}/{n}{sure}; "
                f"cosine {acc['cosine_mean']:.4f}, SQNR {acc['sqnr_db']:.1f} dB)")

    lines = [f"{name}: target {100 * b['target']:g}% top-1 agreement {'met' if b['met'] else 'NOT met'}; "
             f"pure int8 {pct(before)}"]
    if b["layers"]:
        lat = b["latency"]
        lines.append(f"  kept in float ({len(b['layers'])}): " + ", ".join(
            f"{l['layer']} (+{l['sqnr_gain_db']:.2f} dB)" for l in b["layers"]))
        lines.append(f"  now {pct(after)}; p50 at 1 thread {lat['p50_ms']:.2f} ms vs {lat['pure_int8_p50_ms']:.2f} ms "
                     f"pure int8 = {lat['ratio']:.2f}x (budget {b['max_slowdown']:g}x)")
    return lines
