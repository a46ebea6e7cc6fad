"""Shared by the sweep tests: a small matrix, reading the sweep's rows back, interval checks."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO

# Two tiny zoo models at 32x32, few timed runs: a few seconds of work per job on the host,
# about 15 s per job on the emulated Pi (mostly importing onnxruntime under qemu).
MODELS = ["--models", "mobilenet_v1_0_25,squeezenet1_1", "--input-size", "32"]
SHORT = ["--min-runs", "3", "--min-seconds", "0", "--warmup-seconds", "0", "--processes", "1"]


def adb_uri(rig: dict) -> str:
    return f"adb://{rig['ADB_SERIAL']}?python=/opt/venv/bin/python3"  # the stand-in's python, for ONNX


def jobs(db: Path, kind: str | None = None, status: str | None = None) -> list[dict]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    sql, args = "SELECT * FROM sweep_jobs WHERE 1=1", []
    for col, v in (("kind", kind), ("status", status)):
        if v is not None:
            sql += f" AND {col} = ?"
            args.append(v)
    rows = [dict(r) for r in conn.execute(sql + " ORDER BY id", args)]
    conn.close()
    return rows


def bench_rows(db: Path) -> list[dict]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    rows = [dict(r, result=json.loads(r["result_json"])) for r in conn.execute("SELECT * FROM benchmarks ORDER BY id")]
    conn.close()
    return rows


def overlapping(intervals: list[tuple[float, float, str]]) -> list[tuple[str, str]]:
    """Pairs of (start, end, name) intervals that overlap in time."""
    s = sorted(intervals)
    return [(a[2], b[2]) for i, a in enumerate(s) for b in s[i + 1:] if b[0] < a[1]]


def start_sweep(args: list, env: dict | None = None) -> subprocess.Popen:
    """`edgekit sweep ARGS` in a session of its own (so a test can signal its whole group, as a
    terminal's Ctrl-C does), stderr read line by line."""
    full = {**os.environ, **(env or {})}
    full["PYTHONPATH"] = str(REPO / "src") + os.pathsep + full.get("PYTHONPATH", "")
    return subprocess.Popen([sys.executable, "-m", "edgekit.cli.main", "sweep", *map(str, args)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=full, start_new_session=True)


def read_until(proc: subprocess.Popen, seen: list, predicate, timeout: float = 300) -> str:
    """Read stderr lines into ``seen`` until one satisfies ``predicate``; that line."""
    deadline = time.monotonic() + timeout
    for line in proc.stderr:
        seen.append(line)
        if predicate(line):
            return line
        if time.monotonic() > deadline:
            break
    raise AssertionError("never seen; stderr so far:\n" + "".join(seen))


def finish(proc: subprocess.Popen, seen: list, timeout: float = 600) -> subprocess.CompletedProcess:
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "".join(seen) + err)
