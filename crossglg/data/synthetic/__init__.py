"""Synthetic NTU-25 actions whose meaning lives in particular body parts.

A test bed that needs no downloads: :func:`generate` returns sequences, labels and NTU-style
names in memory; :func:`write_prepared` materialises them as a prepared cache and
:func:`write_raw` as NTU ``.skeleton`` files. The ``synthetic`` one-shot protocol
(``crossglg/vocab/protocols/synthetic.toml``) and ``crossglg/vocab/classes/synthetic.tsv``
put the class names through the same protocol and text pipeline as the real datasets.
See docs/SYNTHETIC.md.
"""

from crossglg.data.synthetic.actions import ACTIONS, PART_JOINTS, Action, class_names
from crossglg.data.synthetic.generator import Synthetic, generate, generate_one, sample_name
from crossglg.data.synthetic.materialise import standard_defects, write_prepared, write_raw

__all__ = [
    "ACTIONS",
    "PART_JOINTS",
    "Action",
    "Synthetic",
    "class_names",
    "generate",
    "generate_one",
    "sample_name",
    "standard_defects",
    "write_prepared",
    "write_raw",
]
