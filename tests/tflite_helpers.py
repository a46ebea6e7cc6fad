"""Test helpers for .tflite files: small exports and a file with a custom operator."""
from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np


def small_export(out_dir: Path, name: str = "mobilenet_v2", precision: str = "int8", size: int = 48):
    """A random-init zoo model exported to .tflite at ``size`` px (with its sidecar)."""
    import torch

    from edgekit.data import ImageSet
    from edgekit.export import EXPORTERS, ExportRequest
    from edgekit.quantize import QuantConfig
    from edgekit.zoo import get_model

    torch.manual_seed(0)
    loaded = get_model(name)
    loaded.card = replace(loaded.card, preprocess=replace(loaded.card.preprocess, crop=size, resize=size + 8))
    calib = ImageSet(np.random.default_rng(0).standard_normal((2, 3, size, size)).astype(np.float32), ["a", "b"])
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    req = ExportRequest(loaded, Path(out_dir), precision, calibration=calib, quant=QuantConfig(samples=2))
    return EXPORTERS.get("tflite").export(req)


def with_custom_op(src: Path, dst: Path, op_name: str = "EdgekitTestOp") -> Path:
    """Copy ``src`` with its last operator replaced by a custom op (and its sidecar)."""
    import flatbuffers

    from edgekit.formats.tflite import schema

    fb = schema()
    model = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(Path(src).read_bytes(), 0))
    code = fb.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = fb.BuiltinOperator.CUSTOM
    code.customCode = op_name
    code.version = 1
    model.operatorCodes.append(code)
    op = model.subgraphs[0].operators[-1]
    op.opcodeIndex = len(model.operatorCodes) - 1
    op.builtinOptionsType, op.builtinOptions = 0, None
    b = flatbuffers.Builder(0)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    Path(dst).write_bytes(bytes(b.Output()))
    sidecar = Path(str(src) + ".edgekit.json")
    if sidecar.is_file():
        shutil.copy(sidecar, str(dst) + ".edgekit.json")
    return Path(dst)
