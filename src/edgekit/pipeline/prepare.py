"""Once per export, before any file: fold BatchNorm, check the float model computes, prepare int8."""
from __future__ import annotations

from dataclasses import replace

from .._finite import require_finite_arrays, require_finite_model
from ..errors import first_line


def fold(loaded, progress):
    """(a LoadedModel with BatchNorm folded, the fold report); ``loaded`` itself is left as it was."""
    if loaded.framework != "torch":  # Keras: TF's converter folds BatchNorm into the convs itself
        return loaded, {"folded": 0, "note": "Keras model: BatchNorm is folded by the TFLite converter"}
    import torch

    from ..fold_bn import fold_batchnorm

    progress("fold BN: folding BatchNorm and checking outputs")
    example = torch.randn(1, *loaded.card.input_shape[1:], generator=torch.Generator().manual_seed(0))
    module, report = fold_batchnorm(loaded.module, example)
    folded = replace(loaded, module=module)
    progress(f"fold BN: {report.folded} folded, max relative change {report.relative_diff:.1e}")
    require_finite_model(folded, "After folding BatchNorm, the weights")
    return folded, report.to_dict()


def reference_outputs(loaded, evalset, calib, need_calibration: bool, samples: int):
    """The float model's outputs on the evaluation images; both sets checked to give finite outputs."""
    from ..runtime_bench.reference_engine import reference_engine

    reference = reference_engine(loaded).run(evalset.arrays)
    _require_finite_outputs(reference, evalset, "evaluation")
    if need_calibration and calib is not None and calib is not evalset:
        _require_finite_outputs(reference_engine(loaded).run(calib.arrays[:samples]), calib, "calibration")
    return reference


def _require_finite_outputs(outputs, images, which: str) -> None:
    require_finite_arrays(outputs, images.names, f"The float model's outputs on the {which} images",
                          "The model computes NaN or inf on real inputs: check its weights and preprocessing")


def prepare_int8(loaded, exporters, precisions_of, calib, quant, progress) -> dict:
    """Equalize, GPTQ-round and bias-correct the folded torch model for every exporter that
    declares ``int8_preparation`` (ONNX, TFLite, OpenVINO, ExecuTorch: docs/int8_accuracy.md,
    section 5): once per weight grid they ask for (``Exporter.int8_saturation_safe``: ONNX and OpenVINO
    want saturation-safe weights where inputs are signed, TFLite and ExecuTorch plain 8 bits).
    {grid: (module, summary)}; empty when none needs it or the preparation failed."""
    wants = [e for e in exporters if e.int8_preparation and any(p.integer for p in precisions_of[e.format])]
    if loaded.framework != "torch" or not wants or calib is None or len(calib) == 0:
        return {}
    from ..quantize.prepare import prepare_for_int8

    prepared = {}
    for grid in dict.fromkeys(e.int8_saturation_safe for e in wants):
        try:
            prepared[grid] = prepare_for_int8(loaded.module, calib.arrays[:quant.samples], loaded.card.input_shape,
                                              progress, saturation_safe=grid)
        except Exception as exc:  # a user's module the preparation cannot handle: quantize it as is
            progress(f"warning: int8 preparation skipped ({type(exc).__name__}: {first_line(exc, 160)}); "
                     "quantizing the folded model as is")
            return {}
    return prepared
