"""The JSON answers the two prompts ask for: their schemas, their checks, and their texts.

One place knows the answer shapes, so the backend's structured-output schema, the runner's
validation and the cache's fan-out into per-slot texts can never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crossglg.prompts.quality import answer_quality

MAX_SENTENCE_CHARS = 400  # "one short sentence": generous, but stops run-on whitespace loops


def global_schema() -> dict[str, Any]:
    """Strict-mode JSON schema of the global answer (OpenAI subset: all required, no extras)."""
    return {
        "type": "object",
        "properties": {
            "description": {"type": "string", "minLength": 1},
            "key_body_parts": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
        },
        "required": ["description", "key_body_parts"],
        "additionalProperties": False,
    }


def local_schema(slots: Sequence[str]) -> dict[str, Any]:
    """One required short sentence per part or joint, keys = the slot names in order."""
    if not slots:
        raise ValueError("a local answer needs at least one part or joint")
    sentence = {"type": "string", "minLength": 1, "maxLength": MAX_SENTENCE_CHARS}
    return {
        "type": "object",
        "properties": {slot: dict(sentence) for slot in slots},
        "required": list(slots),
        "additionalProperties": False,
    }


def answer_schema(kind: str, slots: Sequence[str] = ()) -> dict[str, Any]:
    return global_schema() if kind == "global" else local_schema(slots)


def _clean(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def answer_problems(kind: str, answer: Any, slots: Sequence[str] = ()) -> list[str]:
    """What is wrong with a parsed answer; empty when it is complete and usable.

    The runner turns a non-empty list into status ``incomplete`` and may ask for a repair.
    """
    if not isinstance(answer, Mapping):
        return [f"answer is a {type(answer).__name__}, not a JSON object"]
    problems = []
    if kind == "global":
        if _clean(answer.get("description")) is None:
            problems.append("description is missing or empty")
        parts = answer.get("key_body_parts")
        if not isinstance(parts, list) or not any(_clean(p) for p in parts):
            problems.append("key_body_parts is missing or empty")
        return problems
    for slot in slots:
        if _clean(answer.get(slot)) is None:
            problems.append(f"{slot!r} is missing or empty")
    return problems


def answer_texts(
    kind: str, answer: Mapping[str, Any], slots: Sequence[str] = (), class_name: str | None = None
) -> list[tuple[str, str, list[str] | None]]:
    """(slot, text, key_body_parts) for every usable piece of an answer; global slot is "".

    Missing or empty slots are skipped, not filled: the text bank then reports precisely
    which (class, slot) lacks text instead of training on a placeholder. Given the
    ``class_name``, degenerate pieces (:mod:`crossglg.prompts.quality`) are skipped too, and
    key body parts that name no joint are left out of the list.
    """
    quality = answer_quality(kind, answer, slots, class_name) if class_name is not None else None
    bad = quality.bad_slots if quality else frozenset()
    if kind == "global":
        text = _clean(answer.get("description"))
        if text is None or "" in bad:
            return []
        unmapped = set(quality.unmapped) if quality else set()
        parts = [p.strip() for p in answer.get("key_body_parts") or [] if _clean(p) and p not in unmapped]
        return [("", text, parts)]
    return [
        (slot, text, None)
        for slot in slots
        if slot not in bad and (text := _clean(answer.get(slot))) is not None
    ]
