"""Prompts for the LLM: templates (G global, L local), answer schemas, part sets, class lists.

    from crossglg.prompts import load_template, part_set, load_classes, dataset_layout, answer_schema

    g, l = load_template("global"), load_template("local")      # or load_template("local", path)
    ps = part_set("parts6")                                     # or part_set("joints", dataset_layout("ntu120"))
    for c in load_classes("ntu120").classes:                    # or load_classes("my_classes.tsv")
        g_msgs = g.render(c.name)
        l_msgs = l.render(c.name, ps.slots)
    schema_g, schema_l = answer_schema("global"), answer_schema(ps.kind, ps.slots)
    answer_problems(ps.kind, parsed, ps.slots)                  # [] when complete

Template ids (sha256 of the file) go to
``Cache.put_prompt`` for provenance; the cache key uses the rendered messages.
"""

from __future__ import annotations

from crossglg.prompts.answers import answer_problems, answer_schema, answer_texts, global_schema, local_schema
from crossglg.prompts.classes import (
    DATASET_LAYOUTS,
    ClassEntry,
    ClassList,
    builtin_names,
    dataset_layout,
    load_classes,
    read_class_file,
)
from crossglg.prompts.parts import BUILTIN_PART_SETS, PartSet, part_set
from crossglg.prompts.templates import TEMPLATE_NAMES, Template, load_template

__all__ = [
    "BUILTIN_PART_SETS",
    "DATASET_LAYOUTS",
    "TEMPLATE_NAMES",
    "ClassEntry",
    "ClassList",
    "PartSet",
    "Template",
    "answer_problems",
    "answer_schema",
    "answer_texts",
    "builtin_names",
    "dataset_layout",
    "global_schema",
    "load_classes",
    "load_template",
    "local_schema",
    "part_set",
    "read_class_file",
]
