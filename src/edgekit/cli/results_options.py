"""--db / --no-record, shared by every command that records into the results database."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Optional

import click


def db_options(fn=None, label: str = ""):
    """--db and --no-record; with ``label`` (its help text) also --label."""
    if fn is None:
        return lambda f: db_options(f, label)
    fn = click.option("--no-record", is_flag=True, help="Do not record this in the results database.")(fn)
    if label:
        fn = click.option("--label", help=label)(fn)
    return click.option(
        "--db", "db_path", type=click.Path(path_type=Path), envvar="EDGEKIT_DB",
        help="Results database (SQLite). Default: $EDGEKIT_DB, else $XDG_DATA_HOME/edgekit/results.sqlite "
             "(~/.local/share/edgekit/results.sqlite).")(fn)


def open_db(db_path: Optional[Path], no_record: bool = False):
    """The ResultsDB to record into, opened (and checked) before any slow work; None with --no-record."""
    if no_record:
        return None
    from ..report.db import ResultsDB

    return ResultsDB(db_path)


def command_line() -> str:
    return "edgekit " + shlex.join(sys.argv[1:])
