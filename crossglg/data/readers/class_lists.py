"""Class names for formats whose files carry none (NTU, PKU-MMD, CTR-GCN, pyskl).

The prompts package owns the class lists (they are the LLM's input); a user file given with
``--classes`` wins, and without either the names are placeholders the report warns about.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from crossglg.data.readers.base import read_class_file

CLASS_COUNTS = {"ntu60": 60, "ntu120": 120, "pku-mmd": 51}


def packaged_class_names(dataset: str, class_file: Path | None = None) -> list[str]:
    if class_file is not None:
        return read_class_file(Path(class_file))
    folder = resources.files("crossglg.prompts").joinpath("classes")
    # NTU-60's classes are ids 1-60 of the NTU-120 list (DATA.md §10.4)
    for stem in (dataset, "ntu120" if dataset == "ntu60" else dataset):
        for ext in (".tsv", ".txt"):
            entry = folder.joinpath(stem + ext)
            if entry.is_file():
                with resources.as_file(entry) as path:
                    names = read_class_file(path)
                return names[: CLASS_COUNTS.get(dataset, len(names))]
    return [f"class {i}" for i in range(1, CLASS_COUNTS.get(dataset, 0) + 1)]
