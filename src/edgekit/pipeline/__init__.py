"""The spine, top to bottom: model -> fold BN -> export -> quantize -> validate -> bench -> record -> report.

Library code the CLI calls: nothing here prints; progress goes to the ``progress`` callback.
"""
from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

from .._files import ensure_writable_dir, move_into, staging_dir
from .._finite import require_finite_model
from ..errors import ConfigError
from .data import DataOptions, load_data, load_images
from .prepare import fold, prepare_int8, reference_outputs
from .results import ExportResult, RunResult
from .source import reload_source, zoo_reference


def _silent(_msg: str) -> None:
    pass


def available_formats() -> list[str]:
    """The formats exported when none is named: installed, and not opt-in (ExecuTorch, ncnn)."""
    from ..export import EXPORTERS

    return [n for n, e in EXPORTERS.items()
            if e.by_default and all(importlib.util.find_spec(m) for m in e.requires)]


def _require_tools(exporter) -> None:
    """A named format whose tools are not installed: one line naming the extra, before any work."""
    from ..errors import MissingDependencyError
    from ..formats import FORMATS

    missing = [m for m in exporter.requires if importlib.util.find_spec(m) is None]
    if missing:
        spec = FORMATS.get(exporter.format)
        raise MissingDependencyError(f"{spec.title} export needs {' and '.join(missing)}, which is not installed. "
                                     f"Install it with: pip install 'edgekit[{spec.extra}]'")


def export(loaded, out_dir: Path, formats: Optional[Sequence[str]] = None, int8: bool = False,
           data: DataOptions = DataOptions(), quant=None, progress: Callable[[str], None] = _silent,
           options: Sequence = (), target=None) -> ExportResult:
    """Fold BN, export each format and precision, validate each file against the float model on
    held-out images. ``options``: exporters' options objects, e.g. (TfliteOptions(fp16=True),).
    ``target``: a target.TargetOptions; int8 files then keep their most sensitive layers in float
    until they meet it (pipeline/target.py). Files are staged inside ``out_dir`` and moved in only
    when every one of them passed."""
    from ..export import EXPORTERS, ExportRequest
    from ..quantize import QuantConfig
    from ..runtime_bench.validate import validate_outputs

    quant = quant or QuantConfig()
    if not formats:  # every installed format that takes this kind of model
        formats = [f for f in available_formats() if loaded.framework in EXPORTERS.get(f).frameworks]
    exporters = [EXPORTERS.get(f) for f in formats]
    options_of = {o.format: o for o in options}
    unused = sorted(f for f, o in options_of.items() if f not in formats and o != type(o)())
    if unused:
        raise ConfigError(f"Options for {', '.join(unused)} are given but {' and '.join(unused)} is not exported; "
                          f"add it to the formats")
    precisions_of = {e.format: e.plan(int8, options_of.get(e.format)) for e in exporters}
    for e in exporters:  # capability first, then any slow work
        _require_tools(e)
        for p in precisions_of[e.format]:
            e.check(loaded.framework, p, quant, options_of.get(e.format))
    if target is not None:
        from .target import check as check_target

        check_target(target, int8, exporters, precisions_of)
    need_calibration = any(p.integer for ps in precisions_of.values() for p in ps)
    require_finite_model(loaded, "The weights")  # before any file is written or slow work starts
    out_dir = ensure_writable_dir(Path(out_dir))

    result = ExportResult()
    calib, evalset = load_data(loaded.card, data, need_calibration, result.warnings, progress)
    result.data = {"calibration": calib.summary() if calib else None, "evaluation": evalset.summary()}
    folded, result.fold = fold(loaded, progress)
    reference = reference_outputs(folded, evalset, calib, need_calibration, quant.samples)
    int8_prepared = prepare_int8(folded, exporters, precisions_of, calib, quant, progress)

    def build(exporter, precision, where: Path, q):
        module, int8_prep = int8_prepared.get(exporter.int8_saturation_safe, (None, None))
        if q.exclude and module is not None:  # the layers kept in float get their unrounded weights back
            from ..quantize.prepare import with_float_layers

            module = with_float_layers(module, q.exclude)
        art = exporter.export(ExportRequest(
            folded, where, precision, calibration=calib, quant=q, progress=progress,
            fold_report=result.fold, options=options_of.get(exporter.format),
            int8_module=module, int8_preparation=int8_prep))
        progress(f"validate: {art.path.name} on {len(evalset)} held-out images")
        art.meta["accuracy"] = validate_outputs(reference, art.path, evalset)
        art.save_sidecar()
        low = low_agreement_warning(art.path, art.meta["accuracy"])
        if low:
            progress(low)
            result.warnings.append(low)
        return art

    with staging_dir(out_dir) as stage:
        staged = []
        for exporter in exporters:
            for precision in precisions_of[exporter.format]:
                staged.append((exporter, precision, build(exporter, precision, stage, quant)))
        if target is not None:
            from .target import reach_all

            reach_all(target, staged, build, stage, folded, calib, quant, progress)
        for _, _, art in staged:
            art.path = move_into(art.files(), out_dir)[-2]  # [..., file, sidecar]
            result.artifacts.append(art)
    return result


LOW_AGREEMENT = 0.9  # a file whose agreement is surely below this is broken, not noisy


def low_agreement_warning(path: Path, accuracy: dict) -> Optional[str]:
    """One warning line when even the top of the 95% interval of the file's top-1 agreement with
    float is under LOW_AGREEMENT: on 12 photos 10/12 (interval 55-95%) says nothing, on 200
    images 17/200 (ShuffleNetV1 g2 as OpenVINO int8, interval 5-13%) says the file is broken.
    The file is still written (the figure is in its sidecar): which layer breaks it is a job
    for `edgekit explain`, and a user may want to look."""
    ci = accuracy.get("top1_agreement_ci95")
    if not ci or ci[1] >= LOW_AGREEMENT:
        return None
    n = accuracy.get("samples") or 0
    return (f"warning: {Path(path).name} agrees with the float model's top-1 on only "
            f"{100 * accuracy['top1_agreement']:.1f}% of {n} held-out images (95% CI {100 * ci[0]:.0f}-"
            f"{100 * ci[1]:.0f}%); `edgekit explain {path}` shows the layer where it breaks")


def validate(artifact: Path, data: Optional[Path] = None, weights: Optional[Path] = None,
             engine: Optional[str] = None, threads: int = 1, trust_code: bool = False,
             progress: Callable[[str], None] = _silent, contained: bool = True) -> dict:
    """An exported file's outputs vs its float source model (named by its sidecar) on real images.
    ``contained``: the runtime parses and runs the file in a process of its own, so a malformed or
    hostile file that crashes it cannot take the caller down."""
    from ..data import default_photos
    from ..data.labels import card_class_names
    from ..export.artifact import Artifact
    from ..runtime_bench.config import check_threads_fit, host_cores
    from ..runtime_bench.reference_engine import reference_engine
    from ..runtime_bench.validate import validate_outputs

    check_threads_fit([threads], host_cores(), "this host")
    art = Artifact.load(artifact)
    loaded = reload_source(art, weights, trust_code=trust_code)
    images = load_images(loaded.card, data, progress) if data else \
        default_photos(loaded.card.preprocess, class_names=card_class_names(loaded.card))
    progress(f"validate: float reference on {len(images)} images")
    result = validate_outputs(reference_engine(loaded).run(images.arrays), art.path, images, engine, threads,
                              contained=contained)
    result["file"] = str(art.path)
    return result


def run(loaded, out_dir: Path, bench_config, formats: Optional[Sequence[str]] = None, int8: bool = False,
        data: DataOptions = DataOptions(), quant=None, reference: bool = True, db=None,
        label: Optional[str] = None, command: Optional[str] = None,
        progress: Callable[[str], None] = _silent, target=None) -> RunResult:
    """The whole flow: export and validate every file, bench each (and the float PyTorch zoo model
    unless ``reference`` is False), record everything in ``db`` (a ResultsDB, or None), and write
    the report to OUT/report."""
    from ..report.build import write_report
    from ..runtime_bench.bench import bench
    from ..runtime_bench.result import bench_environment

    start = time.monotonic()
    result = export(loaded, out_dir, formats, int8=int8, data=data, quant=quant, progress=progress, target=target)
    progress(f"run: {len(result.artifacts)} files exported and validated in {time.monotonic() - start:.0f} s")
    run_id = db.record_export(result.artifacts, kind="run", label=label, command=command) if db else None
    timing = bench([a.path for a in result.artifacts], bench_config, progress,
                   reference=zoo_reference(loaded) if reference else None)
    if db:
        db.record_bench(timing.results, run_id=run_id)
    name = loaded.notes.get("user_model") or loaded.card.name
    report = {"title": f"edgekit run {name}" + (f" (run {run_id})" if run_id else ""), "results": timing.results,
              "env": bench_environment(timing.results), "ratios": timing.ratios,
              "run": {"id": run_id, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}
    written = write_report(report, Path(out_dir) / "report")
    progress(f"run: done in {time.monotonic() - start:.0f} s; report: {written['html']}")
    return RunResult(result, timing, written, run_id, str(db.path) if db else None)


__all__ = ["DataOptions", "ExportResult", "RunResult", "available_formats", "export", "load_data", "load_images",
           "low_agreement_warning", "reload_source", "run", "validate"]
