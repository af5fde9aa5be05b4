"""Glue shared by the two console scripts: offline defaults and one-line user errors."""

from __future__ import annotations

import os
import sys

import typer

from crossglg.errors import UserError


def offline_defaults() -> None:
    """Never let a library reach for a hub unless the user asked for it.

    Without these, an accidental hub id hangs about 75 s before failing (OFFLINE.md).
    A user who wants downloads sets the variables to 0 themselves.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def run_app(app: typer.Typer) -> None:
    """Run a Typer app, turning :class:`UserError` into one line on stderr and a non-zero exit."""
    offline_defaults()
    try:
        code = app(standalone_mode=False)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as err:  # click's own usage errors arrive here in non-standalone mode
        import click

        if isinstance(err, click.exceptions.ClickException):
            err.show()
            sys.exit(err.exit_code)
        if isinstance(err, click.exceptions.Abort):
            print("aborted", file=sys.stderr)
            sys.exit(1)
        raise
    if isinstance(code, int) and code:
        sys.exit(code)
