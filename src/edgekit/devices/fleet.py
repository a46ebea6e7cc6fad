"""Several devices in one command: one thread per device, results gathered in one place.

Each device measures its files one after another (a device is never asked to run two
benchmarks at once); devices run concurrently.  Results are handed to ``on_results`` in the
calling thread as soon as a device finishes a file, so they are recorded even if another
device (or this device, later) fails.  A failing device ends only its own work.
"""
from __future__ import annotations

import queue
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Optional

from ..errors import ConfigError, EdgekitError
from .targets import DeviceOptions, connect, parse_uri
from .transport import allow_commands, cancel_all

STOP_WAIT_S = 90.0  # after Ctrl-C/SIGTERM: how long devices get to remove their temp folders


def check_files(files: list[Path], cfg) -> list[Path]:
    """Host-side checks before any device is contacted (the host needs no runtime for this)."""
    from ..export.artifact import format_of
    from ..runtime_bench.engines.base import DEFAULT_ENGINE_FOR_FORMAT
    from ..runtime_bench.measure import RUNNER_ENGINES

    out = []
    for f in files:
        f = Path(f)
        if not f.is_file():
            raise ConfigError(f"File '{f}' does not exist")
        fmt = format_of(f)
        engine = cfg.engine or DEFAULT_ENGINE_FOR_FORMAT[fmt]
        if fmt not in RUNNER_ENGINES[engine][2]:
            raise ConfigError(f"Engine {engine} cannot run {fmt} files ('{f.name}'); "
                              f"it runs: {', '.join(RUNNER_ENGINES[engine][2])}")
        out.append(f)
    return out


def summary_line(info: dict) -> str:
    cl = " + ".join(f"{len(c['cpus'])}x{c.get('core') or ''}@{c['max_mhz']}MHz" for c in info.get("clusters") or [])
    rts = ", ".join(f"{k} {v}" for k, v in (info.get("runtimes") or {}).items() if v and k != "numpy")
    return (f"{info.get('arch')}, {info.get('os')}, {info.get('model') or info.get('cpu_model')}, "
            f"{info.get('cores')} cores usable" + (f", clusters {cl}" if cl else "")
            + f"; python {info.get('python') or 'none'}" + (f" ({rts})" if rts else ""))


def bench_devices(files: list[Path], cfg, uris: list[str], options: DeviceOptions,
                  progress: Callable[[str], None] = lambda m: None, validate: bool = False,
                  data: Optional[Path] = None, on_results: Callable[[list[dict]], None] = lambda r: None) -> dict:
    from ..runtime_bench.bench import artifact_info
    from ..runtime_bench.engines.base import DEFAULT_ENGINE_FOR_FORMAT
    from ..export.artifact import format_of
    import numpy as np

    from .validation import compare, host_reference

    parsed = [parse_uri(u) for u in uris]  # every URI checked before any work
    if len({p.text for p in parsed}) != len(parsed):
        raise ConfigError("The same --device is given twice; a device runs one benchmark at a time")
    files = check_files(files, cfg)
    arts = {str(f): artifact_info(f) for f in files}
    with tempfile.TemporaryDirectory(prefix="edgekit-devices-") as td:
        work = Path(td)
        refs = {}
        if validate:
            for f in files:
                refs[str(f)] = host_reference(f, cfg.engine or DEFAULT_ENGINE_FOR_FORMAT[format_of(f)], data, work,
                                              progress)
        q: queue.Queue = queue.Queue()
        allow_commands()
        threads = [threading.Thread(target=_worker, daemon=True, name=f"edgekit-device-{i}",
                                    args=(i, p, files, cfg, options, refs, work, q, progress))
                   for i, p in enumerate(parsed)]
        for t in threads:
            t.start()
        results, errors, infos, bug, warned = [], [], {}, None, set()
        running = len(threads)
        while running:
            kind, i, payload = _next(q, threads, progress)
            if kind == "info":
                infos[parsed[i].text] = payload
            elif kind == "results":
                for r in payload:
                    r["artifact"] = arts[r["file"]]
                    r["_order"] = (i, [str(f) for f in files].index(r["file"]), r["threads"])
                    out = r.pop("_outputs_file", None)
                    if out is not None and r["file"] in refs:
                        r["validation"] = compare(refs[r["file"]], np.load(out))
                    v = r.get("validation") or {}
                    if v.get("status") == "unavailable":
                        r["device"]["warnings"].append(f"no validation: {v['reason']}")
                    for w in r["device"]["warnings"]:
                        if (i, w) not in warned:
                            warned.add((i, w))
                            progress(f"warning: {parsed[i].text}: {w}")
                results += payload
                on_results(payload)
            elif kind == "error":
                if isinstance(payload, EdgekitError):
                    errors.append({"device": parsed[i].text, "error": str(payload), "kind": type(payload).__name__})
                    if len(parsed) > 1:  # with one device, the error line says it all
                        progress(f"{parsed[i].text}: FAILED: {payload}")
                else:
                    bug = bug or payload
            elif kind == "done":
                running -= 1
        for t in threads:
            t.join()
    if bug is not None:
        raise bug  # an edgekit bug: keep its traceback
    results.sort(key=lambda r: r.pop("_order"))
    return {"results": results, "errors": errors, "devices": infos, "ratios": device_ratios(results),
            "config": asdict(cfg)}


def _next(q: queue.Queue, threads: list, progress):
    """The next message from the device threads; on Ctrl-C or SIGTERM, stop what each device
    runs and wait (bounded) while each removes its temp folder, then re-raise."""
    try:
        return q.get()
    except KeyboardInterrupt:
        progress("interrupted: stopping the devices and removing their temp folders")
        cancel_all()
        deadline = time.monotonic() + STOP_WAIT_S
        for t in threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        left = [t.name for t in threads if t.is_alive()]
        if left:
            progress(f"warning: {len(left)} device(s) did not finish cleaning up within {STOP_WAIT_S:.0f} s")
        raise


def _worker(i, uri, files, cfg, options, refs, work, q, progress) -> None:
    try:
        with connect(uri, options) as target:
            info = target.describe()
            q.put(("info", i, info))
            progress(f"{target.name}: {summary_line(info)}")
            for j, f in enumerate(files):
                ref = refs.get(str(f))
                out = work / f"dev{i}-file{j}.npy"
                target.bench(f, cfg, progress, ref.inputs if ref else None, out if ref else None,
                             on_result=lambda r: q.put(("results", i, [r])))
    except BaseException as exc:  # reported to the main thread; nothing else is lost
        q.put(("error", i, exc))
    finally:
        q.put(("done", i, None))


def device_ratios(results: list[dict]) -> list[dict]:
    """int8 vs fp32 of the same model and format on the same device and thread count.

    p50 when the device reports it, else the mean (benchmark_model prints no percentiles)."""
    out = []
    key = lambda r: (r["where"], r["artifact"]["model"], r["artifact"]["format"], r["engine_name"], r["threads"])  # noqa: E731
    fp32 = {key(r): r for r in results if r["artifact"]["precision"] == "fp32"}
    for r in results:
        base = fp32.get(key(r))
        if base is None or r is base or r["artifact"]["precision"] == "fp32":
            continue
        stat = "p50_ms" if base["stats"]["p50_ms"] is not None and r["stats"]["p50_ms"] is not None else "mean_ms"
        out.append({"device": r["where"], "format": r["artifact"]["format"], "engine": r["engine_name"],
                    "threads": r["threads"], "baseline": base["file"], "candidate": r["file"],
                    "precision": r["artifact"]["precision"], "statistic": stat,
                    "baseline_ms": base["stats"][stat], "candidate_ms": r["stats"][stat],
                    "speedup": base["stats"][stat] / r["stats"][stat]})
    return out
