"""One file on one target: push, run (runner.py or benchmark_model), pull, clean up.

Every result is runner.py's JSON schema plus:
  "file" (the local path), "engine_name", "where" (device URI), and "device": what the device
  is (probe), how it was measured ("method", pinning, the exact command), its state before and
  after the run, and warnings (governor, heat, throttling).
"""
from __future__ import annotations

import json
import shlex
import tempfile
from pathlib import Path
from typing import Callable, Optional

from ..errors import DeviceError
from ..formats import FORMATS, format_of
from ..runtime_bench.command import RUNNER, runner_argv
from ..runtime_bench.engines import EngineSpec, engine_for
from ..runtime_bench.pool import per_process_config, pool
from ..runtime_bench.runner import model_files
from . import benchmark_model as bm
from . import probe
from .transport import check, tail


def no_runtime_message(target, info: dict, fmt: str) -> str:
    py = target.python_path()
    rts = info.get("runtimes") or {}
    if info.get("python") is None:
        return (f"{target.name}: no python at '{py}' on the device ({info.get('python_error', '')[:80]}); "
                f"install python3 there and `pip install {probe.install_for_format(fmt)}` in a venv, "
                "then pass its interpreter as ?python=PATH in the device URI")
    have = ", ".join(f"{k} {v}" for k, v in rts.items() if v) or "none of numpy/ai_edge_litert/tflite_runtime/onnxruntime"
    return (f"{target.name}: the device's {py} (Python {info['python']}) cannot run {FORMATS.get(fmt).title} files "
            f"(has: {have}); install there: {py} -m pip install {probe.install_for_format(fmt)} "
            "(on Raspberry Pi OS: in a venv, then use ?python=/path/to/venv/bin/python)")


def choose_method(target, info: dict, fmt: str, engine: EngineSpec) -> str:
    """benchmark_model for .tflite on Android when the binary is at hand; runner.py otherwise."""
    if target.kind == "adb" and fmt == "tflite" and engine.backend == "litert":
        if bm.find_binary(info.get("abi"), target.options.benchmark_binary) is not None:
            return "benchmark_model"
        if probe.runtime_for(info, fmt) is None:
            raise DeviceError(bm.missing_binary_message(target.name, info.get("abi"))
                              + f"; nor has its {target.python_path()} a TFLite runtime")
        return "runner"
    if probe.runtime_for(info, fmt) is None:
        raise DeviceError(no_runtime_message(target, info, fmt))
    return "runner"


def device_block(target, info: dict, method: str, remote_dir: str, before: dict, after: dict,
                 pinning: Optional[dict], command: list[str]) -> dict:
    keep = ("arch", "abi", "os", "kernel", "model", "soc", "cpu_model", "cores", "clusters", "mem_total_mb",
            "python", "runtimes", "standin", "synthetic_sysfs")
    first = probe.state_warnings(before)
    warnings = first + [f"after the run: {w}" for w in probe.state_warnings(after) if w not in first]
    if info.get("standin"):
        warnings.append("adb STAND-IN device (edgekit test rig), not a phone")
    return {"uri": target.uri.text, "transport": target.kind, **{k: info.get(k) for k in keep},
            "method": method, "pinning": pinning, "command": shlex.join(command), "remote_dir": remote_dir,
            "cooldown_s": target.options.cooldown_s, "state_before": before, "state_after": after,
            "warnings": warnings}


def bench_on_target(target, path: Path, cfg, progress: Callable[[str], None] = lambda m: None,
                    validation_inputs: Optional[Path] = None, outputs_out: Optional[Path] = None,
                    on_result: Callable[[dict], None] = lambda r: None) -> list[dict]:
    """Results in thread order; each also goes to ``on_result`` the moment it is measured (so a
    device lost at the second thread count still leaves the first result with the caller).
    The first result carries "_outputs_file" (device outputs of ``validation_inputs``) or a
    "validation" saying why there are none."""
    fmt = format_of(path)
    engine = engine_for(path, cfg.engine)
    info = target.describe()
    method = choose_method(target, info, fmt, engine)
    results: list[dict] = []
    validation: Optional[dict] = None  # set below, merged into the first result

    def done(r: dict) -> None:
        r["file"], r["engine_name"], r["where"] = str(path), engine.name, target.uri.text
        r.setdefault("processes", 1)  # benchmark_model: one process, its own statistics
        if not results and validation is not None:
            r.update(validation)
        results.append(r)
        on_result(r)

    with tempfile.TemporaryDirectory(prefix="edgekit-dev-") as td, target.workdir() as d:
        local = Path(td)
        remote_model = f"{d}/{path.name}"
        for f in model_files(str(path)):  # an OpenVINO .xml brings its .bin
            target.transport.push(Path(f), f"{d}/{Path(f).name}", timeout=600)
        want_outputs = validation_inputs is not None and outputs_out is not None
        if method == "benchmark_model":
            if want_outputs and probe.runtime_for(info, fmt) is not None:
                _outputs_only(target, d, remote_model, engine, validation_inputs, outputs_out, local, progress)
                validation = {"_outputs_file": str(outputs_out)}
            elif want_outputs:
                validation = {"validation": {"status": "unavailable", "reason": (
                    f"benchmark_model cannot return outputs and {target.python_path()} on the device has "
                    "no numpy + TFLite runtime")}}
            _bench_binary(target, info, path, remote_model, d, cfg, progress, done)
        else:
            if want_outputs:
                validation = {"_outputs_file": str(outputs_out)}
            _bench_runner(target, info, path, remote_model, d, engine, cfg, local, progress,
                          validation_inputs if want_outputs else None, outputs_out, done)
    return results


def pinning(target, info: dict, threads: int) -> Optional[dict]:
    """taskset mask for the fastest cores on a big.LITTLE device (Android or a Linux board);
    None on this host, on homogeneous CPUs, or without taskset."""
    if target.kind == "local" or "taskset" not in (info.get("tools") or []):
        return None
    return probe.big_core_mask(info.get("cpus") or [], threads)


# ---- runner.py ----

def _runner_argv(target, d: str, remote_model: str, engine: EngineSpec, threads: int, cfg, json_out: str,
                 inputs: Optional[str] = None, outputs: Optional[str] = None) -> list[str]:
    return runner_argv([target.python_path(), f"{d}/runner.py"], remote_model, threads, json_out, engine, cfg,
                       inputs, outputs)


def _run_runner(target, argv: list[str], json_remote: str, local: Path, path: Path, timeout: float) -> dict:
    r = target.transport.run(argv, timeout=timeout)
    json_local = local / Path(json_remote).name
    doc = None
    try:
        target.transport.pull(json_remote, json_local, timeout=120)
        doc = json.loads(json_local.read_text())
    except (DeviceError, json.JSONDecodeError, OSError):
        if r.ok:
            raise
    if doc is not None and "error" in doc:
        if doc.get("error_kind") == "missing_runtime":
            raise DeviceError(no_runtime_message(target, target.describe(), format_of(path))
                              + f" [runner: {doc['error']}]")
        raise DeviceError(f"{target.name}: {path.name}: {doc['error']}")
    if not r.ok or doc is None:
        raise DeviceError(f"{target.name}: runner.py failed on {path.name} (exit {r.returncode}): "
                          f"{tail(r.stderr) or tail(r.stdout) or 'no output'}")
    return doc


def _bench_runner(target, info, path, remote_model, d, engine, cfg, local, progress, inputs, outputs_out, done):
    target.transport.push(RUNNER, f"{d}/runner.py")
    remote_in = remote_out = None
    if inputs is not None:
        remote_in, remote_out = f"{d}/inputs.npy", f"{d}/outputs.npy"
        target.transport.push(inputs, remote_in, timeout=600)
    share = per_process_config(cfg)  # as on the host: cfg.processes fresh processes, runs pooled
    for i, threads in enumerate(cfg.threads):
        target.cooldown(progress)
        pin = pinning(target, info, threads)
        before = target.state()
        docs = []
        for k in range(cfg.processes):
            tag = f" [process {k + 1}/{cfg.processes}]" if cfg.processes > 1 else ""
            progress(f"{target.name}: bench {path.name} ({engine.name}, {threads} thread(s)) with runner.py{tag}")
            json_remote = f"{d}/result-{i}-{k}.json"
            first = i == 0 and k == 0 and remote_in is not None
            argv = _runner_argv(target, d, remote_model, engine, threads, share, json_remote,
                                remote_in if first else None, remote_out if first else None)
            if pin:
                argv = ["taskset", pin["mask"]] + argv
            docs.append(_run_runner(target, argv, json_remote, local, path, share.max_seconds * 2 + 600))
            if first:
                target.transport.pull(remote_out, outputs_out, timeout=300)
        after = target.state()
        doc = pool(docs, cfg.keep_times)
        doc["device"] = device_block(target, info, f"runner.py ({doc.get('runtime')} {doc.get('runtime_version')})",
                                     d, before, after, pin, argv)
        done(doc)


def _outputs_only(target, d, remote_model, engine, inputs, outputs_out, local, progress) -> None:
    progress(f"{target.name}: validation outputs with runner.py")
    target.transport.push(RUNNER, f"{d}/runner.py")
    target.transport.push(inputs, f"{d}/inputs.npy", timeout=600)
    argv = _runner_argv(target, d, remote_model, engine, 1, None, f"{d}/outputs.json", f"{d}/inputs.npy",
                        f"{d}/outputs.npy")
    _run_runner(target, argv, f"{d}/outputs.json", local, Path(remote_model), 1800)
    target.transport.pull(f"{d}/outputs.npy", outputs_out, timeout=300)


# ---- benchmark_model (Android) ----

def _bench_binary(target, info, path, remote_model, d, cfg, progress, done) -> None:
    from .._files import sha256

    binary = bm.find_binary(info.get("abi"), target.options.benchmark_binary)
    bininfo = bm.check_binary(binary, info.get("abi"), target.name)
    bininfo["sha256"] = sha256(binary)
    remote_bin = f"{d}/benchmark_model"
    target.transport.push(binary, remote_bin, timeout=600)
    check(target.transport, ["chmod", "755", remote_bin], "chmod of benchmark_model")
    sha, size = sha256(path), sum(Path(f).stat().st_size for f in model_files(str(path)))
    for threads in cfg.threads:
        target.cooldown(progress)
        pin = pinning(target, info, threads)
        argv = bm.command(remote_bin, remote_model, threads, cfg, pin["mask"] if pin else None)
        progress(f"{target.name}: bench {path.name} ({threads} thread(s)) with benchmark_model"
                 + (f", taskset {pin['mask']} (cpus {','.join(map(str, pin['cpus']))})" if pin else ""))
        before = target.state()
        r = target.transport.run(argv, timeout=cfg.max_seconds * 2 + 600)
        after = target.state()
        if not r.ok:
            raise DeviceError(f"{target.name}: benchmark_model failed on {path.name} (exit {r.returncode}): "
                              f"{tail(r.stderr) or tail(r.stdout) or 'no output'}")
        parsed = bm.parse_output(r.stdout, target.name)
        us = parsed["timings_us"]
        standin = parsed["standin"] or bininfo["kind"] == "script"
        done({
            "schema": 1, "engine": "litert", "runtime": "benchmark_model", "runtime_version": None,
            "model": remote_model, "model_sha256": sha, "file_size_bytes": size, "threads": threads,
            "precision_hint": None, "load_ms": us["init"] / 1e3 if us["init"] is not None else None,
            "first_inference_ms": us["first_inference"] / 1e3 if us["first_inference"] is not None else None,
            "import_ms": None, "stats": bm.stats_ms(parsed), "stats_unavailable": bm.UNAVAILABLE_STATS,
            "warmup_runs": (parsed["warmup"] or {}).get("count"), "peak_rss_mb": parsed["memory_mb"]["peak"],
            "memory_mb": parsed["memory_mb"], "input": {"source": "random (benchmark_model)"},
            "host": {"machine": info.get("arch"), "cpu_model": info.get("cpu_model"), "cores": info.get("cores"),
                     "os": info.get("os"), "python": None},
            "timer": "benchmark_model STAND-IN (python under emulation)" if standin else "benchmark_model (native)",
            "benchmark_binary": bininfo, "benchmark_output": parsed,
            "device": device_block(target, info, "benchmark_model", d, before, after, pin, argv)})
