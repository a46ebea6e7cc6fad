"""Latency on the host: runner.py in fresh processes per file, several files interleaved.

One file: ``python runner.py`` runs to completion in its own process (load, first
inference, warm-up, timed runs) and writes its JSON. Several files: every file still gets a
process of its own (so load time and peak memory are its own), loaded one after another;
then the host asks each in turn for a short round of timed runs (A B C A B C ...) until
every file has its minimum runs and seconds, so drift (thermal, other load on the machine)
hits all files alike and their ratios stay fair.

All of that happens cfg.processes times (default 3), in waves, each wave with its share of
the minimum runs and seconds, and each file's waves are pooled into one result (pool.py
says why: one process is one sample of memory layout). A wave holds one process per file,
so memory use does not grow with the count.
"""
from __future__ import annotations

import importlib.util
import json
import math
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ..errors import ConfigError, DeviceError, MissingDependencyError
from . import runner
from .pool import per_process_config, pool

RUNNER = Path(runner.__file__)

# engine name (as in ENGINES) -> (runner --engine, --precision-hint, formats it runs)
RUNNER_ENGINES = {
    "onnxruntime": ("onnxruntime", None, ("onnx",)),
    "litert": ("litert", None, ("tflite",)),
    "openvino": ("openvino", "f32", ("openvino", "onnx")),
    "openvino-bf16": ("openvino", "bf16", ("openvino", "onnx")),
}
RUNTIME_MODULES = {"onnxruntime": ("onnxruntime",), "litert": ("ai_edge_litert", "tflite_runtime", "tensorflow"),
                   "openvino": ("openvino",)}
# A runner process may take max_seconds for each of its load, first inference, warm-up and timed
# runs, plus this for the interpreter and the runtime's import; past that it is killed.
STARTUP_SLACK_S = 20.0
PROFILES = {  # name -> (min_runs, min_seconds): TFLite benchmark_model; MLPerf Mobile single-stream
    "default": (50, 1.0),
    "mlperf": (1024, 60.0),
}


@dataclass(frozen=True)
class BenchConfig:
    threads: tuple[int, ...] = (1,)  # each file is measured at each count
    warmup_runs: int = 1
    warmup_seconds: float = 0.5
    min_runs: int = 50
    min_seconds: float = 1.0
    max_seconds: float = 150.0  # per file, as benchmark_model's --max_secs: stops a very slow model
    engine: Optional[str] = None  # None: the format's default engine
    interleave: bool = True  # several files: rounds A B A B (each still in its own process)
    keep_times: bool = True
    processes: int = 3  # fresh processes per file and thread count, runs pooled (pool.py)

    def __post_init__(self) -> None:
        if not self.threads or any(not isinstance(t, int) or t < 1 for t in self.threads):
            raise ConfigError("--threads takes positive integers, e.g. --threads 1,2; got "
                              f"'{','.join(map(str, self.threads))}'")
        if self.min_runs < 1:
            raise ConfigError(f"--min-runs must be >= 1, got {self.min_runs}")
        seconds = (self.min_seconds, self.warmup_seconds, self.max_seconds)
        if not all(math.isfinite(s) for s in seconds) or self.min_seconds < 0 or self.warmup_seconds < 0 \
                or self.warmup_runs < 0:
            raise ConfigError("--min-seconds, --warmup and --warmup-seconds must be finite and >= 0")
        if not isinstance(self.processes, int) or self.processes < 1:
            raise ConfigError(f"--processes must be an integer >= 1, got {self.processes}")
        if self.max_seconds <= 0:
            raise ConfigError(f"--max-seconds must be > 0, got {self.max_seconds}")
        if self.engine is not None and self.engine not in RUNNER_ENGINES:
            raise ConfigError(f"Unknown engine '{self.engine}' for bench. Valid: {', '.join(RUNNER_ENGINES)}")

    @classmethod
    def from_profile(cls, name: str, **overrides) -> "BenchConfig":
        if name not in PROFILES:
            raise ConfigError(f"Unknown profile '{name}'. Valid: {', '.join(PROFILES)}")
        runs, seconds = PROFILES[name]
        kw = {"min_runs": runs, "min_seconds": seconds}
        kw.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**kw)


@dataclass(frozen=True)
class Job:
    path: Optional[Path]  # the model file; for engine "torch" the weights file (or None)
    engine: str  # a RUNNER_ENGINES name, or "torch" (the float zoo model, see reference_runner.py)
    threads: int
    model: Optional[str] = None  # engine "torch": the zoo model name

    @property
    def label(self) -> str:
        return f"{self.model} (torch eager)" if self.engine == "torch" else self.path.name


def reference_jobs(model: str, weights: Optional[Path], cfg: "BenchConfig") -> list[Job]:
    """Jobs timing the float PyTorch zoo model (eager) alongside exported files."""
    if importlib.util.find_spec("torch") is None:
        raise MissingDependencyError("torch is not installed; install torch==2.13.0 first (see README)")
    return [Job(Path(weights) if weights else None, "torch", t, model) for t in cfg.threads]


def plan(paths: list[Path], cfg: BenchConfig) -> list[Job]:
    """Check every file, engine and runtime before any process starts."""
    from ..export.artifact import format_of
    from .engines.base import DEFAULT_ENGINE_FOR_FORMAT

    jobs = []
    for p in paths:
        p = Path(p)
        if not p.is_file():
            raise ConfigError(f"File '{p}' does not exist")
        fmt = format_of(p)
        engine = cfg.engine or DEFAULT_ENGINE_FOR_FORMAT[fmt]
        _, _, formats = RUNNER_ENGINES[engine]
        if fmt not in formats:
            raise ConfigError(f"Engine {engine} cannot run {fmt} files ('{p.name}'); it runs: {', '.join(formats)}")
        check_runtime(engine)
        jobs += [Job(p, engine, t) for t in cfg.threads]
    check_threads_fit(cfg.threads, host_cores(), "this host")
    return jobs


def check_runtime(engine: str) -> None:
    base = RUNNER_ENGINES[engine][0]
    if not any(importlib.util.find_spec(m) for m in RUNTIME_MODULES[base]):
        extra = runner.EXTRA_FOR_ENGINE[base]
        raise MissingDependencyError(
            f"The {base} runtime is not installed (needed for engine {engine}). "
            f"Install it with: pip install 'edgekit[{extra}]'")


def measure(jobs: list[Job], cfg: BenchConfig, progress: Callable[[str], None] = lambda m: None) -> list[dict]:
    """Runner results (schema in runner.py, pooled as pool.py says), one per job, in job order."""
    share = per_process_config(cfg)
    waves = []
    with tempfile.TemporaryDirectory(prefix="edgekit-bench-") as td:
        for w in range(cfg.processes):
            wave_dir = Path(td) / f"wave{w}"
            wave_dir.mkdir()
            tag = f" [process {w + 1}/{cfg.processes}]" if cfg.processes > 1 else ""
            say = (lambda m, tag=tag: progress(m + tag))
            if len(jobs) > 1 and cfg.interleave:
                waves.append(_interleaved(jobs, share, wave_dir, say))
                continue
            results = []
            for i, job in enumerate(jobs):
                say(f"bench [{i + 1}/{len(jobs)}]: {job.label} ({job.engine}, {job.threads} thread(s))")
                results.append(_single(job, share, wave_dir / f"{i}.json"))
            waves.append(results)
    results = [pool(list(per_job), cfg.keep_times) for per_job in zip(*waves)]
    for job, res in zip(jobs, results):
        res["file"] = job.label if job.engine == "torch" else str(job.path)
        res["engine_name"] = job.engine
    return results


def _argv(job: Job, cfg: BenchConfig, json_out: Path) -> list[str]:
    if job.engine == "torch":
        argv = [sys.executable, "-m", "edgekit.runtime_bench.reference_runner", "--model", job.model]
        argv += ["--weights", str(job.path)] if job.path is not None else []
        engine, hint = None, None
    else:
        engine, hint, _ = RUNNER_ENGINES[job.engine]
        argv = [sys.executable, str(RUNNER), "--model", str(job.path), "--engine", engine]
    argv += ["--threads", str(job.threads), "--warmup", str(cfg.warmup_runs),
            "--warmup-seconds", str(cfg.warmup_seconds), "--min-runs", str(cfg.min_runs),
            "--min-seconds", str(cfg.min_seconds), "--max-seconds", str(cfg.max_seconds),
            "--json-out", str(json_out)]
    if hint:
        argv += ["--precision-hint", hint]
    if not cfg.keep_times:
        argv.append("--no-times")
    return argv


def _env() -> dict:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # reference_runner runs as `-m edgekit...`: make this edgekit importable even from a source tree
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    return env


def process_limit(cfg: BenchConfig) -> float:
    return 4 * cfg.max_seconds + STARTUP_SLACK_S


def _past_limit(job: Job, cfg: BenchConfig, waited: float) -> DeviceError:
    return DeviceError(f"bench of '{job.label}' passed its limit: no result after {waited:.0f} s (its load, one "
                       f"inference or its timed runs took longer than --max-seconds {cfg.max_seconds:g}); "
                       f"its process was stopped")


def _popen(argv: list[str], **kw) -> subprocess.Popen:
    """A runner in a process group of its own, so stopping it stops anything it started."""
    return subprocess.Popen(argv, env=_env(), start_new_session=True, **kw)


def _stop(proc: subprocess.Popen) -> None:
    """SIGKILL the runner's process group and reap it (no zombie, no orphan)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def _single(job: Job, cfg: BenchConfig, json_out: Path) -> dict:
    limit = process_limit(cfg)
    proc = _popen(_argv(job, cfg, json_out), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                  stderr=subprocess.PIPE, text=True)
    try:
        _, stderr = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        raise _past_limit(job, cfg, limit) from None
    finally:
        _stop(proc)
    return _read_result(job, json_out, proc.returncode, stderr)


def _read_result(job: Job, json_out: Path, returncode: int, stderr: str) -> dict:
    doc = None
    if json_out.is_file():
        try:
            doc = json.loads(json_out.read_text())
        except json.JSONDecodeError:
            doc = None
    if doc and "error" in doc:
        kind = doc.get("error_kind")
        exc = {"missing_runtime": MissingDependencyError, "usage": ConfigError}.get(kind, DeviceError)
        raise exc(f"{job.label}: {doc['error']}")
    if returncode != 0 or doc is None:
        tail = " | ".join(stderr.strip().splitlines()[-3:])[-400:]
        raise DeviceError(f"bench of '{job.label}' failed (exit {returncode}): {tail or 'no output'}")
    return doc


class _Served:
    """One runner process in --serve mode."""

    def __init__(self, job: Job, cfg: BenchConfig, json_out: Path, errlog: Path) -> None:
        self.job, self.cfg, self.json_out = job, cfg, json_out
        self._err = open(errlog, "w+")
        self.proc = _popen(_argv(job, cfg, json_out) + ["--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=self._err, text=True)
        self.runs = 0
        self.timed_ms = 0.0

    def send(self, line: str) -> None:
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:  # it died: reply() reports why
            pass

    def reply(self, timeout: float) -> dict:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:  # exited (its JSON says why) or hung (killed here)
            hung = self.proc.poll() is None
            _stop(self.proc)
            if hung:
                raise _past_limit(self.job, self.cfg, timeout)
            self.result()
            raise DeviceError(f"bench of '{self.job.label}' stopped answering")
        return json.loads(line)

    def result(self) -> dict:
        self._err.seek(0)
        return _read_result(self.job, self.json_out, self.proc.returncode, self._err.read())

    def close(self) -> None:
        _stop(self.proc)
        self._err.close()


def _interleaved(jobs: list[Job], cfg: BenchConfig, td: Path, progress) -> list[dict]:
    served: list[_Served] = []
    round_s = min(max(cfg.min_seconds / 10, 0.05), 1.0)
    load_timeout = 3 * cfg.max_seconds + STARTUP_SLACK_S  # load, first inference, warm-up
    try:
        for i, job in enumerate(jobs):  # one at a time: load and warm-up are timed undisturbed
            progress(f"bench: loading [{i + 1}/{len(jobs)}] {job.label} ({job.engine}, {job.threads} thread(s))")
            s = _Served(job, cfg, td / f"{i}.json", td / f"{i}.err")
            served.append(s)
            s.reply(load_timeout)
        start = time.monotonic()
        rounds = 0
        while not all(_done(s, cfg, start) for s in served):
            for s in served:
                s.send(f"run {round_s} 1000000")
                chunk = s.reply(round_s + cfg.max_seconds + STARTUP_SLACK_S)["times_ms"]  # + one inference
                s.runs += len(chunk)
                s.timed_ms += sum(chunk)
            rounds += 1
            if rounds % 5 == 0:
                progress(f"bench: round {rounds}, {min(s.runs for s in served)}+ runs per file")
        results = []
        for s in served:
            s.send("finish")
            s.reply(60)
            s.proc.wait(timeout=60)
            results.append(s.result())
        return results
    finally:
        for s in served:
            s.close()


def _done(s: _Served, cfg: BenchConfig, start: float) -> bool:
    if time.monotonic() - start >= cfg.max_seconds:
        return True
    return s.runs >= cfg.min_runs and s.timed_ms >= cfg.min_seconds * 1e3


def host_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def check_threads_fit(threads, cores: Optional[int], where: str) -> None:
    """More threads than cores times contention, not the model (and 100000 threads hang)."""
    over = [t for t in threads if cores and t > cores]
    if over:
        raise ConfigError(f"--threads {over[0]} is more than the {cores} cores {where} can use; more threads than "
                          f"cores time contention, not the model. Valid there: 1-{cores}")
