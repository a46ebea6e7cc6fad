"""The results database: atomic records under SIGKILL, concurrent writers, paths, clear errors."""
from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_models import env, tiny_models  # noqa: E402
from conftest import run_cli  # noqa: E402

from edgekit.errors import ConfigError  # noqa: E402
from edgekit.report.db import ResultsDB, default_db_path  # noqa: E402

ROWS_PER_RECORD = 40

# A writer that records bench runs as fast as it can, each a transaction of ROWS_PER_RECORD rows
# with ~20 kB of JSON each, so that a kill lands inside a transaction most of the time.
WRITER = """
import sys
from edgekit.report.db import ResultsDB
db = ResultsDB(sys.argv[1])
n = int(sys.argv[2])
def result(i):
    return {{"file": f"/m/file{{i}}.onnx", "engine": "onnxruntime", "threads": 1, "model_sha256": "ab" * 32,
            "file_size_bytes": 1000, "runtime": "onnxruntime", "runtime_version": "x", "load_ms": 1.0,
            "stats": {{"runs": 50, "p50_ms": 1.0, "p90_ms": 1.0, "p99_ms": 1.0, "mean_ms": 1.0, "std_ms": 0.0,
                       "min_ms": 1.0, "max_ms": 1.0}}, "times_ms": [1.0] * 2500, "host": {{}}}}
print("ready", flush=True)
i = 0
while n < 0 or i < n:
    db.record_bench([result(j) for j in range({rows})], label=sys.argv[3])
    i += 1
"""


def _writer(db: Path, count: int, label: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER.format(rows=ROWS_PER_RECORD), str(db), str(count), label],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())


def _check_consistent(path: Path) -> int:
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    counts = conn.execute("SELECT r.id, count(b.id) FROM runs r LEFT JOIN benchmarks b ON b.run_id = r.id "
                          "GROUP BY r.id").fetchall()
    assert all(n == ROWS_PER_RECORD for _, n in counts), "a run was recorded partially"
    conn.close()
    return len(counts)


def test_survives_sigkill_mid_write(tmp_path):
    path = tmp_path / "results.sqlite"
    rng = random.Random(1234)
    runs_before = 0
    for _ in range(8):
        proc = _writer(path, -1, "kill")
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        time.sleep(rng.uniform(0.05, 0.6))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        runs = _check_consistent(path)
        assert runs >= runs_before  # committed records are never lost
        runs_before = runs
    assert runs_before > 0
    with ResultsDB(path) as db:  # and it still takes writes
        n = len(db.runs(limit=10_000))
        db.record_bench([], label="after")
        assert len(db.runs(limit=10_000)) == n + 1


def test_concurrent_writers(tmp_path):
    path = tmp_path / "results.sqlite"
    procs = [_writer(path, 6, f"w{i}") for i in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
    assert _check_consistent(path) == 24
    with ResultsDB(path) as db:
        assert {r["label"] for r in db.runs(limit=100)} == {"w0", "w1", "w2", "w3"}


def test_two_concurrent_bench_processes(tmp_path_factory, tmp_path):
    model = tiny_models(tmp_path_factory)["onnx"]
    db = tmp_path / "results.sqlite"
    args = ["bench", model, "--min-runs", "5", "--min-seconds", "0.1", "--warmup-seconds", "0", "--db", db]
    procs = [subprocess.Popen([sys.executable, "-m", "edgekit.cli.main", *map(str, args), "--label", f"p{i}"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env()) for i in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
    with ResultsDB(db) as d:
        runs = d.runs(kind="bench")
        assert sorted(r["label"] for r in runs) == ["p0", "p1"]
        for r in runs:
            rows = d.bench_rows(r["id"])
            assert len(rows) == 1 and rows[0]["file_name"] == "tiny.onnx" and rows[0]["p50_ms"] > 0
            env_doc = json.loads(r["env_json"])
            assert env_doc["host"]["cores"] >= 1 and env_doc["edgekit_version"]
            assert env_doc["runtimes"]["onnxruntime"] and rows[0]["file_sha256"]


def test_default_path(monkeypatch, tmp_path):
    monkeypatch.delenv("EDGEKIT_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_db_path() == tmp_path / "xdg" / "edgekit" / "results.sqlite"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_db_path() == tmp_path / "home" / ".local" / "share" / "edgekit" / "results.sqlite"
    monkeypatch.setenv("EDGEKIT_DB", str(tmp_path / "env.sqlite"))
    assert default_db_path() == tmp_path / "env.sqlite"
    ResultsDB().close()
    assert (tmp_path / "env.sqlite").is_file()


def _unusable(tmp_path: Path, case: str) -> Path:
    if case == "directory":
        return tmp_path
    if case == "under_a_file":
        (tmp_path / "afile").write_text("x")
        return tmp_path / "afile" / "results.sqlite"
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(os.urandom(4096))
    return garbage


@pytest.mark.parametrize("case", ["directory", "under_a_file", "not_sqlite"])
def test_unusable_path_is_one_clear_error(tmp_path, case):
    path = _unusable(tmp_path, case)
    with pytest.raises(ConfigError, match="--db PATH") as e:
        ResultsDB(path)
    assert "\n" not in str(e.value)
    proc = run_cli("history", "--db", path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1


def test_newer_schema_refused(tmp_path):
    path = tmp_path / "r.sqlite"
    ResultsDB(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(ConfigError, match="schema 99"):
        ResultsDB(path)


def _fake(file: str, p50: float) -> dict:
    return {"file": file, "engine": "onnxruntime", "threads": 1, "model_sha256": "00" * 32, "runtime_version": "1",
            "stats": {"runs": 50, "p50_ms": p50, "p90_ms": p50, "p99_ms": p50, "mean_ms": p50, "std_ms": 0.0,
                      "min_ms": p50, "max_ms": p50}, "host": {}}


def test_compare_gate_and_history(tmp_path):
    db = tmp_path / "r.sqlite"
    with ResultsDB(db) as d:
        d.record_bench([_fake("/a/m_fp32.onnx", 10.0), _fake("/a/m_int8.onnx", 5.0)], label="base")
        d.record_bench([_fake("/b/m_fp32.onnx", 10.3), _fake("/b/m_int8.onnx", 5.0)])
        d.record_bench([_fake("/c/m_fp32.onnx", 10.0), _fake("/c/m_int8.onnx", 6.0)])
    ok = run_cli("compare", "1", "2", "--threshold", "5%", "--db", db)
    assert ok.returncode == 0, ok.stderr
    assert "m_fp32.onnx" in ok.stdout
    bad = run_cli("compare", "base", "--threshold", "10%", "--db", db)  # base vs latest (run 3)
    assert bad.returncode == 1 and "regression" in bad.stderr and "m_int8.onnx" in bad.stderr
    assert "SLOWER" in bad.stdout
    doc = json.loads(run_cli("compare", "--json", "--db", db, "--threshold", "0.5").stdout)
    assert doc["baseline_run"] == 2 and doc["candidate_run"] == 3 and doc["regressions"] == []
    assert run_cli("compare", "--threshold", "fast", "--db", db).returncode == 2
    hist = run_cli("history", "--db", db)
    assert hist.returncode == 0 and "base" in hist.stdout and hist.stdout.count("bench") >= 3
    detail = run_cli("history", "--run", "1", "--json", "--db", db)
    assert json.loads(detail.stdout)["benchmarks"][0]["p50_ms"] == 10.0


def test_processes_creating_the_same_new_database_at_once(tmp_path):
    """SQLite answers "database is locked" without waiting when two processes switch a new
    file to WAL together (a CI failure of the test above); the open retries instead."""
    opener = "import sys; from edgekit.report.db import ResultsDB; ResultsDB(sys.argv[1]).close()"
    for round_ in range(8):
        db = tmp_path / f"r{round_}.sqlite"
        procs = [subprocess.Popen([sys.executable, "-c", opener, str(db)], stderr=subprocess.PIPE, text=True,
                                  env=env()) for _ in range(4)]
        for p in procs:
            _, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
