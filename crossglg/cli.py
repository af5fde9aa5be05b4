"""The ``crossglg`` command: data preparation, model report, training, evaluation, export.

Each subpackage owns its commands in its own ``cli.py``; this module only assembles them,
so ``crossglg --help`` stays fast (heavy imports happen inside the commands).
"""

from __future__ import annotations

import typer

from crossglg.cli_support import run_app

app = typer.Typer(
    name="crossglg",
    help="One-shot skeleton action recognition guided by LLM text (CrossGLG).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    """Attach each subpackage's commands; a subpackage that has none yet is skipped."""
    import importlib

    for module in (
        "crossglg.data.cli",
        "crossglg.models.cli",
        "crossglg.train.cli",
        "crossglg.baselines.cli",
        "crossglg.demo",
    ):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:
                raise
            continue
        mod.register(app)


_register()


def main() -> None:
    run_app(app)


if __name__ == "__main__":
    main()
