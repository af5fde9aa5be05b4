"""Read paths and bulk edits behind `show`, `export`, `stats`, `import` and `invalidate`.

Bound as methods of :class:`crossglg.cache.store.Cache`; kept apart so the store module
holds only the write machinery.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from crossglg.cache.errors import CacheDamaged
from crossglg.cache.keys import request_key, sha256_hex
from crossglg.cache.records import STATUSES, GenerationRow, ImportRecord, ItemTarget, RequestRow, utc_stamp
from crossglg.prompts.answers import answer_problems
from crossglg.prompts.quality import answer_quality

if TYPE_CHECKING:
    from crossglg.cache.store import Cache

IMPORT_PREFIX = "import:"

_ITEM_SELECT = """
    SELECT i.dataset, i.class_id, i.class_name, i.kind, i.slot, i.sample_index, i.source,
           t.text, i.key_body_parts, g.status, r.backend, r.model, g.resolved_model, g.mode,
           p.name AS prompt, r.prompt_id, g.run_id, g.completed_at, i.request_key
    FROM items i
    JOIN texts t ON t.text_id = i.text_id
    JOIN requests r ON r.request_key = i.request_key
    LEFT JOIN generations g ON g.request_key = i.request_key
    LEFT JOIN prompts p ON p.prompt_id = r.prompt_id
"""
# global text first, then local slots in the order the answer listed them (rowid = insertion order)
_ITEM_ORDER = "ORDER BY i.dataset, i.class_id, i.source, i.sample_index, i.kind != 'global', i.rowid"


def _item_rows(cache: Cache, where: str, params: list[Any]) -> Iterator[dict[str, Any]]:
    cur = cache.conn.execute(f"{_ITEM_SELECT} {where} {_ITEM_ORDER}", params)
    cols = [d[0] for d in cur.description]
    for row in cur:
        out = dict(zip(cols, row, strict=True))
        out["key_body_parts"] = json.loads(out["key_body_parts"]) if out["key_body_parts"] else None
        yield out


def _filters(**conditions: Any) -> tuple[str, list[Any]]:
    used = {k: v for k, v in conditions.items() if v is not None}
    if not used:
        return "", []
    return "WHERE " + " AND ".join(f"i.{k} = ?" for k in used), list(used.values())


def show(cache: Cache, dataset: str, class_id: int, source: str | None = None) -> list[dict[str, Any]]:
    """Every text of one class, each with where it came from (model, prompt, run, status)."""
    where, params = _filters(dataset=dataset, class_id=class_id, source=source)
    return list(_item_rows(cache, where, params))


def unused_answers(cache: Cache, class_name: str) -> list[dict[str, Any]]:
    """The answers about ``class_name`` that are not ok, each with what is wrong with it.

    A degenerate answer may leave no text in the bank at all ("walk around" six times), so
    `show` finds it through its prompt: the templates quote the action name, and the stored
    messages are canonical JSON, where that quote is ``\\"``. The problems are worked out
    again from the stored answer and schema (``crossglg.prompts``), as the runner did.
    """
    needle = json.dumps(f'"{class_name}"', ensure_ascii=False)[1:-1]
    cur = cache.conn.execute(
        "SELECT r.backend, r.model, p.name, g.status, r.schema_json, g.parsed_json, t.text"
        " FROM generations g JOIN requests r USING (request_key)"
        " LEFT JOIN prompts p ON p.prompt_id = r.prompt_id LEFT JOIN texts t ON t.text_id = g.text_id"
        " WHERE g.status != 'ok' AND instr(r.messages_json, ?) > 0 ORDER BY g.completed_at",
        (needle,),
    )
    out = []
    for backend, model, prompt, status, schema_json, parsed_json, raw in cur:
        schema = json.loads(schema_json) if schema_json else {}
        props = schema.get("properties") or {}
        # "required" keeps the slots in the prompt's order (canonical JSON sorted the properties)
        kind, slots = (
            ("global", ()) if "description" in props else ("part", tuple(schema.get("required", ())))
        )
        parsed = json.loads(parsed_json) if parsed_json else None
        problems = []
        if parsed is not None:
            problems = answer_problems(kind, parsed, slots)
            problems += answer_quality(kind, parsed, slots, class_name).problems
        out.append(
            {
                "source": f"{backend}:{model}",
                "prompt": prompt,
                "status": status,
                "problems": problems,
                "raw_text": raw,
            }
        )
    return out


def export_rows(
    cache: Cache, dataset: str | None = None, source: str | None = None, kind: str | None = None
) -> Iterator[dict[str, Any]]:
    """All texts as flat rows (JSONL/CSV); the fields `import` reads are among them, so exports re-import."""
    where, params = _filters(dataset=dataset, source=source, kind=kind)
    return _item_rows(cache, where, params)


def sources(cache: Cache, dataset: str) -> list[str]:
    """The sources (backend:model or import:label) that have texts for a dataset, sorted."""
    rows = cache.conn.execute(
        "SELECT DISTINCT source FROM items WHERE dataset = ? ORDER BY source", (dataset,)
    )
    return [r[0] for r in rows]


def stats(cache: Cache) -> dict[str, Any]:
    """Counts for `crossglg-text stats`: what the file holds and what failed.

    Checks the file's pages first (``PRAGMA quick_check``), so a damaged file is reported
    as damaged instead of counted as if whole.
    """
    q = cache.conn.execute
    problems = [r[0] for r in q("PRAGMA quick_check(5)")]
    if problems != ["ok"]:
        raise CacheDamaged(
            f"{cache.path}: the file is damaged ({'; '.join(problems)[:300]}); recover what is readable "
            f"with `sqlite3 {cache.path.name} .recover | sqlite3 recovered.db`"
        )

    def count(table: str) -> int:
        return q(f"SELECT count(*) FROM {table}").fetchone()[0]

    items = [
        dict(zip(("dataset", "source", "kind", "classes", "texts"), r, strict=True))
        for r in q(
            "SELECT dataset, source, kind, count(DISTINCT class_id), count(*) FROM items"
            " GROUP BY dataset, source, kind ORDER BY dataset, source, kind"
        )
    ]
    return {
        "path": str(cache.path),
        "integrity": "ok",
        "schema_version": int(cache.meta()["schema_version"]),
        "size_bytes": cache.path.stat().st_size,
        "runs": count("runs"),
        "requests": count("requests"),
        "generations": dict(
            q("SELECT status, count(*) FROM generations GROUP BY status ORDER BY status").fetchall()
        ),
        "attempts": count("attempts"),
        "texts": count("texts"),
        "items": items,
        "tokens": dict(
            zip(
                ("input", "output", "reasoning"),
                q(
                    "SELECT coalesce(sum(tokens_input), 0), coalesce(sum(tokens_output), 0),"
                    " coalesce(sum(tokens_reasoning), 0) FROM generations"
                ).fetchone(),
                strict=True,
            )
        ),
        "cost_usd": q("SELECT coalesce(sum(cost_usd), 0) FROM generations").fetchone()[0],
        "cost": _cost(cache),
        "embedders": count("embedders"),
        "embeddings": count("embeddings"),
    }


def _cost(cache: Cache) -> dict[str, Any]:
    """Dollars per model and per run; answers without a price (unknown model) are counted apart.

    ``priced`` < ``answers`` means the sum is a lower bound: those answers cost something
    nobody could price (docs/TEXTGEN.md, "Cost").
    """
    q = cache.conn.execute
    by_model = [
        dict(
            zip(("source", "answers", "priced", "tokens_input", "tokens_output", "cost_usd"), r, strict=True)
        )
        for r in q(
            "SELECT r.backend || ':' || r.model, count(*), count(g.cost_usd), coalesce(sum(g.tokens_input), 0),"
            " coalesce(sum(g.tokens_output), 0), coalesce(sum(g.cost_usd), 0) FROM generations g"
            " JOIN requests r USING (request_key) WHERE r.backend NOT IN ('import', 'pack')"
            " GROUP BY r.backend, r.model ORDER BY 1"
        )
    ]
    by_run = [
        dict(zip(("run_id", "command", "started_at", "answers", "priced", "cost_usd"), r, strict=True))
        for r in q(
            "SELECT g.run_id, ru.command, ru.started_at, count(*), count(g.cost_usd), coalesce(sum(g.cost_usd), 0)"
            " FROM generations g JOIN runs ru USING (run_id) JOIN requests r USING (request_key)"
            " WHERE r.backend NOT IN ('import', 'pack') GROUP BY g.run_id ORDER BY g.run_id"
        )
    ]
    return {
        "total_usd": sum(m["cost_usd"] for m in by_model),
        "unpriced_answers": sum(m["answers"] - m["priced"] for m in by_model),
        "by_model": by_model,
        "by_run": by_run,
    }


def import_texts(
    cache: Cache,
    records: Iterable[ImportRecord],
    label: str,
    run_id: str | None = None,
    prefix: str = IMPORT_PREFIX,
) -> int:
    """Store externally written texts under source ``import:<label>``, exactly like generations.

    A curated pack passes ``prefix="pack:"`` and ``NAME@VERSION`` as its label
    (crossglg.textgen.packs); its requests then have backend ``pack``.

    Each record becomes a request (backend ``import``, model = label, keyed on the text) and an
    ``ok`` generation whose items fan out as usual, so the text bank, `show` and `export` treat
    it like any model's answer. Re-importing the same text is a no-op; changed text replaces
    the item. Returns the number of records stored.
    """
    label = label.strip()
    if not label or any(ch.isspace() for ch in label):
        raise ValueError(f"import label must be one word, got {label!r}")
    source = prefix + label
    requests, generations = [], []
    for rec in records:
        params = {
            "dataset": rec.dataset,
            "class_id": rec.class_id,
            "kind": rec.kind,
            "slot": rec.slot,
            "text_sha256": sha256_hex(rec.text),
        }
        key = request_key(source, [], params, rec.sample_index)
        if rec.kind == "global":
            parsed: dict[str, Any] = {"description": rec.text, "key_body_parts": list(rec.key_body_parts)}
            slots: tuple[str, ...] = ()
        else:
            parsed, slots = {rec.slot: rec.text}, (rec.slot,)
        requests.append(RequestRow(key, prefix.rstrip(":"), label, [], params, rec.sample_index))
        target = ItemTarget(
            rec.dataset, rec.class_id, rec.class_name, rec.kind, rec.sample_index, source, slots
        )
        generations.append(
            (GenerationRow(key, "ok", rec.text, parsed, mode="import", run_id=run_id), [target])
        )
    with cache.write():
        cache.put_requests(requests, run_id=run_id)
        cache.record(generations=generations)
    return len(generations)


def _from_iso(text: str) -> datetime:
    """``datetime.fromisoformat`` as Python 3.11 reads it, on 3.10 too.

    3.10 reads neither a ``Z`` suffix nor a fraction of other than 3 or 6 digits.
    """
    if sys.version_info < (3, 11):
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        fraction = re.match(r"(.*T\d\d:\d\d:\d\d)\.(\d+)(.*)$", text)
        if fraction:
            text = f"{fraction[1]}.{fraction[2][:6].ljust(6, '0')}{fraction[3]}"
    return datetime.fromisoformat(text)


def _since_stamp(since: str) -> str:
    """``since`` in the stored ``completed_at`` format, so comparing text compares times.

    As typed, ``2026-01-31T12:00:00Z`` sorts after the stored ``2026-01-31T12:00:00.000Z`` and
    an offset such as ``+02:00`` would be ignored. A time without a zone is UTC, like every
    stored time.
    """
    try:
        moment = _from_iso(since)
    except ValueError:
        raise ValueError(
            f"since {since!r} is not an ISO date or time (e.g. 2026-01-31 or 2026-01-31T12:00:00Z)"
        ) from None
    return utc_stamp(moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc))


def _invalidation_select(
    model: str | None, prompt: str | None, since: str | None, status: str | None
) -> tuple[str, list[Any]]:
    """The query for the answers that match every given filter; bad filters raise ValueError."""
    conds, params = [], []
    if model is not None:
        conds.append("(r.model = ? OR r.backend || ':' || r.model = ?)")
        params += [model, model]
    if prompt is not None:
        conds.append(
            "(r.prompt_id LIKE ? OR r.prompt_id IN"
            " (SELECT prompt_id FROM prompts WHERE name = ? OR version_label = ?))"
        )
        params += [prompt + "%", prompt, prompt]
    if since is not None:
        conds.append("g.completed_at >= ?")
        params.append(_since_stamp(since))
    if status is not None:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r} (one of {', '.join(STATUSES)})")
        conds.append("g.status = ?")
        params.append(status)
    if not conds:
        raise ValueError("invalidate needs at least one filter (model, prompt, since or status)")
    select = (
        "SELECT g.request_key FROM generations g JOIN requests r ON r.request_key = g.request_key WHERE "
        + " AND ".join(conds)
    )
    return select, params


def invalidate(
    cache: Cache,
    model: str | None = None,
    prompt: str | None = None,
    since: str | None = None,
    status: str | None = None,
    dry_run: bool = False,
) -> int:
    """Forget answers so the next run asks again; requests and texts stay as history.

    ``model`` matches the model id or ``backend:model``; ``prompt`` a prompt name, a version
    label (``global@1a2b3c4d5e6f``) or a prompt-id prefix; ``since`` an ISO time (answers
    completed at or after it); ``status`` one of :data:`STATUSES`. Filters combine with AND; at
    least one is required. Returns the number of answers forgotten, or with ``dry_run`` the
    number that would be, without writing (so it works on a read-only cache).
    """
    select, params = _invalidation_select(model, prompt, since, status)
    if dry_run:
        return len(cache.conn.execute(select, params).fetchall())
    with cache.write():
        keys = [r[0] for r in cache.conn.execute(select, params)]
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            cache.conn.execute(f"DELETE FROM items WHERE request_key IN ({marks})", chunk)
            cache.conn.execute(f"DELETE FROM generations WHERE request_key IN ({marks})", chunk)
    return len(keys)
