"""The results database's schema, the marker that makes a SQLite file edgekit's, and migrations.

A file is edgekit's when its header says so: ``PRAGMA application_id`` (SQLite's own slot for
"which program's file is this", see sqlite.org/fileformat.html#application_id) holds
APPLICATION_ID and ``PRAGMA user_version`` the schema version. Both are read before anything
is written, so another program's database (even one with a ``runs`` table) is refused and left
byte-identical.

Databases written by edgekit before the marker existed (schema 1) have no header marker; they
are recognised by their exact tables and columns and adopted (marked) by the first command that
writes. The ``schema_version`` table is kept in step with the header, so an edgekit of schema 1,
which reads only that table, refuses a newer file instead of writing into it.
"""
from __future__ import annotations

import sqlite3
from typing import Callable

from ..errors import ConfigError

APPLICATION_ID = 0x45444B54  # "EDKT"
SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,               -- bench | export | validate | run
    created_at TEXT NOT NULL,         -- UTC, ISO 8601
    label TEXT,
    command TEXT,
    edgekit_version TEXT,
    env_json TEXT NOT NULL            -- host (cpu model, cores, os, python), package versions
);
CREATE TABLE IF NOT EXISTS benchmarks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    file TEXT NOT NULL, file_name TEXT NOT NULL, file_sha256 TEXT, file_size_bytes INTEGER,
    model TEXT, format TEXT, precision TEXT,
    engine TEXT NOT NULL, runtime_version TEXT, threads INTEGER NOT NULL, precision_hint TEXT,
    runs INTEGER, p50_ms REAL, p90_ms REAL, p99_ms REAL, mean_ms REAL, std_ms REAL,
    min_ms REAL, max_ms REAL, load_ms REAL, first_inference_ms REAL, peak_rss_mb REAL,
    result_json TEXT NOT NULL         -- the runner's whole result, per-run times included
);
CREATE TABLE IF NOT EXISTS exports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    file TEXT NOT NULL, file_name TEXT NOT NULL, file_sha256 TEXT, file_size_bytes INTEGER,
    model TEXT, format TEXT, precision TEXT,
    meta_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS validations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    file TEXT NOT NULL, file_name TEXT NOT NULL, file_sha256 TEXT,
    model TEXT, format TEXT, precision TEXT, engine TEXT, runtime_version TEXT,
    samples INTEGER, top1_agreement REAL, top5_agreement REAL, cosine_mean REAL, sqnr_db REAL,
    result_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS benchmarks_run ON benchmarks(run_id);
CREATE INDEX IF NOT EXISTS exports_run ON exports(run_id);
CREATE INDEX IF NOT EXISTS validations_sha ON validations(file_sha256);
"""

# The tables and columns of schema 1, the unmarked databases edgekit wrote before the marker.
# Schema 2 only added the header marker, so today's SCHEMA text builds them. A schema 3 that
# changes a table must first freeze this as a copy of today's text (and add MIGRATIONS[2]).
_V1_SCHEMA = SCHEMA


def statements(schema: str = SCHEMA) -> list[str]:
    return [s for s in schema.split(";") if s.strip()]


def _tables(conn: sqlite3.Connection) -> dict[str, list[tuple[str, str]]]:
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    return {n: [(c[1], c[2]) for c in conn.execute(f'PRAGMA table_info("{n}")')] for n in names}


def _reference_tables(schema: str) -> dict[str, list[tuple[str, str]]]:
    mem = sqlite3.connect(":memory:")
    try:
        for s in statements(schema):
            mem.execute(s)
        return _tables(mem)
    finally:
        mem.close()


def classify(conn: sqlite3.Connection, where: str, hint: str) -> int:
    """The schema version of the database behind ``conn``: 0 for an empty file (a new database),
    1 for an unmarked database of edgekit's schema 1, else the marked version. Only reads.
    Raises ConfigError for another program's database and for a newer edgekit's."""
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = _tables(conn)
    if app_id == APPLICATION_ID:
        if version > SCHEMA_VERSION:
            raise _newer(where, version, hint)
        return version
    if app_id != 0:
        raise ConfigError(f"'{where}' is another application's SQLite database (application id {app_id:#010x}), "
                          f"not an edgekit results database; edgekit leaves it untouched. {hint}")
    if not tables:
        return 0
    if tables == _reference_tables(_V1_SCHEMA):
        old = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 1
        if old > SCHEMA_VERSION:
            raise _newer(where, old, hint)
        return 1
    shown = ", ".join(list(tables)[:6]) + (", ..." if len(tables) > 6 else "")
    raise ConfigError(f"'{where}' is a SQLite database of another schema (tables: {shown}), not an edgekit "
                      f"results database; edgekit leaves it untouched. {hint}")


def _newer(where: str, version: int, hint: str) -> ConfigError:
    return ConfigError(f"Results database '{where}' has schema {version}, newer than this edgekit understands "
                       f"({SCHEMA_VERSION}); upgrade edgekit. {hint}")


def _mark(conn: sqlite3.Connection, version: int) -> None:
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {version}")
    conn.execute("DELETE FROM schema_version")
    conn.execute("INSERT INTO schema_version VALUES (?)", (version,))


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    """Schema 1 had no header marker: adopt the file."""
    _mark(conn, 2)


# version -> the step that brings it to version + 1 (inside the caller's write transaction)
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _v1_to_v2}


def create_or_migrate(conn: sqlite3.Connection, version: int) -> None:
    """Bring a database of ``version`` (0: new and empty) to SCHEMA_VERSION, in the caller's transaction."""
    if version == 0:
        for s in statements():
            conn.execute(s)
        _mark(conn, SCHEMA_VERSION)
        return
    while version < SCHEMA_VERSION:
        MIGRATIONS[version](conn)
        version += 1
