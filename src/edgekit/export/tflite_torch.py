"""PyTorch -> TFLite for a user's own torch module (no Keras twin): litert-torch, optional.

litert-torch is an optional extra (``pip install 'edgekit[tflite-torch]'``, +0.94 GB);
scripts/test.sh installs it, so CI runs this route. int8 uses its PT2E quantizer (static,
per-channel weights) with two annotations it misses under torch 2.13 (``_tflite_complete_quantizer``);
the module arrives BN-folded with Dropout removed, I/O wrapped to NHWC. Measured accuracy of
this route vs the Keras twin: docs/decisions.md, "TFLite from a torch module".
"""
from __future__ import annotations

import importlib.util
import tempfile
import warnings
from pathlib import Path

from .._quiet import captured_stderr
from ..errors import MissingDependencyError, UnsupportedError, first_line
from ..quantize import tflite_int8
from ..quantize.config import Calibration
from ..types import Precision
from .artifact import Artifact
from .base import ExportRequest
from .tflite_finish import write_tflite

INSTALL = "pip install 'edgekit[tflite-torch]'"
# PT2EQuantizer.set_module_name refuses a None (float) config ("not supported yet"), and the
# module names change under to_channel_last_io: this route keeps no layer float.
CALIBRATION = Calibration("tflite (litert-torch route: a PyTorch module without a Keras twin)",
                          tflite_int8.CALIBRATION.methods, best=tflite_int8.CALIBRATION.best, exclusions=False,
                          no_exclusions_hint="per-layer float is offered for zoo models (Keras twin), ONNX and OpenVINO")


def export_with_litert_torch(req: ExportRequest, opts, final: Path) -> Artifact:
    loaded = req.loaded
    if importlib.util.find_spec("litert_torch") is None:
        raise MissingDependencyError(
            f"'{loaded.card.name}' is a PyTorch model without a Keras twin; converting it to TFLite needs "
            f"litert-torch: {INSTALL} (about 0.9 GB). Zoo models and Keras models need no extra")
    if req.precision not in (Precision.FP32, Precision.INT8):
        raise UnsupportedError(f"tflite {req.precision} from a PyTorch module needs a Keras model; "
                               "litert-torch export here does fp32 and int8")
    if req.precision.integer:
        CALIBRATION.resolve(req.quant)
    if req.precision == Precision.INT8 and opts.io_dtype != "float32":
        req.progress("tflite int8 (litert-torch): I/O stays float32 (PT2E quantizes inside the graph)")
    import litert_torch
    import torch

    n, c, h, w = loaded.card.input_shape
    source = loaded.module
    if req.precision == Precision.INT8 and req.int8_module is not None:  # equalized + GPTQ (quantize/prepare.py)
        source = req.int8_module
    module = litert_torch.to_channel_last_io(source.eval(), args=[0]).eval()
    example = (torch.zeros(1, h, w, c),)
    kwargs = {}
    qsummary = {"precision": "fp32"}
    if req.precision == Precision.INT8:
        module, kwargs, qsummary = _pt2e(module, example, req.calibration, req.quant)
    req.progress(f"tflite {req.precision}: converting with litert-torch")
    try:
        with warnings.catch_warnings(), captured_stderr((1, 2)):  # its progress log would land on stdout
            warnings.simplefilter("ignore")
            edge = litert_torch.convert(module, example, **kwargs)
            with tempfile.TemporaryDirectory(dir=req.out_dir, prefix=".edgekit-") as td:
                raw = Path(td) / "model.tflite"
                edge.export(str(raw))
                data = raw.read_bytes()
    except Exception as exc:
        raise UnsupportedError(f"litert-torch could not convert this model: {first_line(exc)}") from None
    info = {"route": "litert-torch", "converter": f"litert_torch {getattr(litert_torch, '__version__', '?')}"}
    if source is not loaded.module:
        info["int8_preparation"] = req.int8_preparation
    return write_tflite(req, opts, data, final, info, qsummary)


def _pt2e(module, example, calibration, quant):
    import torch
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
    from litert_torch.quantize.quant_config import QuantConfig

    try:
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    except ImportError:
        from torch.ao.quantization.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = _tflite_complete_quantizer(PT2EQuantizer)().set_global(
        get_symmetric_quantization_config(is_per_channel=quant.per_channel, is_dynamic=False))
    graph = prepare_pt2e(torch.export.export(module, example).module(), quantizer)
    arrays = calibration.arrays[: quant.samples]
    with torch.no_grad():
        for a in arrays:
            graph(torch.from_numpy(a.transpose(1, 2, 0)[None].copy()))
    graph = convert_pt2e(graph, fold_quantize=False)
    summary = {"engine": "litert-torch PT2E (static)", "per_channel": quant.per_channel,
               "samples": int(len(arrays)), "io": "float32"}
    return graph, {"quant_config": QuantConfig(pt2e_quantizer=quantizer)}, summary


def _tflite_complete_quantizer(base):
    """litert-torch's PT2EQuantizer plus two annotations it misses under torch 2.13.

    1. conv -> ReLU6 (``aten.hardtanh``) as one fused unit, as it already does for conv ->
       ReLU: only the clamp's output is observed. Without it the conv output, negatives
       included, set the range shared by the ReLU6 output that TFLite fuses into the conv.
    2. every tensor ``aten.add`` (residual connections): litert-torch finds adds by
       ``source_fn_stack``, which torch 2.13's ``torch.export`` no longer records for
       ``x + y``; an add feeding another add (MobileNetV2 has 9) became a float ADD.
    Both annotated the way litert-torch's own conv_relu and add annotators do it.
    """
    import torch
    from litert_torch.quantize.pt2e_quantizer_utils import (get_bias_qspec, get_input_act_qspec,
                                                            get_output_act_qspec, get_weight_qspec)
    from torchao.quantization.pt2e.quantizer import QuantizationAnnotation

    from ..quantize.pt2e_fuse import annotate_conv_clamp

    aten = torch.ops.aten

    class CompleteQuantizer(base):
        def annotate(self, model):
            cfg = self.global_config
            for node in model.graph.nodes:
                if node.op != "call_function" or annotate_conv_clamp(
                        node, get_input_act_qspec(cfg), get_weight_qspec(cfg), get_bias_qspec(cfg),
                        get_output_act_qspec(cfg)):
                    continue
                if (node.target == aten.add.Tensor and "quantization_annotation" not in node.meta
                        and all(isinstance(a, torch.fx.Node) for a in node.args[:2])):
                    node.meta["quantization_annotation"] = QuantizationAnnotation(
                        input_qspec_map={a: get_input_act_qspec(cfg) for a in node.args[:2]},
                        output_qspec=get_output_act_qspec(cfg), _annotated=True)
            return super().annotate(model)

    return CompleteQuantizer
