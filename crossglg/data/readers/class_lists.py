"""Class names for a prepared cache, from the prompts package's class lists.

Labels are 0-based positions (``class_id - 1``, ARCHITECTURE.md), so a list must number its
classes 1..N without gaps. Built-in lists go by dataset name; a user's ``--classes`` file wins.
"""

from __future__ import annotations

from pathlib import Path

from crossglg.errors import UserError


def class_names(spec: str | Path) -> list[str]:
    """Names in label order from a built-in dataset name or a class file (.txt, .tsv, .csv)."""
    from crossglg.prompts.classes import load_classes

    classes = load_classes(spec)
    ids = sorted(classes.ids)
    if ids != list(range(1, len(ids) + 1)):
        raise UserError(f"{classes.source}: class ids must run 1..N without gaps (a label is id - 1)")
    return [classes.get(i).name for i in ids]


def packaged_class_names(dataset: str, class_file: Path | None = None) -> list[str]:
    return class_names(Path(class_file) if class_file is not None else dataset)
