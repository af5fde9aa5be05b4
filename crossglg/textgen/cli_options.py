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

from crossglg.cli_numbers import real

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


def new_app(name: str, help: str) -> typer.Typer:
    """A Typer app as every `crossglg-text` (sub)command group is made: help when bare, plain errors."""
    return typer.Typer(
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
