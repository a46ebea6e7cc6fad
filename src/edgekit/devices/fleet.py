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
from pathlib import Path
from typing import Callable, Optional

from ..errors import ConfigError, EdgekitError
from ..runtime_bench.bench import BenchReport, artifact_info, speed_ratios
from ..runtime_bench.engines import engine_for
from ..runtime_bench.result import BenchResult, results_of
from .targets import DeviceOptions, connect, parse_uri


def check_files(files: list[Path], cfg) -> list[Path]:
    """Host-side checks before any device is contacted (the host needs no runtime for this)."""
    out = []
    for f in files:
        f = Path(f)
        if not f.is_file():
            raise ConfigError(f"File '{f}' does not exist")
        engine_for(f, cfg.engine)
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
                  data: Optional[Path] = None,
                  on_results: Callable[[list[BenchResult]], None] = lambda r: None) -> BenchReport:
    import numpy as np

    from .validation import compare, host_reference

    parsed = [parse_uri(u) for u in uris]  # every URI checked before any work
    if len({p.text for p in parsed}) != len(parsed):
        raise ConfigError("The same --device is given twice; a device runs one benchmark at a time")
    files = check_files(files, cfg)
    arts = {str(f): artifact_info(f).to_dict() for f in files}
    with tempfile.TemporaryDirectory(prefix="edgekit-devices-") as td:
        work = Path(td)
        refs = {}
        if validate:
            for f in files:
                refs[str(f)] = host_reference(f, engine_for(f, cfg.engine), data, work, progress)
        q: queue.Queue = queue.Queue()
        threads = [threading.Thread(target=_worker, daemon=True, name=f"edgekit-device-{i}",
                                    args=(i, p, files, cfg, options, refs, work, q, progress))
                   for i, p in enumerate(parsed)]
        for t in threads:
            t.start()
        results, order, errors, infos, bug, warned = [], {}, [], {}, None, set()
        running = len(threads)
        while running:
            kind, i, payload = q.get()
            if kind == "info":
                infos[parsed[i].text] = payload
            elif kind == "results":
                for r in payload:
                    r["artifact"] = arts[r["file"]]
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
                parsed_results = results_of(payload)
                for r in parsed_results:
                    order[id(r)] = (i, [str(f) for f in files].index(r.file), r.threads)
                results += parsed_results
                on_results(parsed_results)
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
    results.sort(key=lambda r: order[id(r)])
    return BenchReport(results, speed_ratios(results, by_device=True), cfg, errors=errors, devices=infos)


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
