"""One-shot protocols as data: which classes train (auxiliary/base), which are novel.

The text toolkit asks this module which classes may be sent to an LLM: text is generated
for base classes only, so nothing about a novel class can leak into training (METHOD.md §2.1).

NOTE (scaffold): the data-layer issue extends this module with exemplars, validation
classes, auxiliary subsets, the documented protocol file format and its loader.
"""

from __future__ import annotations

from dataclasses import dataclass

from crossglg.data.synthetic import ACTIONS as SYNTHETIC_ACTIONS
from crossglg.data.synthetic import NOVEL_CLASS_IDS as SYNTHETIC_NOVEL
from crossglg.errors import UserError


@dataclass(frozen=True)
class Protocol:
    """Class-level split of a one-shot protocol; class ids are 1-based as in the class lists."""

    name: str
    dataset: str
    base_class_ids: tuple[int, ...]
    novel_class_ids: tuple[int, ...]


def _split(name: str, dataset: str, n_classes: int, novel: list[int]) -> Protocol:
    novel_set = set(novel)
    base = tuple(c for c in range(1, n_classes + 1) if c not in novel_set)
    return Protocol(name=name, dataset=dataset, base_class_ids=base, novel_class_ids=tuple(novel))


BUILTIN: dict[str, Protocol] = {
    p.name: p
    for p in (
        _split("ntu120", "ntu120", 120, list(range(1, 121, 6))),
        _split("ntu60", "ntu60", 60, list(range(1, 61, 6))),
        _split("pku-mmd", "pku-mmd", 51, list(range(1, 47, 5))),
        _split("msr-action3d", "msr-action3d", 20, list(range(11, 21))),
        _split("utkinect", "utkinect", 10, list(range(6, 11))),
        _split("synthetic", "synthetic", len(SYNTHETIC_ACTIONS), list(SYNTHETIC_NOVEL)),
    )
}

# the protocol used when a command names only a dataset
DEFAULT_PROTOCOL = {p.dataset: p.name for p in BUILTIN.values()}


def get_protocol(name: str) -> Protocol:
    try:
        return BUILTIN[name]
    except KeyError:
        raise UserError(f"unknown one-shot protocol {name!r}; known: {', '.join(BUILTIN)}") from None
