"""Part sets: the slots the local prompt asks about, one short sentence each.

``parts6`` (GAP's six body parts) is the default; ``joints`` asks about every joint of the
dataset's skeleton layout, as the paper does; a custom file lists one name per line, each a
body part of the layout or one of its joints (not a mix, since items carry one kind).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crossglg.errors import UserError
from crossglg.vocab.layouts import PARTS6, get_layout

BUILTIN_PART_SETS = ("parts6", "joints")


@dataclass(frozen=True)
class PartSet:
    """``kind`` is the items kind its texts are stored under: ``part`` or ``joint``."""

    name: str
    kind: str
    slots: tuple[str, ...]


def part_set(spec: str | Path = "parts6", layout: str | None = None) -> PartSet:
    """Resolve ``parts6``, ``joints`` (needs ``layout``) or a file path into slots."""
    if spec == "parts6":
        return PartSet("parts6", "part", PARTS6)
    if spec == "joints":
        if layout is None:
            raise UserError(
                "the 'joints' part set needs a skeleton layout (pass --layout or a built-in dataset)"
            )
        return PartSet("joints", "joint", get_layout(layout).joints)
    return _read_part_file(Path(spec), layout)


def _read_part_file(path: Path, layout: str | None) -> PartSet:
    if not path.is_file():
        raise UserError(f"{path}: neither a part set ({', '.join(BUILTIN_PART_SETS)}) nor a file")
    if layout is None:
        raise UserError(f"{path}: a custom part set needs a skeleton layout to check its names against")
    lay = get_layout(layout)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise UserError(f"{path}: part set is not UTF-8 text") from None
    slots: list[str] = []
    kinds: set[str] = set()
    for n, line in enumerate(lines, start=1):
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        if name in lay.parts:
            kinds.add("part")
        elif name in lay.joints:
            kinds.add("joint")
        else:
            raise UserError(
                f"{path}: row {n}: {name!r} is neither a body part nor a joint of layout {lay.name}"
            )
        if name in slots:
            raise UserError(f"{path}: row {n}: {name!r} listed twice")
        slots.append(name)
    if not slots:
        raise UserError(f"{path}: no part or joint names in the file")
    if len(kinds) > 1:
        raise UserError(f"{path}: mixes body parts and joints; list only one kind")
    return PartSet(path.stem, kinds.pop(), tuple(slots))
