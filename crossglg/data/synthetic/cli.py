"""``crossglg data synth``: materialise the synthetic actions as a prepared cache or raw NTU files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from crossglg.cli_numbers import real
from crossglg.cli_support import OUT_PARSING
from crossglg.errors import UserError


def _class_ids(text: str | None) -> list[int] | None:
    """The class ids of ``--classes``; None (all 40) only when the option is not given.

    An empty value (an unset shell variable) used to mean all 40 classes, and a class named twice
    wrote every sample of it twice under one name, a cache that no command can then open.
    """
    if text is None:
        return None
    try:
        ids = [int(c) for c in text.split(",") if c.strip()]
    except ValueError:
        raise UserError(f"--classes must be comma-separated class ids, got {text!r}") from None
    if not ids:
        raise UserError(f"--classes names no class ({text!r}); leave it out for all 40")
    twice = sorted({c for c in ids if ids.count(c) > 1})
    if twice:
        raise UserError(f"--classes names class {twice[0]} twice; name each class once")
    return ids


def synth(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            **OUT_PARSING,
            help="Folder to write (a prepared cache, or .skeleton files with --raw).",
        ),
    ],
    per_class: Annotated[int, typer.Option("--per-class", "-n", min=1, help="Samples per class.")] = 20,
    seed: Annotated[
        int, typer.Option(min=0, max=2**32 - 1, help="Random seed; the same seed gives the same samples.")
    ] = 0,
    classes: Annotated[str | None, typer.Option(help="Comma-separated class ids (default: all 40).")] = None,
    second_person: Annotated[
        float, typer.Option(callback=real(0, 1), help="Chance that a bystander stands beside the actor.")
    ] = 0.2,
    noise: Annotated[bool, typer.Option(help="Add sensor jitter to the joints.")] = True,
    raw: Annotated[
        bool, typer.Option("--raw", help="Write NTU .skeleton files instead of a prepared cache.")
    ] = False,
    plant_defects: Annotated[
        bool,
        typer.Option(
            "--plant-defects",
            help="--raw: plant the quirks and defects a raw NTU reader must survive (see defects.json).",
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing prepared cache at --out.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was written as JSON.")] = False,
) -> None:
    """Generate the synthetic NTU-25 actions (docs/SYNTHETIC.md) into a prepared cache or a raw NTU folder."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from crossglg.data.synthetic import ACTIONS, write_prepared, write_raw
    from crossglg.outputs import writable_folder

    ids = _class_ids(classes)
    if plant_defects and not raw:
        raise UserError("--plant-defects only applies with --raw (a prepared cache holds no broken files)")
    writable_folder(out, "synthetic actions")
    total = per_class * len(ids if ids is not None else ACTIONS)
    columns = (TextColumn("generating"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, transient=True, disable=as_json) as progress:
        task = progress.add_task("synth", total=total)
        common = {"classes": ids, "second_person": second_person, "noise": noise,
                  "on_sample": lambda: progress.advance(task)}  # fmt: skip
        if raw:
            manifest = write_raw(out, per_class, seed, defects=plant_defects, **common)
        else:
            write_prepared(out, per_class, seed, force=force, **common)
            manifest = {}
    result = {"out": str(out), "format": "ntu-skeleton" if raw else "prepared", "samples": total, "seed": seed,
              "defects": manifest}  # fmt: skip
    if as_json:
        typer.echo(json.dumps(result, indent=1))
        return
    what = "NTU .skeleton files" if raw else "samples into a prepared cache"
    typer.echo(f"wrote {total} synthetic {what} at {out} (seed {seed})")
    if manifest:
        typer.echo(f"planted defects in {len(manifest)} files: see {out / 'defects.json'}")


def register(data_app: typer.Typer) -> None:
    """Attach ``synth`` to the ``crossglg data`` app."""
    data_app.command("synth")(synth)
