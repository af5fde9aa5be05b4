"""Options of `crossglg-text generate` and `prompts` for own prompts and the in-process vLLM engine.

Kept apart from cli.py so the two groups read as one block each (docs/TEXTGEN.md, "Your own
prompts" and "vLLM in-process"). Only Typer and the standard library load here, so ``--help``
stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crossglg.cli_numbers import real

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
