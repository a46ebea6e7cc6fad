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
import os
import select
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ..errors import ConfigError, DeviceError, MissingDependencyError
from .command import REFERENCE, RUNNER, host_env, runner_argv
from .config import BenchConfig, parse_threads  # noqa: F401  (BenchConfig is measure's input)
from .engines import ENGINES, check_runtime, engine_for, runner_error
from .pool import per_process_config, pool

@dataclass(frozen=True)
class Job:
    path: Optional[Path]  # the model file; for engine "torch" the weights file (or None)
    engine: str  # an ENGINES name, or "torch" (the float zoo model, see reference_runner.py)
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
    jobs = []
    for p in paths:
        p = Path(p)
        if not p.is_file():
            raise ConfigError(f"File '{p}' does not exist")
        engine = engine_for(p, cfg.engine).name
        check_runtime(engine)
        jobs += [Job(p, engine, t) for t in cfg.threads]
    return jobs


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
        weights = ["--weights", str(job.path)] if job.path is not None else []
        return runner_argv(REFERENCE, job.model, job.threads, json_out, cfg=cfg) + weights
    return runner_argv([sys.executable, str(RUNNER)], job.path, job.threads, json_out, ENGINES.get(job.engine), cfg)


def _single(job: Job, cfg: BenchConfig, json_out: Path) -> dict:
    argv = _argv(job, cfg, json_out)
    timeout = cfg.max_seconds * 2 + 300
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True, timeout=timeout, env=host_env())
    except subprocess.TimeoutExpired:
        raise DeviceError(f"bench of '{job.label}' timed out after {timeout:.0f} s") from None
    return _read_result(job, json_out, proc.returncode, proc.stderr)


def _read_result(job: Job, json_out: Path, returncode: int, stderr: str) -> dict:
    doc = None
    if json_out.is_file():
        try:
            doc = json.loads(json_out.read_text())
        except json.JSONDecodeError:
            doc = None
    if doc and "error" in doc:
        raise runner_error(doc.get("error_kind"), f"{job.label}: {doc['error']}")
    if returncode != 0 or doc is None:
        tail = " | ".join(stderr.strip().splitlines()[-3:])[-400:]
        raise DeviceError(f"bench of '{job.label}' failed (exit {returncode}): {tail or 'no output'}")
    return doc


class _Served:
    """One runner process in --serve mode."""

    def __init__(self, job: Job, cfg: BenchConfig, json_out: Path, errlog: Path) -> None:
        self.job, self.json_out = job, json_out
        self._err = open(errlog, "w+")
        self.proc = subprocess.Popen(_argv(job, cfg, json_out) + ["--serve"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._err, text=True, env=host_env())
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
            self.proc.kill()
            self.proc.wait()
            self.result()
            raise DeviceError(f"bench of '{self.job.label}' stopped answering")
        return json.loads(line)

    def result(self) -> dict:
        self._err.seek(0)
        return _read_result(self.job, self.json_out, self.proc.returncode, self._err.read())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._err.close()


def _interleaved(jobs: list[Job], cfg: BenchConfig, td: Path, progress) -> list[dict]:
    served: list[_Served] = []
    round_s = min(max(cfg.min_seconds / 10, 0.05), 1.0)
    load_timeout = cfg.max_seconds + 300
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
                chunk = s.reply(cfg.max_seconds + 60)["times_ms"]
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
