"""Faults during a sweep: a Ray worker killed mid-export, the SSH device dropped mid-bench, a
device down from the start, and SIGINT followed by a re-run. Every other job still ends done,
the lost ones are retried or reported with one line, and nothing is recorded twice."""
from __future__ import annotations

import os
import re
import signal
import socket
import sys
import time
import uuid
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="pip install 'edgekit[sweep]' (scripts/test.sh does)")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import run_cli  # noqa: E402
from device_rig import TcpProxy, rig, ssh, ssh_config_for  # noqa: E402,F401
from sweep_helpers import MODELS, SHORT, bench_rows, finish, jobs, read_until, start_sweep  # noqa: E402


def _task_pids(prefix: str) -> list[int]:
    """Ray workers running a task whose name starts with ``prefix`` (Ray sets the process title)."""
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if (p / "cmdline").read_bytes().startswith(prefix.encode()):
                    out.append(int(p.name))
            except OSError:
                pass
    return out


def _assert_no_traceback(proc):
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]


def test_killed_ray_worker_is_retried_and_every_job_ends_done(tmp_path):
    db = tmp_path / "r.sqlite"
    proc = start_sweep([*MODELS, "--formats", "onnx", "--devices", "local", *SHORT, "--out", tmp_path / "o",
                        "--db", db])
    seen: list = []
    read_until(proc, seen, lambda line: " 2 running" in line)  # both exports submitted
    # "running" counts submitted tasks: a worker may still be starting (a fresh machine's CI
    # found none after a fixed 1 s), or a fast CPU may be nearly done. Poll for the first
    # worker whose title says it runs an export, and kill it at once.
    pids, deadline = [], time.monotonic() + 60
    while not pids and time.monotonic() < deadline:
        pids = _task_pids("ray::export")
        time.sleep(0.02)
    assert pids, "no Ray worker running an export within 60 s"
    os.kill(pids[0], signal.SIGKILL)  # a worker process of this sweep, by its pid
    r = finish(proc, seen)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "a Ray worker died; Ray runs job" in r.stderr
    files = jobs(db, "file", "done")
    assert len(files) == 2 and max(f["attempts"] for f in files) == 2
    assert len(jobs(db, "bench", "done")) == 2 and len(bench_rows(db)) == 2


def _done(line: str) -> int:
    """N of a progress line's "N done" (-1 for other lines)."""
    m = re.search(r" (\d+) done", line)
    return int(m.group(1)) if m else -1


def test_sigint_then_rerun_resumes_without_duplicates(tmp_path):
    db = tmp_path / "r.sqlite"
    # benches of >= 2 s each, so Ctrl-C lands between them on an idle machine too (with SHORT's
    # 3 runs the whole sweep took 6 s on a fast CPU and the progress line skipped from 2 to 5 done)
    args = [*MODELS, "--formats", "onnx", "--devices", "local", "--threads", "1,2", *SHORT, "--min-seconds", "2",
            "--out", tmp_path / "o", "--db", db]
    proc = start_sweep(args)
    seen: list = []
    read_until(proc, seen, lambda line: _done(line) >= 3)  # 2 exports + at least 1 bench of 4
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole process group
    r = finish(proc, seen, timeout=120)
    assert r.returncode == 130, r.stderr[-3000:]
    _assert_no_traceback(r)
    assert "interrupted: every job that finished is recorded" in r.stderr
    before = {b["key"]: b["benchmark_id"] for b in jobs(db, "bench", "done")}
    assert 1 <= len(before) < 4
    again = run_cli("sweep", *args, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    after = jobs(db, "bench", "done")
    assert len(after) == 4 and len({b["key"] for b in after}) == 4  # each job once
    assert {b["key"]: b["benchmark_id"] for b in after if b["key"] in before} == before  # not redone
    assert len(bench_rows(db)) == 4
    assert f"({len(before)} resumed)" in again.stdout


@pytest.mark.rig
def test_device_down_at_start_is_reported_and_the_rest_runs(rig, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = ssh_config_for(rig, tmp_path, "gone-pi", port)  # nothing listens there
    db = tmp_path / "r.sqlite"
    proc = run_cli("sweep", *MODELS, "--formats", "onnx", "--devices", "local,ssh://gone-pi", *SHORT,
                   "--ssh-config", cfg, "--out", tmp_path / "o", "--db", db, timeout=600)
    assert proc.returncode == 1, proc.stderr[-3000:]
    _assert_no_traceback(proc)
    assert "ssh://gone-pi is down at the start" in proc.stderr and "Connection refused" in proc.stderr
    failed = jobs(db, "bench", "failed")
    assert len(failed) == 2 and all(f["device"] == "ssh://gone-pi" and "is down" in f["error"] for f in failed)
    assert len(jobs(db, "bench", "done")) == 2  # local
    assert proc.stdout.count("FAILED ") == 2 and "FAILED" in proc.stdout.splitlines()[2]  # the table says it too


@pytest.mark.rig
def test_ssh_device_dropped_mid_bench(rig, tmp_path):
    proxy = TcpProxy(int(rig["PI_PORT"]))
    cfg = ssh_config_for(rig, tmp_path, "flaky-pi", proxy.port)
    remote = f"/tmp/edgekit-test-{uuid.uuid4().hex[:8]}"
    assert ssh(rig, "mkdir", remote).returncode == 0
    uri = f"ssh://flaky-pi?tmpdir={remote}"
    db = tmp_path / "r.sqlite"
    try:
        # benches of >= 5 s, so the cut 2 s into the first Pi bench lands inside it: with SHORT's 3 runs
        # a fast Xeon finished both Pi benches within the 2 s and nothing was dropped
        proc = start_sweep([*MODELS, "--formats", "onnx", "--devices", f"local,{uri}", *SHORT, "--min-seconds", "5",
                            "--ssh-config", cfg, "--out", tmp_path / "o", "--db", db, "--verbose"])
        seen: list = []
        read_until(proc, seen, lambda line: "flaky-pi" in line and "with runner.py" in line)
        time.sleep(2.0)  # runner.py is starting on the device
        proxy.cut()  # the network path to the Pi is gone
        r = finish(proc, seen)
    finally:
        proxy.cut()
        ssh(rig, "rm", "-rf", remote)
    assert r.returncode == 1, r.stderr[-3000:]
    _assert_no_traceback(r)
    assert "retrying once" in r.stderr  # the dropped bench is retried, then reported
    failed, done = jobs(db, "bench", "failed"), jobs(db, "bench", "done")
    assert failed and {f["device"] for f in failed} == {uri}  # the dropped bench, and any after it
    assert all("\n" not in f["error"] and "flaky-pi" in f["error"] for f in failed)
    assert len([b for b in done if b["device"] == "local"]) == 2  # every other job done
    assert len(failed) + len(done) == 4 and len(bench_rows(db)) == len(done)
