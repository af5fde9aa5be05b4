"""The ``crossglg-text`` command: generate, inspect, export and import LLM descriptions, and embed them.

Each part keeps its commands in its own module with a ``register(app)``; this module only
assembles them, as crossglg/cli.py does for ``crossglg``, so textgen does not know the
embeddings package that reads its output. ``--help`` stays fast: heavy imports happen inside
the commands.
"""

from __future__ import annotations

from crossglg.cli_support import run_app
from crossglg.textgen.cli_options import new_app

app = new_app(
    "crossglg-text",
    "Generate, cache and inspect LLM descriptions of action classes (one cache.db, paid for once).",
)


def _register() -> None:
    """Attach each module's commands, in the order ``--help`` lists them."""
    from crossglg.embeddings import cli as embeddings_cli
    from crossglg.textgen import batch_cli, cache_cli, convert_gguf, generate_cli

    for module in (generate_cli, cache_cli, convert_gguf, batch_cli, embeddings_cli):
        module.register(app)


_register()


def main() -> None:
    run_app(app)


if __name__ == "__main__":
    main()
