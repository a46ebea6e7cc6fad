"""Entry point: `edgekit COMMAND`. Each command lives in its own module under cli/."""
from __future__ import annotations

import importlib
import sys

import click

# module name -> the click command it defines (module attribute `command`)
COMMANDS = ["models", "summary", "train_cmd", "export_cmd", "validate_cmd", "inspect_cmd", "explain_cmd",
            "bench_cmd", "history_cmd", "compare_cmd", "report_cmd", "run_cmd", "devices_cmd", "sweep_cmd"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgekit")
def cli() -> None:
    """edgekit: export, quantize, validate and benchmark mobile image models."""


for _name in COMMANDS:
    cli.add_command(importlib.import_module(f"{__package__}.{_name}").command)


def main() -> None:
    """Usage errors (a bad flag value, a missing argument) end in one `error:` line like every
    other error, naming the command's --help, instead of click's usage block."""
    from ..signals import Terminated, install, quiet_exit

    install()
    try:
        rv = cli.main(prog_name="edgekit", standalone_mode=False)
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "edgekit"
        click.echo(f"error: {exc.format_message().rstrip('.')}; see `{where} --help`", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.Abort as exc:  # Ctrl-C or SIGTERM outside a command (while importing, parsing)
        click.echo("interrupted", err=True)
        sys.exit(143 if isinstance(exc.__context__, Terminated) else 130)
    finally:
        quiet_exit()
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
