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
    """Attach each subpackage's commands (each ``register(app)`` keeps its heavy imports inside its commands)."""
    from crossglg import demo
    from crossglg.baselines import cli as baselines_cli
    from crossglg.data import cli as data_cli
    from crossglg.models import cli as models_cli
    from crossglg.train import cli as train_cli

    for module in (data_cli, models_cli, train_cli, baselines_cli, demo):
        module.register(app)


_register()


def main() -> None:
    run_app(app)


if __name__ == "__main__":
    main()
