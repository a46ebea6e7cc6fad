"""What a sweep keeps in the results database: one ``sweep_jobs`` row per job it finished or
failed, beside the usual runs / benchmarks / exports / validations rows.

A finished bench job's benchmark row and its sweep_jobs row are written in ONE transaction,
so an interrupted sweep leaves either both or neither: a re-run skips exactly the jobs whose
key has a 'done' row, and never writes a result twice. Only the sweep's driver writes here
(Ray tasks return their results to it), so SQLite never sees two writers from one sweep.
"""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Optional

TABLE = """
CREATE TABLE IF NOT EXISTS sweep_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES runs(id),  -- the sweep run that finished or failed it
    key TEXT NOT NULL,                 -- sweep/jobs.py: what makes the result what it is
    kind TEXT NOT NULL,                -- file (one exported file) | export (a failed export task) | bench
    status TEXT NOT NULL,              -- done | failed
    name TEXT NOT NULL,
    device TEXT, node TEXT,            -- the Ray node that ran it
    started_at REAL, ended_at REAL,    -- unix seconds, clock of that node
    attempts INTEGER,                  -- Ray task attempts (more than 1: a worker died and Ray retried)
    benchmark_id INTEGER REFERENCES benchmarks(id),
    file TEXT, file_sha256 TEXT,
    error TEXT,                        -- one line, for status failed
    job_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sweep_jobs_key ON sweep_jobs(key, status)
"""


class SweepStore:
    def __init__(self, db=None, conn: Optional[sqlite3.Connection] = None) -> None:
        """``db``: a ResultsDB to write into; ``conn`` alone: read only (``--dry-run``)."""
        self.db, self.conn = db, conn if conn is not None else db.conn
        if db is not None:
            with db.transaction() as c:
                for stmt in TABLE.split(";"):
                    c.execute(stmt)

    @classmethod
    def read_only(cls, path: Path) -> Optional["SweepStore"]:
        """The store of an existing database, opened without writing anything; None when there is none."""
        path = Path(path)
        if not path.is_file():
            return None
        conn = sqlite3.connect(path.absolute().as_uri() + "?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        return cls(conn=conn)

    def _has_table(self) -> bool:
        return self.conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='sweep_jobs'").fetchone() \
            is not None

    def _latest_done(self, kind: str, keys: list[str]) -> dict[str, dict]:
        if not keys or not self._has_table():
            return {}
        out: dict[str, dict] = {}
        for i in range(0, len(keys), 500):  # SQLite's bound-parameter limit
            part = keys[i:i + 500]
            rows = self.conn.execute(
                f"SELECT * FROM sweep_jobs WHERE kind = ? AND status = 'done' AND key IN ({','.join('?' * len(part))})"
                " ORDER BY id", (kind, *part))
            out.update({r["key"]: dict(r) for r in rows})  # the newest wins
        return out

    def done_benches(self, keys: list[str]) -> dict[str, dict]:
        """key -> the newest done row, with the benchmark's result document as "result"."""
        done = self._latest_done("bench", keys)
        for row in done.values():
            b = self.conn.execute("SELECT result_json FROM benchmarks WHERE id = ?", (row["benchmark_id"],)).fetchone()
            row["result"] = json.loads(b["result_json"]) if b else None
        return {k: r for k, r in done.items() if r["result"] is not None}

    def done_files(self, keys: list[str]) -> dict[str, dict]:
        """file key -> its row, only where the file is still there with the bytes it had."""
        from ..report.db import file_facts

        out = {}
        for key, row in self._latest_done("file", keys).items():
            if row["file"] and Path(row["file"]).is_file() and file_facts(row["file"])[0] == row["file_sha256"]:
                out[key] = row
        return out

    def failures(self, run_id: int) -> list[dict]:
        return [dict(r) for r in self.conn.execute(
            "SELECT * FROM sweep_jobs WHERE run_id = ? AND status = 'failed' ORDER BY id", (run_id,))]

    def jobs(self, run_id: int) -> list[dict]:
        return [dict(r) for r in self.conn.execute("SELECT * FROM sweep_jobs WHERE run_id = ? ORDER BY id", (run_id,))]

    # ---- writing (the driver only) ----

    def _insert(self, c, run_id: int, job, status: str, **cols) -> None:
        row = {"run_id": run_id, "key": job.key, "kind": cols.pop("kind", job.to_dict()["kind"]), "status": status,
               "name": job.name, "device": getattr(job, "device", None), "job_json": json.dumps(job.to_dict()), **cols}
        c.execute(f"INSERT INTO sweep_jobs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))

    def bench_done(self, run_id: int, job, result: dict, timing: dict) -> int:
        """The benchmark row and the job's row, together or not at all; the benchmark id."""
        with self.db.transaction() as c:
            (bid,) = self.db.insert_bench(c, run_id, [result])
            self._insert(c, run_id, job, "done", benchmark_id=bid, file=result["file"],
                         file_sha256=result.get("model_sha256"), **timing)
        return bid

    def files_done(self, run_id: int, job, artifacts: list, timing: dict) -> None:
        """An export task's files: exports + validations rows and one 'file' row per file, together."""
        from ..report.db import file_facts

        with self.db.transaction() as c:
            self.db.insert_export(c, run_id, artifacts)
            for a in artifacts:
                self._insert(c, run_id, _FileJob(job, a.precision), "done", kind="file", file=str(a.path),
                             file_sha256=file_facts(a.path)[0], **timing)

    def failed(self, run_id: int, job, error: str, timing: Optional[dict] = None) -> None:
        with self.db.transaction() as c:
            self._insert(c, run_id, job, "failed", error=error, **(timing or {}))


class _FileJob:
    """One exported file of an export job, as a sweep_jobs row names it."""

    def __init__(self, job, precision: str) -> None:
        self.key, self.precision, self.job = job.file_key(precision), precision, job
        self.name = f"{job.name} {precision}"

    def to_dict(self) -> dict:
        return {**self.job.to_dict(), "kind": "file", "key": self.key, "precision": self.precision}
