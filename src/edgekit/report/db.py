"""The results database: every export, validation and bench, with the environment it ran in.

SQLite (stdlib) in WAL mode with a busy timeout, so concurrent `edgekit bench` processes
wait for each other instead of failing, and a process killed mid-write leaves the database
as it was before that record (one transaction per record: a run row and all its rows
commit together or not at all).

Where: ``--db PATH``, else ``$EDGEKIT_DB``, else ``$XDG_DATA_HOME/edgekit/results.sqlite``,
else ``~/.local/share/edgekit/results.sqlite``.
"""
from __future__ import annotations

import contextlib
import datetime
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Iterator, Optional

from .._env import environment
from ..errors import ConfigError
from ..runtime_bench.result import STAT_KEYS, bench_environment, results_of
from . import db_schema

BUSY_TIMEOUT_MS = 60_000


def default_db_path() -> Path:
    if os.environ.get("EDGEKIT_DB"):
        return Path(os.environ["EDGEKIT_DB"])
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "edgekit" / "results.sqlite"


class ResultsDB:
    """edgekit's results database. ``read_only``: for commands that only read (history, compare,
    report): nothing is written, not even the schema; a missing or empty file reads as empty."""

    def __init__(self, path: Optional[Path] = None, read_only: bool = False,
                 hint: str = "Choose another with --db PATH (or EDGEKIT_DB), or pass --no-record") -> None:
        self.path = Path(path) if path else default_db_path()
        self.read_only, self._hint = read_only, hint
        if self.path.is_dir():
            raise ConfigError(f"Cannot open results database '{self.path}': it is a directory. {hint}")
        if self.path.exists() and not self.path.is_file():
            raise ConfigError(f"Cannot open results database '{self.path}': it is not a regular file. {hint}")
        blocker = next((p for p in self.path.parents if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            raise ConfigError(f"Cannot open results database '{self.path}': '{blocker}' is a file, not a folder. {hint}")
        try:
            if read_only:
                self._open_read_only()
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._open_retrying()
        except (sqlite3.Error, OSError) as exc:
            raise ConfigError(f"Cannot open results database '{self.path}': {exc}. {hint}") from None

    def _connect(self, target: str, **kw) -> sqlite3.Connection:
        conn = sqlite3.connect(target, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, **kw)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return conn

    def _open_read_only(self) -> None:
        """mode=ro: SQLite itself refuses every write. No database yet (or an empty file): an
        empty in-memory one with the schema, so reads answer "no runs" without creating a file."""
        if self.path.is_file():
            conn = self._connect(self.path.absolute().as_uri() + "?mode=ro", uri=True)
            try:
                version = db_schema.classify(conn, str(self.path), self._hint)
            except BaseException:
                conn.close()
                raise
            if version:
                self.conn = conn
                return
            conn.close()
        self.conn = self._connect(":memory:")
        db_schema.create_or_migrate(self.conn, 0)

    def _open_retrying(self) -> None:
        """Connect, check the file is edgekit's (before writing anything), switch to WAL and
        create or migrate the schema, retrying while another process holds the lock. Needed
        because SQLite answers "database is locked" at once, without its busy handler, when two
        processes switch a brand-new file to WAL together (seen in CI: two concurrent
        `edgekit bench` on a fresh --db)."""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        delay = 0.01
        while True:
            conn = self._connect(str(self.path))
            try:
                db_schema.classify(conn, str(self.path), self._hint)  # refuses a foreign file: nothing written
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")  # WAL: durable on checkpoint, never corrupt
                self.conn = conn
                with self.transaction() as c:  # classified again under the write lock: another
                    version = db_schema.classify(c, str(self.path), self._hint)  # process may have created it
                    db_schema.create_or_migrate(c, version)
                return
            except sqlite3.OperationalError as exc:
                conn.close()
                busy = "locked" in str(exc) or "busy" in str(exc)
                if not busy or time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
            except BaseException:
                conn.close()
                raise

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE takes the write lock up front, so two writers queue instead of deadlocking."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    @contextlib.contextmanager
    def _record(self) -> Iterator[sqlite3.Connection]:
        """One record's transaction; a failure to write (disk full, read-only file) is one line,
        and the database stays as it was before this record."""
        try:
            with self.transaction() as c:
                yield c
        except sqlite3.Error as exc:
            raise ConfigError(f"Cannot record into results database '{self.path}' ({exc}); it is unchanged. "
                              f"{self._hint}") from None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "ResultsDB":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- writing: each public call is one transaction ----

    def _new_run(self, c, kind: str, label: Optional[str], command: Optional[str], env: Optional[dict]) -> int:
        env = env or environment()
        cur = c.execute("INSERT INTO runs (kind, created_at, label, command, edgekit_version, env_json) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (kind, _now(), label, command, env.get("edgekit_version"), json.dumps(env)))
        return int(cur.lastrowid)

    def new_run(self, kind: str, label: Optional[str] = None, command: Optional[str] = None,
                env: Optional[dict] = None) -> int:
        """A run row of its own (a sweep's, before any result), in one transaction."""
        with self.transaction() as c:
            return self._new_run(c, kind, label, command, env)

    def record_bench(self, results: list, run_id: Optional[int] = None, kind: str = "bench",
                     label: Optional[str] = None, command: Optional[str] = None) -> int:
        """BenchResults (or runner.py documents, parsed here); one transaction."""
        results = results_of(results)
        with self._record() as c:
            run_id = run_id or self._new_run(c, kind, label, command, bench_environment(results))
            self.insert_bench(c, run_id, results)
        return run_id

    def insert_bench(self, c, run_id: int, results: list) -> list[int]:
        """The rows of ``results`` inside the caller's transaction (``transaction()``); their ids."""
        ids = []
        for r in results_of(results):
            art = r.artifact
            cur = c.execute(
                "INSERT INTO benchmarks (run_id, file, file_name, file_sha256, file_size_bytes, model, format,"
                " precision, engine, runtime_version, threads, precision_hint, runs, p50_ms, p90_ms, p99_ms,"
                " mean_ms, std_ms, min_ms, max_ms, load_ms, first_inference_ms, peak_rss_mb, result_json)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, r.file, Path(r.file).name, r.model_sha256, r.file_size_bytes,
                 art and art.model, art and art.format, art and art.precision,
                 r.engine, r.runtime_version, r.threads, r.precision_hint,
                 *[getattr(r.stats, k) for k in STAT_KEYS],
                 r.load_ms, r.first_inference_ms, r.peak_rss_mb, json.dumps(r.to_dict())))
            ids.append(int(cur.lastrowid))
        return ids

    def record_export(self, artifacts: list, run_id: Optional[int] = None, kind: str = "export",
                      label: Optional[str] = None, command: Optional[str] = None) -> int:
        """Artifacts (export.Artifact) and the accuracy each carries in meta["accuracy"]."""
        with self._record() as c:
            run_id = run_id or self._new_run(c, kind, label, command, environment())
            self.insert_export(c, run_id, artifacts)
        return run_id

    def insert_export(self, c, run_id: int, artifacts: list) -> None:
        """Export (and validation) rows inside the caller's transaction."""
        for a in artifacts:
            sha, size = file_facts(a.path)
            meta = {k: v for k, v in a.meta.items() if k != "accuracy"}
            c.execute("INSERT INTO exports (run_id, file, file_name, file_sha256, file_size_bytes, model,"
                      " format, precision, meta_json) VALUES (?,?,?,?,?,?,?,?,?)",
                      (run_id, str(a.path), Path(a.path).name, sha, size, a.card.get("name"), a.format,
                       a.precision, json.dumps(meta, default=str)))
            if a.meta.get("accuracy"):
                self._insert_validation(c, run_id, a, a.meta["accuracy"], sha)

    def _insert_validation(self, c, run_id: int, a, acc: dict, sha: Optional[str]) -> None:
        c.execute("INSERT INTO validations (run_id, file, file_name, file_sha256, model, format, precision, engine,"
                  " runtime_version, samples, top1_agreement, top5_agreement, cosine_mean, sqnr_db, result_json)"
                  " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                  (run_id, str(a.path), Path(a.path).name, sha, (a.card or {}).get("name"), a.format, a.precision,
                   acc.get("engine"), acc.get("runtime_version"), acc.get("samples"), acc.get("top1_agreement"),
                   acc.get("top5_agreement"), acc.get("cosine_mean"), _finite(acc.get("sqnr_db")),
                   json.dumps(acc, default=str)))

    # ---- reading ----

    def runs(self, limit: int = 20, kind: Optional[str] = None) -> list[dict]:
        sql = ("SELECT r.*, (SELECT count(*) FROM benchmarks b WHERE b.run_id = r.id) AS benchmarks,"
               " (SELECT count(*) FROM exports e WHERE e.run_id = r.id) AS exports,"
               " (SELECT count(*) FROM validations v WHERE v.run_id = r.id) AS validations FROM runs r")
        args: list = []
        if kind:
            sql += " WHERE r.kind = ?"
            args.append(kind)
        sql += " ORDER BY r.id DESC LIMIT ?"
        return [dict(row) for row in self.conn.execute(sql, (*args, limit))]

    def run(self, run_id: int) -> Optional[dict]:
        row = self.conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return dict(row) if row else None

    def bench_rows(self, run_id: int) -> list[dict]:
        return [dict(r) for r in self.conn.execute("SELECT * FROM benchmarks WHERE run_id = ? ORDER BY id", (run_id,))]

    def export_rows(self, run_id: int) -> list[dict]:
        return [dict(r) for r in self.conn.execute("SELECT * FROM exports WHERE run_id = ? ORDER BY id", (run_id,))]

    def latest_validation(self, sha256: str) -> Optional[dict]:
        row = self.conn.execute("SELECT * FROM validations WHERE file_sha256 = ? ORDER BY id DESC LIMIT 1",
                                (sha256,)).fetchone()
        return dict(row) if row else None

    def bench_run_ids(self, label: Optional[str] = None) -> list[int]:
        """Ids of runs that hold benchmarks, newest first (optionally with this label)."""
        sql = "SELECT DISTINCT r.id FROM runs r JOIN benchmarks b ON b.run_id = r.id"
        args: tuple = ()
        if label is not None:
            sql += " WHERE r.label = ?"
            args = (label,)
        return [r[0] for r in self.conn.execute(sql + " ORDER BY r.id DESC", args)]

    def resolve_run(self, ref: str) -> int:
        """A run id, 'latest', 'previous', or a label (its newest run)."""
        ids = self.bench_run_ids()
        if ref in ("latest", "previous"):
            need = 1 if ref == "latest" else 2
            if len(ids) < need:
                raise ConfigError(f"The results database '{self.path}' has {len(ids)} bench run(s); "
                                  f"'{ref}' needs {need}. Run `edgekit bench FILE...` first")
            return ids[need - 1]
        if ref.isdigit():
            if int(ref) not in ids:
                raise ConfigError(f"Run {ref} is not a bench run in '{self.path}'. See `edgekit history`")
            return int(ref)
        labelled = self.bench_run_ids(label=ref)
        if not labelled:
            raise ConfigError(f"No bench run with id or label '{ref}' in '{self.path}'. See `edgekit history`")
        return labelled[0]


def file_facts(path) -> tuple[Optional[str], Optional[int]]:
    """sha256 and size of a model file; an OpenVINO .xml counts its .bin (as runner.py does)."""
    from ..runtime_bench.runner import model_files, sha256_files  # the same digest runner.py reports

    files = model_files(str(path))
    if not files:
        return None, None
    return sha256_files(files), sum(os.path.getsize(f) for f in files)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _finite(v):
    return v if isinstance(v, (int, float)) and v == v and abs(v) != float("inf") else None
