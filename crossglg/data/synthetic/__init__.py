"""Synthetic NTU-25 actions whose meaning lives in particular body parts.

A test bed that needs no downloads: :func:`generate` returns sequences, labels and NTU-style
names in memory; :mod:`crossglg.data.synthetic.raw` writes them as NTU ``.skeleton`` files;
the ``synthetic`` one-shot protocol and ``crossglg/prompts/classes/synthetic.tsv`` put the
class names through the same text pipeline as the real datasets. See docs/SYNTHETIC.md.
"""

from crossglg.data.synthetic.actions import ACTIONS, PART_JOINTS, Action
from crossglg.data.synthetic.generator import Synthetic, generate, generate_one, sample_name

NOVEL_CLASS_IDS = (2, 6, 10, 12, 15, 20, 23, 29, 34, 38)
"""Novel classes of the ``synthetic`` protocol: each shares its body parts with a base class
(wave left hand ↔ wave right hand, kick left leg ↔ kick right leg, shake head ↔ nod head, …),
so the text's part descriptions can transfer."""


def class_names() -> list[str]:
    """Class names in id order (id = position + 1)."""
    return [a.name for a in ACTIONS]


def exemplar_names() -> dict[int, str]:
    """The one-shot exemplar of each novel class: its sample 0."""
    return {c: sample_name(c, 0) for c in NOVEL_CLASS_IDS}


__all__ = [
    "ACTIONS",
    "NOVEL_CLASS_IDS",
    "PART_JOINTS",
    "Action",
    "Synthetic",
    "class_names",
    "exemplar_names",
    "generate",
    "generate_one",
    "sample_name",
]
