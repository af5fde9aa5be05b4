"""Body-part words → NTU-25 joints: the lexicon behind k_gt and the answers' quality checks.

A dependency-free lexicon matcher (docs/EMBEDDINGS.md, "How `k_gt` is built"): lower-case words, longest dictionary
phrase first, each with an optional side word before it ("right hand", "both arms", "left and
right feet"). Phrases map to NTU-25 joints; any other layout gets them through its
``ntu_index`` (``Layout.mapping_to``), so one dictionary serves every skeleton. Words that
are not in the dictionary are ignored. To add a synonym, add one line to :data:`SIDED` or :data:`CENTRAL`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# phrase → (left joints, right joints, joints added when no side is named); NTU, 1-based
SIDED: dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]] = {}
# phrase → joints regardless of side words; NTU, 1-based
CENTRAL: dict[str, tuple[int, ...]] = {}
# phrases that put mass on every joint
WHOLE_BODY = frozenset({"whole body", "entire body", "full body", "all joints", "all body parts"})


def _sided(words: str, left: tuple[int, ...], right: tuple[int, ...], unsided: tuple[int, ...] = ()) -> None:
    for w in words.split(","):
        SIDED[w.strip()] = (left, right, unsided)


def _central(words: str, joints: tuple[int, ...]) -> None:
    for w in words.split(","):
        CENTRAL[w.strip()] = joints


_central("head, heads, skull", (3, 4))
_central("face, eyes, eye, mouth, nose, chin, forehead", (4,))
_central("neck", (3,))
_sided("shoulder, shoulders", (5,), (9,))
_sided("arm, arms, upper arm, upper arms, forearm, forearms", (5, 6, 7), (9, 10, 11))
_sided("elbow, elbows", (6,), (10,))
_sided("wrist, wrists", (7,), (11,))
_sided("hand, hands, palm, palms, fist, fists", (8, 22, 23), (12, 24, 25))
_sided("finger, fingers, fingertip, fingertips, hand tip, hand tips", (22, 23), (24, 25))
_sided("thumb, thumbs", (23,), (25,))
_central("torso, trunk, chest, back, spine, upper body, core, abdomen, belly, stomach", (1, 2, 21))
_sided("waist, pelvis, hip, hips", (13,), (17,), (1,))
_sided(
    "leg, legs, thigh, thighs, lower leg, lower legs, shin, shins, calf, calves", (13, 14, 15), (17, 18, 19)
)
_sided("knee, knees", (14,), (18,))
_sided("ankle, ankles", (15,), (19,))
_sided("foot, feet, toe, toes, heel, heels", (15, 16), (19, 20))
_central("lower body", (1, 13, 14, 15, 16, 17, 18, 19, 20))

SIDE_WORDS = {"left": "left", "right": "right", "both": "both", "either": "both", "each": "both"}
_LONGEST = max(len(p.split()) for p in (*SIDED, *CENTRAL, *WHOLE_BODY))
_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class JointMatch:
    """What a text names: NTU joints (0-based), or the whole body, and the phrases that matched."""

    joints: frozenset[int]
    whole_body: bool
    phrases: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.joints and not self.whole_body


def match_text(text: str) -> JointMatch:
    """Find dictionary phrases (with their side words) in free text."""
    words = _WORD.findall(text.lower())
    joints: set[int] = set()
    phrases: list[str] = []
    whole = False
    i = 0
    while i < len(words):
        sides, j = _read_sides(words, i)
        phrase = _longest_phrase(words, j)
        if phrase is None:
            i += 1
            continue
        i = j + len(phrase.split())
        label = " ".join([*sorted(sides), phrase]) if sides else phrase
        phrases.append(label)
        if phrase in WHOLE_BODY:
            whole = True
        elif phrase in CENTRAL:
            joints.update(n - 1 for n in CENTRAL[phrase])
        else:
            left, right, unsided = SIDED[phrase]
            if "left" in sides:
                joints.update(n - 1 for n in left)
            if "right" in sides:
                joints.update(n - 1 for n in right)
            if not sides or "both" in sides:  # no side, "both" or a plural: both sides
                joints.update(n - 1 for n in (*left, *right, *unsided))
    return JointMatch(frozenset(joints), whole, tuple(phrases))


def _read_sides(words: Sequence[str], i: int) -> tuple[set[str], int]:
    """Side words at ``i``, including "left and right" / "left or right"; returns (sides, next index)."""
    sides: set[str] = set()
    j = i
    while j < len(words) and words[j] in SIDE_WORDS:
        sides.add(SIDE_WORDS[words[j]])
        j += 1
        if j + 1 < len(words) and words[j] in ("and", "or") and words[j + 1] in SIDE_WORDS:
            j += 1
    return sides, j


def _longest_phrase(words: Sequence[str], j: int) -> str | None:
    for n in range(min(_LONGEST, len(words) - j), 0, -1):
        candidate = " ".join(words[j : j + n])
        if candidate in SIDED or candidate in CENTRAL or candidate in WHOLE_BODY:
            return candidate
    return None


def match_parts(parts: Iterable[str]) -> JointMatch:
    """Match each listed body part on its own (a side word never leaks into the next entry)."""
    matches = [match_text(p) for p in parts]
    return JointMatch(
        frozenset().union(*(m.joints for m in matches)),
        any(m.whole_body for m in matches),
        tuple(p for m in matches for p in m.phrases),
    )
