"""--db (and --no-record), shared by every command that records into or reads the results database."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Optional

import click


_DB_HELP = ("Results database (SQLite). Default: $EDGEKIT_DB, else $XDG_DATA_HOME/edgekit/results.sqlite "
            "(~/.local/share/edgekit/results.sqlite).")
READ_HINT = "Choose another with --db PATH (or EDGEKIT_DB)"


def db_options(fn=None, label: str = ""):
    """--db and --no-record, for commands that record (bench, export, run); with ``label`` (its
    help text) also --label."""
    if fn is None:
        return lambda f: db_options(f, label)
    fn = click.option("--no-record", is_flag=True, help="Do not record this in the results database.")(fn)
    if label:
        fn = click.option("--label", help=label)(fn)
    return click.option("--db", "db_path", type=click.Path(path_type=Path), envvar="EDGEKIT_DB", help=_DB_HELP)(fn)


def read_db_option(fn):
    """--db for commands that only read the database (history, compare, report): they never write it."""
    return click.option("--db", "db_path", type=click.Path(path_type=Path), envvar="EDGEKIT_DB",
                        help=_DB_HELP + " Only read, never written.")(fn)


def open_db(db_path: Optional[Path], no_record: bool = False):
    """The ResultsDB to record into, opened (and checked) before any slow work; None with --no-record."""
    if no_record:
        return None
    from ..report.db import ResultsDB

    return ResultsDB(db_path)


def open_read_db(db_path: Optional[Path]):
    """The ResultsDB to read from, opened read-only (a foreign or newer file is refused)."""
    from ..report.db import ResultsDB

    return ResultsDB(db_path, read_only=True, hint=READ_HINT)


def command_line() -> str:
    return "edgekit " + shlex.join(sys.argv[1:])
