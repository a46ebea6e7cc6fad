"""BenchConfig: how files are timed (thread counts, warm-up, minimum runs and seconds, processes)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..errors import ConfigError

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
    engine: Optional[str] = None  # an ENGINES name; None: the format's default engine
    interleave: bool = True  # several files: rounds A B A B (each still in its own process)
    keep_times: bool = True
    processes: int = 3  # fresh processes per file and thread count, runs pooled (pool.py)

    def __post_init__(self) -> None:
        from .engines import ENGINES

        object.__setattr__(self, "threads", tuple(self.threads))
        if not self.threads or any(not isinstance(t, int) or t < 1 for t in self.threads):
            raise ConfigError("--threads takes positive integers, e.g. --threads 1,2; got "
                              f"'{','.join(map(str, self.threads))}'")
        if self.min_runs < 1:
            raise ConfigError(f"--min-runs must be >= 1, got {self.min_runs}")
        if self.min_seconds < 0 or self.warmup_seconds < 0 or self.warmup_runs < 0:
            raise ConfigError("--min-seconds, --warmup and --warmup-seconds must be >= 0")
        if not isinstance(self.processes, int) or self.processes < 1:
            raise ConfigError(f"--processes must be an integer >= 1, got {self.processes}")
        if self.max_seconds <= 0:
            raise ConfigError(f"--max-seconds must be > 0, got {self.max_seconds}")
        if self.engine is not None and self.engine not in ENGINES:
            raise ConfigError(f"Unknown engine '{self.engine}' for bench. Valid: {', '.join(ENGINES.names())}")

    @classmethod
    def from_profile(cls, name: str, **overrides) -> "BenchConfig":
        if name not in PROFILES:
            raise ConfigError(f"Unknown profile '{name}'. Valid: {', '.join(PROFILES)}")
        runs, seconds = PROFILES[name]
        kw = {"min_runs": runs, "min_seconds": seconds}
        kw.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**kw)


def parse_threads(value: str) -> tuple[int, ...]:
    try:
        out = tuple(int(v) for v in str(value).split(",") if v.strip())
    except ValueError:
        out = ()
    if not out or any(t < 1 for t in out):
        raise ConfigError(f"--threads takes positive integers, e.g. --threads 1,2; got '{value}'")
    return out
