"""Options and output helpers shared by the `crossglg-text` command modules (generate_cli.py,
cache_cli.py, batch_cli.py).

Kept apart from the commands so that each group reads as one block (docs/TEXTGEN.md, "Your own
prompts", "vLLM in-process", "Cost") and no command module repeats another. Only Typer and the
standard library load here, so ``--help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from crossglg.cli_numbers import real
from crossglg.errors import UserError

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
    """Flushed at once: an in-process engine may end the process without flushing a piped stdout."""
    print(json.dumps(payload, ensure_ascii=False, indent=2), flush=True)


# str options whose value may be a file name (`--parts FILE`, `--protocol FILE`, `--template
# NAME=FILE`): a file name in another encoding is a real file, and what reaches the cache from
# them (the parts, the protocol's name, the template's text) is read from inside the file
FILE_NAME_OPTIONS = frozenset({"parts", "protocol", "template"})


def _undecodable(value: str) -> str | None:
    """How to show ``value`` if it is not valid UTF-8 text, else None.

    On Linux an argument holding bytes that are not UTF-8 (``$'caf\\xe9'`` typed in a Latin-1
    terminal) reaches Python with lone surrogates (``'caf\\udce9'``), which UTF-8 cannot encode:
    SQLite, the cache key's JSON and hashlib then raised UnicodeEncodeError, reported as an
    ``internal error``. The bytes as given are shown (``caf\\xe9``) where they can be recovered.
    """
    try:
        value.encode("utf-8")
        return None
    except UnicodeEncodeError:
        pass
    try:
        return repr(value.encode("utf-8", "surrogateescape"))[2:-1]
    except UnicodeEncodeError:  # a surrogate no byte decodes to (e.g. from a Python caller)
        return repr(value)[1:-1]


class TextCommand(TyperCommand):
    """A `crossglg-text` command: an option value that is not valid UTF-8 is refused in one line.

    Checked once here, after parsing and before the command runs, rather than at each of the
    many places a value meets SQLite, JSON or a hash. ``Path`` values are left alone (the file
    system takes any bytes), and so are the str options in :data:`FILE_NAME_OPTIONS`.
    """

    def invoke(self, ctx: Any) -> Any:
        for param in self.params:
            if param.name is None or param.name in FILE_NAME_OPTIONS:
                continue
            value = ctx.params.get(param.name)
            for item in value if isinstance(value, (list, tuple)) else (value,):
                shown = _undecodable(item) if isinstance(item, str) else None
                if shown is not None:
                    name = param.opts[0] if param.opts[0].startswith("-") else param.human_readable_name
                    raise UserError(f"{name} '{shown}': not valid UTF-8 text; give it in UTF-8")
        return super().invoke(ctx)


class TextApp(typer.Typer):
    """A Typer app whose commands are :class:`TextCommand` unless a command names its own class."""

    def command(
        self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **kwargs: Any
    ) -> Any:
        return super().command(name, cls=cls or TextCommand, **kwargs)


def new_app(name: str, help: str) -> typer.Typer:
    """A Typer app as every `crossglg-text` (sub)command group is made: help when bare, plain errors,
    option values checked for valid UTF-8 (:class:`TextCommand`)."""
    return TextApp(
        name=name, help=help, no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False
    )


TemplateOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--template",
        help="Your own prompt template, NAME=FILE with NAME global or local (repeatable); see "
        "`crossglg-text prompts` for the result.",
    ),
]
TemplatesDirOpt = Annotated[
    Path | None,
    typer.Option("--templates", help="A folder with your own global.txt and/or local.txt templates."),
]
ExamplesOpt = Annotated[
    Path | None,
    typer.Option(
        "--examples",
        help="Few-shot example answers filling $examples: JSONL, one "
        '{"action", "global", "local"} object a line.',
    ),
]
DescriptionOpt = Annotated[
    str | None,
    typer.Option("--dataset-description", help="Text filling $dataset_description in your templates."),
]
DescriptionFileOpt = Annotated[
    Path | None,
    typer.Option("--dataset-description-file", help="A UTF-8 file whose text fills $dataset_description."),
]

TensorParallelOpt = Annotated[
    int | None,
    typer.Option(
        "--tensor-parallel-size", min=1, max=1024, help="vLLM: GPUs to split the model over (default 1)."
    ),
]
MaxModelLenOpt = Annotated[
    int | None,
    typer.Option(
        "--max-model-len",
        min=1,
        help="vLLM: context length to reserve memory for (default: the model's own; lower it when "
        "the KV cache does not fit).",
    ),
]
GpuMemoryOpt = Annotated[
    float | None,
    typer.Option(
        "--gpu-memory-utilization",
        callback=real(0.0, 1.0, low_open=True),
        help="vLLM: share of the GPU's memory the engine may take, (0, 1] (default: vLLM's 0.9).",
    ),
]
RevisionOpt = Annotated[
    str | None,
    typer.Option(
        "--revision",
        help="vLLM: the model's Hugging Face revision (commit, branch or tag); part of the cache key, "
        "as the commit it resolves to in your local cache.",
    ),
]
AllowDownloadOpt = Annotated[
    bool,
    typer.Option(
        "--allow-download",
        help="vLLM: let the engine download weights missing from the local Hugging Face cache "
        "(crossglg is offline otherwise).",
    ),
]

DatasetOpt = Annotated[
    str | None,
    typer.Option(
        "--dataset",
        "-d",
        help="Built-in class list: ntu60, ntu120, pku-mmd, msr-action3d, utkinect, synthetic.",
    ),
]
ClassesOpt = Annotated[
    Path | None,
    typer.Option("--classes", help="Your own class list: .txt (one name a line) or .tsv/.csv (id,name)."),
]
PartsOpt = Annotated[
    str,
    typer.Option("--parts", help="Slots of the local prompt: parts6, joints, or a file of part/joint names."),
]
DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="A prepared data folder (crossglg data prepare): its dataset name and class names, so the "
        "texts are stored where `crossglg train --data` looks for them.",
    ),
]
LayoutOpt = Annotated[
    str | None,
    typer.Option("--layout", help="Skeleton layout for --parts joints/FILE with a custom class list."),
]
