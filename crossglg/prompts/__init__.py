"""Prompts for the LLM: templates (G global, L local) and the answers they ask for.

    from crossglg.prompts import load_template, answer_schema, answer_problems
    from crossglg.vocab.classes import load_classes, dataset_layout
    from crossglg.vocab.parts import part_set

    g, l = load_template("global"), load_template("local")      # or load_template("local", path)
    ps = part_set("parts6")                                     # or part_set("joints", dataset_layout("ntu120"))
    for c in load_classes("ntu120").classes:                    # or load_classes("my_classes.tsv")
        g_msgs = g.render(c.name)
        l_msgs = l.render(c.name, ps.slots)
    schema_g, schema_l = answer_schema("global"), answer_schema(ps.kind, ps.slots)
    answer_problems(ps.kind, parsed, ps.slots)                  # [] when complete

Class lists and part sets are shared vocabulary (:mod:`crossglg.vocab`, docs/ARCHITECTURE.md).
Template ids (sha256 of the file) go to ``Cache.put_prompt`` for provenance; the cache key
uses the rendered messages.
"""

from __future__ import annotations

from crossglg.prompts.answers import answer_problems, answer_schema, answer_texts, global_schema, local_schema
from crossglg.prompts.templates import TEMPLATE_NAMES, Template, load_template

__all__ = [
    "TEMPLATE_NAMES",
    "Template",
    "answer_problems",
    "answer_schema",
    "answer_texts",
    "global_schema",
    "load_template",
    "local_schema",
]
