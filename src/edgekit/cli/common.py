"""What every command shares: output helpers, the error boundary, option parsers."""
from __future__ import annotations

import errno
import functools
import json
import sys
from typing import Callable

import click

from ..errors import EdgekitError

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")


def progress(msg: str) -> None:
    click.echo(msg, err=True)


def emit(doc, as_json: bool, human: Callable[[object], str]) -> None:
    if as_json:
        click.echo(json.dumps(doc, indent=2, default=_jsonable))
    else:
        click.echo(human(doc))


def _jsonable(o):
    if hasattr(o, "to_dict"):
        return o.to_dict()
    if isinstance(o, (set, tuple)):
        return list(o)
    return str(o)


def handle_errors(fn):
    """Turn EdgekitError, OS errors (disk full, permissions, ...) and interrupts into one line
    and an exit code. Files being written are temp files until renamed (_files.atomic_path), so
    what an error leaves under a final name is complete."""

    @functools.wraps(fn)
    def wrapper(*a, **kw):
        from .. import signals

        try:
            return fn(*a, **kw)
        except SystemExit:
            raise
        except BaseException as exc:
            # After SIGTERM, whatever ended the command is its consequence (a runtime's C code
            # may turn the interrupt into an error of its own), so it ends as a termination.
            if signals.terminated():
                click.echo("terminated (SIGTERM); nothing half-written was kept", err=True)
                sys.exit(143)
            if isinstance(exc, EdgekitError):
                click.echo(f"error: {exc}", err=True)
                sys.exit(exc.exit_code)
            if isinstance(exc, KeyboardInterrupt):
                click.echo("interrupted; nothing half-written was kept", err=True)
                sys.exit(130)
            if isinstance(exc, OSError):
                click.echo(f"error: {os_error_line(exc)}", err=True)
                sys.exit(2)
            raise  # anything else is a bug in edgekit: keep its traceback

    return wrapper


_OS_ADVICE = {
    errno.ENOSPC: "free some space there or write elsewhere",
    errno.EDQUOT: "free some space there or write elsewhere",
    errno.EACCES: "check the permissions, or choose another path",
    errno.EPERM: "check the permissions, or choose another path",
    errno.EROFS: "it is on a read-only file system; choose another path",
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder; pass a file",
    errno.EMFILE: "too many open files; raise the limit (ulimit -n)",
}


def _short(name, limit: int = 200) -> str:
    text = str(name)
    return text if len(text) <= limit else f"{text[:limit // 2]}...{text[-limit // 2:]} ({len(text)} characters)"


def os_error_line(exc: OSError) -> str:
    """'No space left on device: 'out/m.tflite'; free some space there or write elsewhere'."""
    what = exc.strerror or type(exc).__name__
    where = f": '{_short(exc.filename)}'" if exc.filename else ""
    if exc.filename2:
        where += f" -> '{_short(exc.filename2)}'"
    advice = _OS_ADVICE.get(exc.errno)
    return f"{what}{where}" + (f"; {advice}" if advice else "") + (f" (errno {errno.errorcode.get(exc.errno, exc.errno)})"
                                                               if exc.errno else "")


def table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """A plain aligned table: columns are (key, header)."""
    cells = [[h for _, h in columns]] + [[_fmt(r.get(k)) for k, _ in columns] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)
