"""Options and output helpers shared by the `crossglg-text` commands (cli.py, batch_cli.py).

Only Typer and the standard library, so `--help` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

CacheOpt = Annotated[Path, typer.Option("--cache", help="The SQLite text cache file.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
PricesOpt = Annotated[
    Path | None,
    typer.Option(
        "--prices",
        help="A TOML price file (dollars per million tokens) overriding the shipped table and "
        "~/.config/crossglg/prices.toml; layout in docs/TEXTGEN.md, Cost.",
    ),
]


def emit_json(payload: Any) -> None:
    print(json.dumps(payload, ensure_ascii=False, indent=2))


def new_app(name: str, help: str) -> typer.Typer:
    """A Typer app as every `crossglg-text` (sub)command group is made: help when bare, plain errors."""
    return typer.Typer(
        name=name, help=help, no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False
    )
