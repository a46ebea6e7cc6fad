"""TFLite's `benchmark_model` on Android: where the binary comes from, its command line, its output.

The binary is native code for the device's ABI and is in no package registry, so edgekit
never downloads it.  It is taken from, in order:
  1. ``--benchmark-binary PATH``;
  2. ``$EDGEKIT_BENCHMARK_MODEL`` (a path);
  3. the cache directory ``$XDG_CACHE_HOME/edgekit/benchmark_model/<abi>/benchmark_model``
     (``~/.cache/...`` without XDG_CACHE_HOME), e.g. for a 64-bit phone:
        mkdir -p ~/.cache/edgekit/benchmark_model/arm64-v8a
        cp android_aarch64_benchmark_model ~/.cache/edgekit/benchmark_model/arm64-v8a/benchmark_model
     (TensorFlow publishes nightly builds named android_aarch64_benchmark_model,
     android_arm_benchmark_model, ... under storage.googleapis.com/tensorflow-nightly-public/
     prod/tensorflow/release/lite/tools/nightly/latest/).

Output lines parsed (BenchmarkLoggingListener / Stat::OutputToStream in
tensorflow/lite/tools/benchmark), each possibly prefixed with "INFO: ":
    count=50 first=21135 curr=21046 min=20899 max=22456 avg=21187.7 std=270
    Inference timings in us: Init: 52123, First inference: 29430, Warmup (avg): 21571.3, Inference (avg): 21187.7
    Memory footprint delta from the start of the tool (MB): init=12.3164 overall=18.8477
    Overall peak memory footprint (MB) via periodic monitoring: 20.1289
The tool prints no percentiles: p50/p90/p99 are reported as None (never estimated).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional

from ..errors import ConfigError, DeviceError

EM_FOR_ABI = {"arm64-v8a": 183, "armeabi-v7a": 40, "armeabi": 40, "x86_64": 62, "x86": 3}
UNAVAILABLE_STATS = ["p50_ms", "p90_ms", "p99_ms"]

_STAT = re.compile(r"count=(\d+)(?: first=(\d+))? curr=(\d+)(\(all same\))?(?: min=(\d+) max=(\d+) "
                   r"avg=([\d.e+-]+|nan) std=(\d+))?")
_TIMINGS = re.compile(r"Inference timings in us: Init: ([\d.e+-]+), First inference: ([\d.e+-]+), "
                      r"Warmup \(avg\): ([\d.e+-]+|nan), Inference \(avg\): ([\d.e+-]+|nan)")
_MEM = re.compile(r"Memory footprint delta from the start of the tool \(MB\): init=([\d.e+-]+) overall=([\d.e+-]+)")
_PEAK = re.compile(r"Overall peak memory footprint \(MB\) via periodic monitoring: ([\d.e+-]+)")


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "edgekit" / "benchmark_model"


def find_binary(abi: Optional[str], given: Optional[Path]) -> Optional[Path]:
    """The benchmark_model to push for ``abi``; None when there is none (never downloads)."""
    if given is not None:
        if not Path(given).is_file():
            raise ConfigError(f"--benchmark-binary '{given}' does not exist")
        return Path(given)
    env = os.environ.get("EDGEKIT_BENCHMARK_MODEL")
    if env:
        if not Path(env).is_file():
            raise ConfigError(f"EDGEKIT_BENCHMARK_MODEL='{env}' does not exist")
        return Path(env)
    if abi:
        cached = cache_dir() / abi / "benchmark_model"
        if cached.is_file():
            return cached
    return None


def missing_binary_message(uri: str, abi: Optional[str]) -> str:
    where = cache_dir() / (abi or "<abi>") / "benchmark_model"
    return (f"{uri}: no benchmark_model binary for ABI {abi or 'unknown'}: pass --benchmark-binary PATH or put "
            f"TFLite's benchmark_model for that ABI at {where} (edgekit never downloads it)")


def check_binary(path: Path, abi: Optional[str], uri: str) -> dict:
    """ELF machine vs the device ABI; a script (the rig's stand-in) is accepted and marked."""
    head = Path(path).read_bytes()[:64]
    info = {"path": str(path), "kind": "elf" if head[:4] == b"\x7fELF" else "script" if head[:2] == b"#!" else "unknown"}
    if info["kind"] == "elf" and abi in EM_FOR_ABI:
        little = head[5] == 1
        machine = int.from_bytes(head[18:20], "little" if little else "big")
        if machine != EM_FOR_ABI[abi]:
            names = {v: k for k, v in EM_FOR_ABI.items()}
            raise ConfigError(f"{uri}: benchmark binary '{path}' is built for {names.get(machine, f'ELF machine {machine}')}"
                              f", but the device's ABI is {abi}; use the {abi} build")
    elif info["kind"] == "unknown":
        raise ConfigError(f"{uri}: '{path}' is not an executable (no ELF header, no #! line)")
    return info


def command(binary: str, model: str, threads: int, cfg, mask: Optional[str]) -> list[str]:
    argv = [binary, f"--graph={model}", f"--num_threads={threads}", f"--warmup_runs={cfg.warmup_runs}",
            f"--warmup_min_secs={cfg.warmup_seconds:g}", f"--num_runs={cfg.min_runs}",
            f"--min_secs={cfg.min_seconds:g}", f"--max_secs={cfg.max_seconds:g}", "--use_xnnpack=true",
            "--report_peak_memory_footprint=true"]
    return (["taskset", mask] + argv) if mask else argv


def _f(s: Optional[str]) -> Optional[float]:
    if s is None or s == "nan":
        return None
    return float(s)


def parse_stat(line: str) -> Optional[dict]:
    """One Stat line -> {count, first, curr, min, max, avg, std} in microseconds."""
    m = _STAT.search(line)
    if not m:
        return None
    count, first, curr, same, mn, mx, avg, std = m.groups()
    if same or mn is None:  # "count=5 curr=1200(all same)": every value equal
        v = float(curr)
        return {"count": int(count), "first": v, "curr": v, "min": v, "max": v, "avg": v, "std": 0.0}
    return {"count": int(count), "first": _f(first), "curr": float(curr), "min": float(mn), "max": float(mx),
            "avg": _f(avg), "std": float(std)}


def parse_output(text: str, uri: str = "device") -> dict:
    """benchmark_model's stdout -> {"warmup", "inference" (Stat dicts), "timings_us", "memory_mb"}."""
    stats = [s for s in (parse_stat(ln) for ln in text.splitlines()) if s]
    timings = _TIMINGS.search(text)
    if not stats or timings is None:
        last = [ln for ln in text.strip().splitlines() if ln.strip()][-2:]
        raise DeviceError(f"{uri}: benchmark_model printed no timings ({' | '.join(last) or 'no output'})")
    mem, peak = _MEM.search(text), _PEAK.search(text)
    return {"warmup": stats[0] if len(stats) > 1 else None, "inference": stats[-1],
            "timings_us": {"init": _f(timings.group(1)), "first_inference": _f(timings.group(2)),
                           "warmup_avg": _f(timings.group(3)), "inference_avg": _f(timings.group(4))},
            "memory_mb": {"init_delta": _f(mem.group(1)) if mem else None,
                          "overall_delta": _f(mem.group(2)) if mem else None,
                          "peak": _f(peak.group(1)) if peak else None},
            "standin": "STAND-IN" in text}


def stats_ms(parsed: dict) -> dict:
    """The runner's stats fields from what benchmark_model prints; percentiles are not printed."""
    s = parsed["inference"]
    ms = lambda us: None if us is None else us / 1000.0  # noqa: E731
    return {"runs": s["count"], "p50_ms": None, "p90_ms": None, "p99_ms": None, "mean_ms": ms(s["avg"]),
            "std_ms": ms(s["std"]), "min_ms": ms(s["min"]), "max_ms": ms(s["max"])}
