"""What every command shares: output helpers, the error boundary, option parsers."""
from __future__ import annotations

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
    """Turn EdgekitError (and a few OS errors users cause) into one line and an exit code."""

    @functools.wraps(fn)
    def wrapper(*a, **kw):
        try:
            return fn(*a, **kw)
        except EdgekitError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except PermissionError as exc:
            click.echo(f"error: permission denied: {exc.filename or exc}", err=True)
            sys.exit(2)

    return wrapper


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
