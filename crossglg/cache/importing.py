"""Reading descriptions written elsewhere (by hand, by another tool) for `crossglg-text import`.

One JSON object per line: ``dataset``, ``class_id``, ``text`` required; ``kind`` (global,
part, joint; global when there is no ``slot``), ``slot`` (the part or joint name),
``class_name`` (looked up in the built-in class list when omitted), ``sample_index``
(default 0) and, for global rows, ``key_body_parts``. An `export` JSONL reads back as is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from crossglg.cache.records import KINDS, ImportRecord
from crossglg.errors import UserError


def _class_name(dataset: str, class_id: int, where: str) -> str:
    from crossglg.prompts.classes import builtin_names, load_classes

    if dataset not in builtin_names():
        raise UserError(
            f"{where}: class_name is required for dataset {dataset!r} (not a built-in class list)"
        )
    names = {c.class_id: c.name for c in load_classes(dataset).classes}
    if class_id not in names:
        raise UserError(f"{where}: class_id {class_id} is not in the {dataset} class list (1–{max(names)})")
    return names[class_id]


def _record(obj: Any, where: str) -> ImportRecord:
    if not isinstance(obj, dict):
        raise UserError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    dataset = obj.get("dataset")
    if not isinstance(dataset, str) or not dataset.strip():
        raise UserError(f"{where}: field 'dataset' is missing or empty")
    class_id = obj.get("class_id")
    if isinstance(class_id, bool) or not isinstance(class_id, int) or class_id < 1:
        raise UserError(f"{where}: field 'class_id' must be an integer >= 1, got {class_id!r}")
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        raise UserError(f"{where}: field 'text' is missing or empty")
    slot = obj.get("slot") or ""
    if not isinstance(slot, str):
        raise UserError(f"{where}: field 'slot' must be a string")
    kind = obj.get("kind") or ("global" if not slot else None)
    if kind not in KINDS:
        raise UserError(f"{where}: field 'kind' must be one of {', '.join(KINDS)} (got {kind!r})")
    if (kind == "global") != (slot == ""):
        raise UserError(
            f"{where}: a {kind} row needs {'no slot' if kind == 'global' else 'a slot (part or joint name)'}"
        )
    sample_index = obj.get("sample_index", 0)
    if isinstance(sample_index, bool) or not isinstance(sample_index, int) or sample_index < 0:
        raise UserError(f"{where}: field 'sample_index' must be an integer >= 0")
    parts = obj.get("key_body_parts") or []
    if not isinstance(parts, list) or not all(isinstance(p, str) for p in parts):
        raise UserError(f"{where}: field 'key_body_parts' must be a list of strings")
    class_name = obj.get("class_name") or _class_name(dataset, class_id, where)
    return ImportRecord(
        dataset=dataset.strip(),
        class_id=class_id,
        class_name=str(class_name),
        kind=kind,
        text=text.strip(),
        slot=slot.strip(),
        sample_index=sample_index,
        key_body_parts=tuple(parts),
    )


def read_import_jsonl(path: str | Path) -> list[ImportRecord]:
    """Parse and check a whole file before anything is stored; errors name file and line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    records = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise UserError(f"{where}: invalid JSON ({err.msg})") from None
        records.append(_record(obj, where))
    if not records:
        raise UserError(f"{path}: no rows to import")
    return records
