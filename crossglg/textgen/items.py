"""From an answer to the texts the cache stores: where an answer lands, and which of its pieces do.

The cache stores the rows it is handed (docs/ARCHITECTURE.md, "Cache"); reading an answer's
fields is done here, with the answer shapes of :mod:`crossglg.prompts.answers`, so the
runner, a batch collect, a cache hit and `show` judge an answer the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from crossglg.cache import KINDS, USABLE_STATUSES, Cache, ItemRow
from crossglg.prompts.answers import answer_problems, answer_texts
from crossglg.prompts.quality import answer_quality


@dataclass(frozen=True)
class ItemTarget:
    """Where an answer lands in ``items``: one class of one dataset, from one source.

    ``slots`` is empty for a global answer and the part/joint names for a local one. The same
    request can serve several targets (ntu60 and ntu120 share class names, hence prompts).
    ``accept_degenerate``: a ``degenerate`` answer lands here whole, not only its good pieces
    (`generate --accept-degenerate`, for trying the pipeline with a tiny model).
    """

    dataset: str
    class_id: int
    class_name: str
    kind: str
    sample_index: int
    source: str
    slots: tuple[str, ...] = ()
    accept_degenerate: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")


def answer_items(status: str, parsed: Any, targets: Sequence[ItemTarget]) -> list[ItemRow]:
    """The texts an answer gives each of its targets; none unless its status is usable.

    An ``ok`` answer passed the quality checks when it was received and lands whole; an
    ``incomplete`` one brings the slots it has and a ``degenerate`` one only its pieces that
    pass the checks (:mod:`crossglg.prompts.quality`), unless the target accepts it whole.
    """
    if status not in USABLE_STATUSES or not isinstance(parsed, Mapping):
        return []
    rows = []
    for t in targets:
        whole = status == "ok" or (status == "degenerate" and t.accept_degenerate)
        for slot, text, parts in answer_texts(t.kind, parsed, t.slots, None if whole else t.class_name):
            rows.append(
                ItemRow(
                    t.dataset,
                    t.class_id,
                    t.class_name,
                    t.kind,
                    slot,
                    t.sample_index,
                    t.source,
                    text,
                    tuple(parts) if parts is not None else None,
                )
            )
    return rows


def cached_items(cache: Cache, request_key: str, targets: Sequence[ItemTarget]) -> list[ItemRow]:
    """The texts an answer already in the cache gives new targets (a cache hit still fills `items`)."""
    stored = cache.generation(request_key)
    return [] if stored is None else answer_items(stored["status"], stored["parsed"], targets)


def unused_answers(cache: Cache, class_name: str) -> list[dict[str, Any]]:
    """The answers about ``class_name`` that are not ok, each with what is wrong with it (for `show`).

    The problems are worked out again from the stored answer and schema, as the runner did;
    the schema's "required" keeps the slots in the prompt's order (canonical JSON sorted its
    properties).
    """
    out = []
    for row in cache.unused_answer_rows(class_name):
        schema = row["schema"] or {}
        props = schema.get("properties") or {}
        kind, slots = (
            ("global", ()) if "description" in props else ("part", tuple(schema.get("required", ())))
        )
        parsed = row["parsed"]
        problems = []
        if parsed is not None:
            problems = answer_problems(kind, parsed, slots)
            problems += answer_quality(kind, parsed, slots, class_name).problems
        out.append(
            {
                "source": row["source"],
                "prompt": row["prompt"],
                "status": row["status"],
                "problems": problems,
                "raw_text": row["raw_text"],
            }
        )
    return out
