"""The results database is edgekit's own: another program's SQLite file is refused by every
command that takes --db and left byte-identical; read-only commands never write; a database
made before the schema marker existed is recognised and adopted."""
from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from bench_models import relu_onnx
from conftest import assert_clean_error, run_cli

from edgekit.report import db_schema
from edgekit.report.db import ResultsDB


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _foreign(tmp_path: Path) -> Path:
    """Another application's database that happens to have a `runs` table."""
    path = tmp_path / "other-app.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE runs (id INTEGER PRIMARY KEY, athlete TEXT, km REAL);"
                       "CREATE TABLE shoes (id INTEGER PRIMARY KEY, brand TEXT);"
                       "INSERT INTO runs (athlete, km) VALUES ('ada', 10.5);")
    conn.commit()
    conn.close()
    return path


def _commands(tmp_path: Path) -> dict[str, list]:
    out = tmp_path / "out"
    return {
        "bench": ["bench", relu_onnx(tmp_path), "--min-runs", "1", "--min-seconds", "0", "--processes", "1"],
        "export": ["export", "mobilenet_v2", "--format", "onnx", "--out", out],
        "run": ["run", "mobilenet_v2", "--format", "onnx", "--out", out],
        "history": ["history"],
        "history --run": ["history", "--run", "latest"],
        "compare": ["compare"],
        "report": ["report", "--out", tmp_path / "report"],
    }


@pytest.mark.parametrize("command", ["bench", "export", "run", "history", "history --run", "compare", "report"])
def test_foreign_sqlite_file_is_refused_and_left_byte_identical(tmp_path, command):
    db = _foreign(tmp_path)
    before = _digest(db)
    proc = run_cli(*_commands(tmp_path)[command], "--db", db, timeout=300)
    line = assert_clean_error(proc, "not an edgekit results database", "--db PATH")
    assert "runs" in line and "shoes" in line
    assert _digest(db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other-app.sqlite", "relu.onnx"]  # no -wal, no out/


def test_another_applications_marked_database_is_refused(tmp_path):
    db = tmp_path / "app.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA application_id = 1234")
    conn.execute("CREATE TABLE things (x)")
    conn.close()
    before = _digest(db)
    for args in (["history"], ["export", "mobilenet_v2", "--format", "onnx", "--out", tmp_path / "o"]):
        assert_clean_error(run_cli(*args, "--db", db), "another application's sqlite database")
    assert _digest(db) == before


def test_read_only_commands_never_create_or_write(tmp_path):
    missing = tmp_path / "none" / "results.sqlite"
    proc = run_cli("history", "--db", missing)
    assert proc.returncode == 0 and "no runs recorded yet" in proc.stdout, proc.stderr
    assert_clean_error(run_cli("compare", "--db", missing), "has 0 bench run(s)")
    assert not (tmp_path / "none").exists()
    db = tmp_path / "results.sqlite"
    with ResultsDB(db) as d:
        d.record_bench([_fake_result()], label="base")
        d.record_bench([_fake_result()])
    ResultsDB(db).close()  # a clean close checkpoints the WAL into the main file
    before = _digest(db)
    for args in (["history"], ["history", "--run", "1", "--json"], ["compare", "base"],
                 ["report", "--out", tmp_path / "rep"]):
        proc = run_cli(*args, "--db", db)
        assert proc.returncode == 0, proc.stderr
    assert _digest(db) == before


def _fake_result(p50: float = 2.0) -> dict:
    stats = {k: p50 for k in ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "min_ms", "max_ms")}
    return {"file": "/m/a.onnx", "engine": "onnxruntime", "threads": 1, "model_sha256": "00" * 32,
            "runtime_version": "1", "stats": {**stats, "runs": 5, "std_ms": 0.0}, "times_ms": [p50] * 5,
            "host": {"cpu_model": "cpu", "cores": 2}}


def _schema1_database(path: Path) -> None:
    """A database exactly as edgekit wrote it before the header marker (schema 1), with one run."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    for s in db_schema.statements(db_schema._V1_SCHEMA):
        conn.execute(s)
    conn.execute("INSERT INTO schema_version VALUES (1)")
    conn.execute("INSERT INTO runs (kind, created_at, label, command, edgekit_version, env_json) VALUES "
                 "('bench', '2025-01-01T00:00:00+00:00', 'old', 'edgekit bench a.onnx', '0.1.0', ?)",
                 (json.dumps({"host": {"cpu_model": "cpu", "cores": 2}}),))
    conn.close()


def test_schema1_database_is_read_as_is_and_adopted_by_the_first_write(tmp_path):
    db = tmp_path / "results.sqlite"
    _schema1_database(db)
    before = _digest(db)
    proc = run_cli("history", "--json", "--db", db)
    assert proc.returncode == 0, proc.stderr
    assert [r["label"] for r in json.loads(proc.stdout)["runs"]] == ["old"]
    assert _digest(db) == before  # reading does not migrate
    with ResultsDB(db) as d:
        d.record_bench([_fake_result()], label="new")
        assert [r["label"] for r in d.runs()] == ["new", "old"]
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == db_schema.APPLICATION_ID
    assert conn.execute("PRAGMA user_version").fetchone()[0] == db_schema.SCHEMA_VERSION
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(db_schema.SCHEMA_VERSION,)]
    conn.close()


def test_schema1_lookalike_with_an_extra_column_is_foreign(tmp_path):
    db = tmp_path / "results.sqlite"
    _schema1_database(db)
    conn = sqlite3.connect(db)
    conn.execute("ALTER TABLE runs ADD COLUMN athlete TEXT")
    conn.commit()
    conn.close()
    before = _digest(db)
    with pytest.raises(Exception, match="another schema"):
        ResultsDB(db)
    assert _digest(db) == before
