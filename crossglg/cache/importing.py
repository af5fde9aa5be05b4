"""Reading descriptions written elsewhere (by hand, by another tool) for `crossglg-text import`.

One JSON object per line: ``dataset``, ``class_id``, ``text`` required; ``kind`` (global,
part, joint; global when there is no ``slot``), ``slot`` (the part or joint name),
``class_name`` (looked up in the built-in class list when omitted), ``sample_index``
(default 0) and, for global rows, ``key_body_parts``. An `export` JSONL reads back as is.

The file is untrusted input: a repeated key, a ``class_name`` the built-in list contradicts,
a slot that is no known part or joint (``../../etc``), two rows for one slot, numbers SQLite
cannot hold, deep nesting and text that is not valid Unicode are refused or repaired here,
naming the line, before anything is stored (docs/TEXTGEN.md, "Importing descriptions written elsewhere").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from crossglg.cache.records import KINDS, ImportRecord
from crossglg.cache.sanitize import valid_text
from crossglg.errors import UserError
from crossglg.inputs import read_input_text

MAX_ID = 2**31 - 1  # class ids and sample indices: far beyond any class list, within SQLite's integers
MAX_TEXT_CHARS = 100_000  # one description; a whole paper is ~50k characters


class DuplicateKey(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise DuplicateKey(key)
        obj[key] = value
    return obj


@cache
def _known_slots() -> dict[str, frozenset[str]]:
    """Every part name and every joint name of the built-in layouts, by kind."""
    from crossglg.vocab.layouts import LAYOUTS, PARTS6

    parts = set(PARTS6).union(*(lay.parts for lay in LAYOUTS.values()))
    joints = set().union(*(lay.joints for lay in LAYOUTS.values()))
    return {"part": frozenset(parts), "joint": frozenset(joints)}


def _builtin_name(dataset: str, class_id: int, where: str) -> str | None:
    """The class's name in the built-in list, or None when ``dataset`` has no built-in list."""
    from crossglg.vocab.classes import builtin_names, load_classes

    if dataset not in builtin_names():
        return None
    names = {c.class_id: c.name for c in load_classes(dataset).classes}
    if class_id not in names:
        raise UserError(f"{where}: class_id {class_id} is not in the {dataset} class list (1–{max(names)})")
    return names[class_id]


def _text_field(obj: dict[str, Any], name: str, where: str, required: bool = True) -> str:
    value = obj.get(name)
    if value is None and not required:
        return ""
    if value is not None and not isinstance(value, str):
        raise UserError(f"{where}: field {name!r} must be a string, got {type(value).__name__}")
    if required and (value is None or not value.strip()):
        raise UserError(f"{where}: field {name!r} is missing or empty")
    value = valid_text(value).strip()
    if name != "text" and not value.isprintable():
        raise UserError(f"{where}: field {name!r} holds control characters: {value!r}")
    return value


def _int_field(obj: dict[str, Any], name: str, where: str, default: int | None, low: int) -> int:
    value = obj.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_ID:
        raise UserError(f"{where}: field {name!r} must be an integer >= {low} and <= {MAX_ID}, got {value!r}")
    return value


def _record(obj: Any, where: str, classes: Mapping[int, str] | None = None) -> ImportRecord:
    if not isinstance(obj, dict):
        raise UserError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    dataset = _text_field(obj, "dataset", where)
    class_id = _int_field(obj, "class_id", where, None, low=1)
    text = _text_field(obj, "text", where)
    if len(text) > MAX_TEXT_CHARS:
        raise UserError(f"{where}: field 'text' has {len(text)} characters (at most {MAX_TEXT_CHARS})")
    slot = _text_field(obj, "slot", where, required=False)
    kind = obj.get("kind") or ("global" if not slot else None)
    if kind not in KINDS:
        raise UserError(f"{where}: field 'kind' must be one of {', '.join(KINDS)} (got {kind!r})")
    if (kind == "global") != (slot == ""):
        raise UserError(
            f"{where}: a {kind} row needs {'no slot' if kind == 'global' else 'a slot (part or joint name)'}"
        )
    if slot and slot not in _known_slots()[kind]:
        known = ", ".join(sorted(_known_slots()[kind])[:12])
        raise UserError(f"{where}: slot {slot!r} is not a known {kind} name (e.g. {known}, …)")
    sample_index = _int_field(obj, "sample_index", where, 0, low=0)
    parts = obj.get("key_body_parts") or []
    if not isinstance(parts, list) or not all(isinstance(p, str) for p in parts):
        raise UserError(f"{where}: field 'key_body_parts' must be a list of strings")
    if parts and kind != "global":  # the cache keeps them for global rows only: they would vanish
        raise UserError(f"{where}: field 'key_body_parts' belongs on global rows only (this is a {kind} row)")
    if classes is None:
        builtin = _builtin_name(dataset, class_id, where)
    elif class_id not in classes:
        raise UserError(
            f"{where}: class_id {class_id} is not a class of the prepared data (1–{max(classes)})"
        )
    else:
        builtin = classes[class_id]
    class_name = _text_field(obj, "class_name", where, required=False)
    if builtin is None and not class_name:
        raise UserError(
            f"{where}: class_name is required for dataset {dataset!r} (not a built-in class list)"
        )
    if builtin is not None and class_name and class_name.casefold() != builtin.casefold():
        raise UserError(
            f"{where}: class_name {class_name!r} contradicts the {dataset} class list, where class "
            f"{class_id} is {builtin!r}; fix the id or the name, or drop class_name"
        )
    return ImportRecord(
        dataset=dataset,
        class_id=class_id,
        class_name=builtin or class_name,
        kind=kind,
        text=text,
        slot=slot,
        sample_index=sample_index,
        key_body_parts=tuple(valid_text(p) for p in parts),
    )


def jsonl_lines(text: str) -> list[str]:
    """The lines of a JSONL text, split at ``\n`` only.

    ``str.splitlines()`` also splits at U+2028, U+2029 and U+0085, which JSON allows unescaped
    inside a string (``json.dumps(..., ensure_ascii=False)`` and pydantic write them so): it cut
    such a line in two, and `export` followed by `import` failed with "Unterminated string". The
    caller reads the file with ``utf-8-sig``, so a byte-order mark before the first line is gone.
    """
    return text.split("\n")


def read_import_jsonl(
    path: str | Path, dataset: str | None = None, classes: Mapping[int, str] | None = None
) -> list[ImportRecord]:
    """Parse and check a whole file before anything is stored; errors name file and line.

    ``dataset`` and ``classes`` (id → name) come from a prepared folder (`import --data`):
    every row must then be of that dataset and class list, and may leave out ``class_name``.
    """
    path = Path(path)
    try:
        lines = jsonl_lines(read_input_text(path, "file to import", encoding="utf-8-sig"))
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except OSError as err:
        raise UserError(f"{path}: cannot read ({err.strerror})") from None
    records = []
    seen: dict[tuple[str, int, str, str, int], tuple[int, str | None]] = {}
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            obj = json.loads(line, object_pairs_hook=_no_duplicate_keys)
        except DuplicateKey as err:
            raise UserError(f"{where}: key {str(err)!r} appears twice in one object") from None
        except json.JSONDecodeError as err:
            raise UserError(f"{where}: invalid JSON ({err.msg})") from None
        except (RecursionError, ValueError) as err:  # nesting too deep, an absurdly long number
            raise UserError(f"{where}: unreadable JSON ({type(err).__name__})") from None
        if dataset is not None and isinstance(obj, dict) and obj.get("dataset") != dataset:
            raise UserError(
                f"{where}: dataset {obj.get('dataset')!r}, but the prepared data is {dataset!r}; "
                f'write "dataset": "{dataset}" on every row'
            )
        rec = _record(obj, where, classes)
        slot_key = (rec.dataset, rec.class_id, rec.kind, rec.slot, rec.sample_index)
        source = obj.get("source") if isinstance(obj.get("source"), str) else None
        if slot_key in seen:
            first, first_source = seen[slot_key]
            what = (
                f"{where}: a second text for {rec.dataset} class {rec.class_id} {rec.kind} "
                f"{rec.slot or ''} sample {rec.sample_index} (first on line {first})"
            )
            if source and first_source and source != first_source:  # an export of a cache of several sources
                raise UserError(
                    f"{what}: the file holds texts of several sources ({first_source}, {source}); an import is "
                    "one source: import each alone (`crossglg-text export OUT.jsonl --source SOURCE`)"
                )
            raise UserError(f"{what}; keep one")
        seen[slot_key] = (lineno, source)
        records.append(rec)
    if not records:
        raise UserError(f"{path}: no rows to import")
    return records
