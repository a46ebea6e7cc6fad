"""Entry point: `edgekit COMMAND`. Each command lives in its own module under cli/."""
from __future__ import annotations

import importlib

import click

# module name -> the click command it defines (module attribute `command`)
COMMANDS = ["models", "summary", "train_cmd", "export_cmd", "validate_cmd", "inspect_cmd",
            "bench_cmd", "history_cmd", "compare_cmd", "report_cmd", "run_cmd", "devices_cmd", "sweep_cmd"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgekit")
def cli() -> None:
    """edgekit: export, quantize, validate and benchmark mobile image models."""


for _name in COMMANDS:
    cli.add_command(importlib.import_module(f"{__package__}.{_name}").command)


def main() -> None:
    cli(prog_name="edgekit")


if __name__ == "__main__":
    main()
