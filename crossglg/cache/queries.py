"""Read paths and bulk edits behind `show`, `export`, `stats` and `invalidate`.

Methods of every open cache through :class:`CacheQueries`, kept apart so :mod:`crossglg.cache.store`
holds only the write paths. They return what is stored; what is wrong with an answer is the
text toolkit's judgement (:mod:`crossglg.textgen.items`).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from crossglg.cache.connection import CacheConnection
from crossglg.cache.errors import CacheDamaged
from crossglg.cache.records import STATUSES, utc_stamp

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


def _item_rows(cache: CacheConnection, where: str, params: list[Any]) -> Iterator[dict[str, Any]]:
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


def _cost(cache: CacheConnection) -> dict[str, Any]:
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
    try:
        return utc_stamp(moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc))
    except OverflowError:  # 0001-01-01T00:00+01:00 is a year-0 time in UTC, which datetime lacks
        raise ValueError(
            f"since {since!r} is outside the years 1 to 9999 once turned into UTC; give a later or earlier time"
        ) from None


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


class CacheQueries(CacheConnection):
    """The read paths (`show`, `export`, `stats`, `sources`) and `invalidate`, as methods of every open cache.

    :class:`crossglg.cache.store.Cache` adds the write paths on top; both reach the file only
    through :class:`~crossglg.cache.connection.CacheConnection`.
    """

    def show(self, dataset: str, class_id: int, source: str | None = None) -> list[dict[str, Any]]:
        """Every text of one class, each with where it came from (model, prompt, run, status)."""
        where, params = _filters(dataset=dataset, class_id=class_id, source=source)
        return list(_item_rows(self, where, params))

    def unused_answer_rows(self, class_name: str) -> list[dict[str, Any]]:
        """The stored answers about ``class_name`` that are not ok, oldest first, as stored.

        A degenerate answer may leave no text in the bank at all ("walk around" six times), so
        `show` finds it through its prompt: the templates quote the action name, and the stored
        messages are canonical JSON, where that quote is ``\\"``. Each row has ``source``,
        ``prompt``, ``status``, ``schema`` and ``parsed`` (None when absent) and ``raw_text``.
        """
        needle = json.dumps(f'"{class_name}"', ensure_ascii=False)[1:-1]
        cur = self.conn.execute(
            "SELECT r.backend, r.model, p.name, g.status, r.schema_json, g.parsed_json, t.text"
            " FROM generations g JOIN requests r USING (request_key)"
            " LEFT JOIN prompts p ON p.prompt_id = r.prompt_id LEFT JOIN texts t ON t.text_id = g.text_id"
            " WHERE g.status != 'ok' AND instr(r.messages_json, ?) > 0 ORDER BY g.completed_at",
            (needle,),
        )
        return [
            {
                "source": f"{backend}:{model}",
                "prompt": prompt,
                "status": status,
                "schema": json.loads(schema_json) if schema_json else None,
                "parsed": json.loads(parsed_json) if parsed_json else None,
                "raw_text": raw,
            }
            for backend, model, prompt, status, schema_json, parsed_json, raw in cur
        ]

    def export_rows(
        self, dataset: str | None = None, source: str | None = None, kind: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """All texts as flat rows (JSONL/CSV); the fields `import` reads are among them, so exports re-import."""
        where, params = _filters(dataset=dataset, source=source, kind=kind)
        return _item_rows(self, where, params)

    def sources(self, dataset: str) -> list[str]:
        """The sources (backend:model or import:label) that have texts for a dataset, sorted."""
        rows = self.conn.execute(
            "SELECT DISTINCT source FROM items WHERE dataset = ? ORDER BY source", (dataset,)
        )
        return [r[0] for r in rows]

    def stats(self) -> dict[str, Any]:
        """Counts for `crossglg-text stats`: what the file holds and what failed.

        Checks the file's pages first (``PRAGMA quick_check``), so a damaged file is reported
        as damaged instead of counted as if whole.
        """
        q = self.conn.execute
        problems = [r[0] for r in q("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            raise CacheDamaged(
                f"{self.path}: the file is damaged ({'; '.join(problems)[:300]}); recover what is readable "
                f"with `sqlite3 {self.path.name} .recover | sqlite3 recovered.db`"
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
            "path": str(self.path),
            "integrity": "ok",
            "schema_version": int(self.meta()["schema_version"]),
            "size_bytes": self.path.stat().st_size,
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
            "cost": _cost(self),
            "embedders": count("embedders"),
            "embeddings": count("embeddings"),
        }

    def invalidate(
        self,
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
        number that would be, without writing (so it works on a read-only self).
        """
        select, params = _invalidation_select(model, prompt, since, status)
        if dry_run:
            return len(self.conn.execute(select, params).fetchall())
        with self.write():
            keys = [r[0] for r in self.conn.execute(select, params)]
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                self.conn.execute(f"DELETE FROM items WHERE request_key IN ({marks})", chunk)
                self.conn.execute(f"DELETE FROM generations WHERE request_key IN ({marks})", chunk)
        return len(keys)
