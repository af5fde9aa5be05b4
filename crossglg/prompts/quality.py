"""Is a well-formed answer worth training on? The checks behind status ``degenerate``.

A small model can fill every JSON field and still say nothing: SmolLM2 answered each body
part of "walk around" with "walk around" (docs/TEXTGEN.md, "Answer quality"). Such text
embeds to one vector per class, carries no part-specific signal, and, when the key body parts
name nothing the joint dictionary knows, leaves ``k_gt`` uniform. These checks find that:

- a text that only repeats the action's name (its words, inflected or not, and filler words);
- a near-empty text: a local sentence of one word, a global description under four words;
- one text for several parts or joints of a local answer (the prompt's "stays still" for
  parts that do not move is exempt: saying so is an answer);
- a key body part that maps to no joint (``crossglg.vocab.body_words``).

The same checks decide which pieces of an answer reach the text bank, so a degenerate piece
is never trained on, and the curated packs are held to them in the tests.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crossglg.vocab.body_words import match_text

MIN_GLOBAL_WORDS = 4
MIN_LOCAL_WORDS = 2

_WORD = re.compile(r"[a-z0-9]{2,}(?:'[a-z]+)?")  # one-letter tokens (the a of N/A) say nothing
# words that carry no content of their own in a description
_FILLER_WORDS = """a an the to of and or in on at by with while is are be being it its this that his her their
    them they he she person someone somebody subject action performs perform performing performed
    does do doing done when as then also very"""
FILLER = frozenset(_FILLER_WORDS.split())
# what a part that does not move may truthfully say, several times in one answer
_STILL_WORDS = """stay stays staying remain remains remaining still stationary motionless static steady
    relaxed rest rests resting at idle neutral not no doesn't don't move moves moving movement
    involved inactive little barely hardly upright level place position"""
STILL = frozenset(_STILL_WORDS.split())


@functools.lru_cache(maxsize=16384)  # a few thousand distinct words; checked for every answer
def _stem(word: str) -> str:
    """Crude suffix stripping, enough to see "waving", "waves" and "wave" as one word."""
    for suffix in ("ing", "es", "ed", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    return word.rstrip("e") or word


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _content(text: str, also: frozenset[str] = frozenset()) -> set[str]:
    return {_stem(w) for w in words(text) if w not in FILLER and w not in also}


@functools.lru_cache(maxsize=4096)
def _name_content(class_name: str) -> frozenset[str]:
    return frozenset(_content(class_name))


def only_class_name(text: str, class_name: str) -> bool:
    """True when ``text`` says nothing beyond the action's own name (and filler words)."""
    content = _content(text)
    return bool(content) and content <= _name_content(class_name)


def says_still(text: str, slot: str = "") -> bool:
    """The prompt's answer for a part that does not move ("stays still", "the hip remains still")."""
    slot_words = frozenset(words(slot)) | frozenset(w + "s" for w in words(slot))
    content = {w for w in words(text) if w not in FILLER and w not in slot_words}
    return bool(content) and content <= STILL


def unmapped_parts(parts: Sequence[Any]) -> list[str]:
    """The key body parts that name no joint (whole-body phrases count as mapped)."""
    return [str(p) for p in parts if not isinstance(p, str) or match_text(p).empty]


@dataclass(frozen=True)
class Quality:
    """What is degenerate in one answer; ``bad_slots`` holds ``""`` for a bad global description."""

    problems: list[str] = field(default_factory=list)
    bad_slots: frozenset[str] = frozenset()
    unmapped: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def global_quality(answer: Mapping[str, Any], class_name: str) -> Quality:
    problems: list[str] = []
    bad: set[str] = set()
    text = _text(answer.get("description"))
    if text is not None:
        if only_class_name(text, class_name):
            problems.append(f"the description only repeats the action name {class_name!r}")
            bad.add("")
        elif len(words(text)) < MIN_GLOBAL_WORDS or not _content(text):
            problems.append(f"the description {text!r} is too short to describe the action")
            bad.add("")
    parts = answer.get("key_body_parts")
    unmapped = unmapped_parts(parts) if isinstance(parts, list) else []
    if unmapped:
        names = ", ".join(repr(p) for p in unmapped)
        problems.append(
            f"key body part(s) {names} name no body part or joint; use words such as head, neck, "
            "shoulder, arm, elbow, wrist, hand, fingers, torso, hip, leg, knee, ankle, foot"
        )
    return Quality(problems, frozenset(bad), tuple(unmapped))


def local_quality(answer: Mapping[str, Any], slots: Sequence[str], class_name: str) -> Quality:
    problems: list[str] = []
    bad: set[str] = set()
    by_text: dict[str, list[str]] = {}
    echo: list[str] = []
    for slot in slots:
        text = _text(answer.get(slot))
        if text is None:
            continue  # missing parts are answer_problems' business (status incomplete)
        if only_class_name(text, class_name) and not says_still(text, slot):
            echo.append(slot)
        elif len(words(text)) < MIN_LOCAL_WORDS or not _content(text):
            problems.append(f"{slot!r} is too short ({text!r}); write one sentence about the {slot}")
            bad.add(slot)
        elif not says_still(text, slot):
            by_text.setdefault(" ".join(words(text)), []).append(slot)
    if echo:
        problems.insert(
            0,
            f"{', '.join(map(repr, echo))} only repeat the action name {class_name!r}; "
            "describe how each of them moves",
        )
        bad.update(echo)
    for same in by_text.values():
        if len(same) > 1:
            problems.append(
                f"{', '.join(map(repr, same))} have the same text; write one sentence specific to each"
            )
            bad.update(same)
    return Quality(problems, frozenset(bad))


def answer_quality(kind: str, answer: Any, slots: Sequence[str], class_name: str) -> Quality:
    """The degenerate pieces of a parsed answer to the ``kind`` prompt about ``class_name``."""
    if not isinstance(answer, Mapping):
        return Quality()
    if kind == "global":
        return global_quality(answer, class_name)
    return local_quality(answer, slots, class_name)
