"""Turn a raw completion into (status, parsed answer, problems), tolerating what LLMs really send.

Structured output is a promise only some backends keep: models wrap JSON in code fences,
add prose around it, stop at ``max_tokens`` mid-object, or ignore JSON altogether and write
``head: the head tilts back`` lines. Everything the model sent is kept by the caller; this
module only decides what it is worth.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from crossglg.cache.sanitize import valid_value
from crossglg.prompts.answers import answer_problems
from crossglg.prompts.quality import answer_quality

_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")
_LINE = re.compile(r"^\s*[-*\d.)\s]*\**([A-Za-z][\w \-/]*?)\**\s*[:=\-–]\s*(.+?)\s*$")


@dataclass
class Parsed:
    """``status`` is one of ok / refused / truncated / invalid_json / incomplete / degenerate."""

    status: str
    answer: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)


def _json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text``: the whole text, a fenced block, or the outermost braces."""
    candidates = [text.strip(), _FENCE.sub("", text.strip())]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
            continue
        if isinstance(value, dict):
            return valid_value(value)  # a "\\ud800" escape decodes to a lone surrogate
    return None


def _lines(text: str, kind: str, slots: tuple[str, ...]) -> dict[str, Any] | None:
    """Fallback for ``<part>: <text>`` answers; matching ignores case, and plural "hands" → "hand"."""
    wanted = {"description": "description"} if kind == "global" else {s.lower(): s for s in slots}
    found: dict[str, Any] = {}
    for line in text.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        label = match.group(1).strip().lower()
        slot = wanted.get(label) or wanted.get(label.removesuffix("s"))
        if slot and slot not in found:
            found[slot] = match.group(2).strip().strip('"')
    if not found:
        return None
    if kind == "global":
        found.setdefault("key_body_parts", [])
    return found


def parse_answer(
    text: str | None,
    kind: str,
    slots: tuple[str, ...] = (),
    finish_reason: str | None = None,
    refusal: str | None = None,
    class_name: str | None = None,
) -> Parsed:
    """Classify one answer. ``kind`` is ``global`` or ``local``; ``slots`` the parts/joints asked for.

    Given the ``class_name`` the prompt was about, a complete answer that says nothing (the
    checks of :mod:`crossglg.prompts.quality`) is ``degenerate``, not ``ok``; an incomplete
    one lists those problems too, so one repair turn can fix both.
    """
    if refusal:
        return Parsed("refused", problems=[f"refused: {refusal}"])
    text = text or ""
    answer = _json_object(text) if text.strip() else None
    if answer is None and text.strip():
        answer = _lines(text, kind, slots)
    if answer is None:
        if finish_reason == "length":
            return Parsed(
                "truncated", problems=["the answer was cut off at max_tokens before the JSON closed"]
            )
        return Parsed("invalid_json", problems=["the answer is not a JSON object"])
    problems = answer_problems(kind, answer, slots)
    quality = answer_quality(kind, answer, slots, class_name).problems if class_name is not None else []
    if problems:
        status = "truncated" if finish_reason == "length" else "incomplete"
        return Parsed(status, answer, problems + quality)
    if quality:
        return Parsed("degenerate", answer, quality)
    return Parsed("ok", answer)
