"""run_sweep(): plan, skip what the database already holds, run the rest on Ray, report."""
from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from .._env import environment
from .._files import ensure_writable_dir
from .matrix import SweepMatrix, SweepPlan, plan
from .progress import Progress
from .store import SweepStore


def _silent(_msg: str) -> None:
    pass


@dataclass
class SweepResult:
    run_id: int
    db: str
    out_dir: str
    plan: SweepPlan
    results: list[dict]  # every finished bench job of the matrix: this run's and those resumed
    failures: list[dict]  # this run's
    resumed: dict  # {"benches": n, "exports": n} skipped because their results were in the database
    timings: dict = field(default_factory=dict)  # ray_startup_s, export_wall_s, wall_s
    report: dict = field(default_factory=dict)
    devices: dict = field(default_factory=dict)  # URI -> what the device is (probe)
    files: list[dict] = field(default_factory=list)  # every exported file of the matrix, with its accuracy

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "db": self.db, "out": self.out_dir,
                "jobs": {"exports": len(self.plan.exports), "benches": len(self.plan.benches)},
                "resumed": self.resumed, "done": len(self.results), "failed": len(self.failures),
                "failures": self.failures, "notes": self.plan.notes, "timings": self.timings, "report": self.report,
                "devices": self.devices, "files": self.files, "results": self.results}


@dataclass
class _Todo:
    exports: list
    benches: list
    ready_files: dict  # file key -> sweep_jobs row of a file exported earlier
    done: dict  # bench key -> row (with "result") of a bench finished earlier


def todo(p: SweepPlan, store: Optional[SweepStore], force: bool, export_only: bool) -> _Todo:
    """What is left: bench jobs without a result, and the export jobs whose files they (or an
    export-only sweep) need that are not in OUT with the bytes recorded."""
    done = {} if force or store is None else store.done_benches([b.key for b in p.benches])
    benches = [] if export_only else [b for b in p.benches if b.key not in done]
    needed = {e.file_key(q) for e in p.exports for q in e.precisions} if export_only else {b.file_key for b in benches}
    have = {} if force or store is None else store.done_files(sorted(needed))
    exports = [e for e in p.exports if any(e.file_key(q) in needed and e.file_key(q) not in have for q in e.precisions)]
    redone = {e.file_key(q) for e in exports for q in e.precisions}
    return _Todo(exports, benches, {k: v for k, v in have.items() if k not in redone}, done)


def dry_run(matrix: SweepMatrix, db_path: Optional[Path], export_only: bool = False, force: bool = False) -> dict:
    """The job list, each job's status (todo / done), without starting Ray or writing anything."""
    from ..report.db import default_db_path

    p = plan(matrix, export_only)
    store = SweepStore.read_only(Path(db_path) if db_path else default_db_path())
    t = todo(p, store, force, export_only)
    left_e, left_b = {e.key for e in t.exports}, {b.key for b in t.benches}
    jobs = [{**e.to_dict(), "name": e.name, "status": "todo" if e.key in left_e else "done"} for e in p.exports]
    jobs += [{**b.to_dict(), "name": b.name, "status": "todo" if b.key in left_b else "done"}
             for b in ([] if export_only else p.benches)]
    return {"jobs": jobs, "notes": p.notes, "todo": len(left_e) + len(left_b), "total": len(jobs)}


def run_sweep(matrix: SweepMatrix, out_dir: Path, db, *, export_only: bool = False, force: bool = False,
              ray_address: Optional[str] = None, num_cpus: Optional[int] = None, device_options=None,
              label: Optional[str] = None, command: Optional[str] = None, verbose: bool = False,
              object_store_mb: int = 400, progress: Callable[[str], None] = _silent) -> SweepResult:
    """Every job of the matrix that has no result in ``db`` (a ResultsDB), on Ray; recorded as
    it finishes; then the table's results and the report in OUT/report."""
    from ..devices import DeviceOptions
    from . import summary

    wall0 = time.monotonic()
    p = plan(matrix, export_only)  # every check before Ray starts or anything is written
    for note in p.notes:
        progress(f"sweep: note: {note}")
    store = SweepStore(db)
    t = todo(p, store, force, export_only)
    if t.exports or t.benches:  # Ray installed, the cluster answering: before anything is written
        from .cluster import preflight

        ray_address = preflight(ray_address, num_cpus)
    out_dir = ensure_writable_dir(Path(out_dir))
    total = len(p.exports) + (0 if export_only else len(p.benches))
    bar = Progress(total, progress, exports_total=len(p.exports))
    bar.done = bar.resumed = (len(p.exports) - len(t.exports)) + (0 if export_only else len(p.benches) - len(t.benches))
    bar.exports_done = len(p.exports) - len(t.exports)
    run_id = db.new_run("sweep", label, command, environment())
    result = SweepResult(run_id, str(db.path), str(out_dir), p, [], [],
                         {"exports": len(p.exports) - len(t.exports), "benches": len(t.done)})
    if t.exports or t.benches:
        progress(f"sweep: {len(t.exports)} export and {len(t.benches)} bench jobs to run"
                 + (f" ({bar.resumed} already done: resumed from {db.path})" if bar.resumed else ""))
        _on_ray(p, t, store, run_id, out_dir, result, bar, ray_address, num_cpus,
                device_options or DeviceOptions(), verbose, object_store_mb, progress)
    else:
        progress(f"sweep: all {total} jobs already done (in {db.path}); --force redoes them")
    result.results = [r["result"] for r in t.done.values()] + result.results
    result.files = _files(store, p, result.files)
    result.timings["wall_s"] = round(time.monotonic() - wall0, 1)
    if result.results:
        result.report = summary.write(run_id, result.results, label, out_dir)
    return result


def _on_ray(p, t, store, run_id, out_dir, result, bar, address, num_cpus, options, verbose, object_store_mb,
            progress) -> None:
    from .cluster import start
    from .driver import Driver

    devices = tuple(sorted({b.device for b in t.benches}))
    cluster = start(address, devices, num_cpus, object_store_mb)
    result.timings["ray_startup_s"] = round(cluster.startup_s, 1)
    where = f"Ray cluster at {address}" if address else "Ray on this machine"
    progress(f"sweep: {where}: {cluster.cpus} CPUs, {len(cluster.node_cpus)} node(s); started in "
             f"{cluster.startup_s:.1f} s")
    driver = Driver(p, store, run_id, out_dir, cluster, options, bar, progress, verbose)
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_interrupt) if main else None  # SIGTERM ends it as SIGINT does
    try:
        driver.run(t.exports, t.benches, t.ready_files)
    except KeyboardInterrupt:
        driver.interrupt()
        raise
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
        result.results, result.failures, result.devices = driver.results, driver.failures, driver.device_info
        result.files = [{"path": str(a.path)} for a in driver.files_saved]
        if driver.export_span:
            result.timings["export_wall_s"] = round(max(driver.export_span) - min(driver.export_span), 1)
        cluster.shutdown()


def _files(store, p, saved: list) -> list[dict]:
    """Every file of the matrix in OUT (exported now or before), with what validation said."""
    from ..export.artifact import Artifact
    from ..runtime_bench.metrics import shown_figures

    rows = store.done_files([e.file_key(q) for e in p.exports for q in e.precisions])
    out = []
    for path in sorted({r["file"] for r in rows.values()} | {f["path"] for f in saved}):
        a = Artifact.load(Path(path))
        acc = shown_figures(a.meta.get("accuracy") or {})
        out.append({"path": path, "model": a.card.get("name"), "format": a.format, "precision": a.precision,
                    "top1_agreement": acc.get("top1_agreement"), "cosine_mean": acc.get("cosine_mean"),
                    "samples": acc.get("samples"), "top1_agreement_ci95": acc.get("top1_agreement_ci95"),
                    "sqnr_db": acc.get("sqnr_db"), "warnings": acc.get("warnings") or []})
    return out


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt
