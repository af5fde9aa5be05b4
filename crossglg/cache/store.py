"""Writing the cache: runs, prompts, requests, answers, attempts and the texts they are handed.

Every write goes through :meth:`CacheConnection.write` (``BEGIN IMMEDIATE``, see
:mod:`crossglg.cache.connection`). The rows arrive whole: which texts an answer yields is
decided by the text toolkit (:mod:`crossglg.textgen.items`) before they reach this module.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from crossglg import __version__
from crossglg.cache import batches, leases
from crossglg.cache.connection import connect
from crossglg.cache.errors import CacheError
from crossglg.cache.keys import TRANSPORT_FIELDS, canonical_json, request_key, sha256_hex, text_sha256
from crossglg.cache.queries import CacheQueries
from crossglg.cache.records import (
    USABLE_STATUSES,
    AttemptRow,
    GenerationRow,
    ImportRecord,
    ItemRow,
    RequestRow,
    RunCounters,
    utc_now,
)
from crossglg.cache.sanitize import (
    clean_message,
    configured_secrets,
    mask_configured_secrets,
    valid_text,
    valid_value,
)

IMPORT_PREFIX = "import:"
LOOKUP_CHUNK = 500  # bound variables per IN (...) query, well under SQLite's limit
_USABLE = "(" + ", ".join(f"'{s}'" for s in USABLE_STATUSES) + ")"  # SQL list of USABLE_STATUSES
_SECRET_SUFFIXES = ("_key", "apikey", "token", "secret", "password", "authorization")


def scrub_args(
    args: Mapping[str, Any], drop_names: bool = True, secrets: list[str] | None = None
) -> dict[str, Any]:
    """Arguments fit to store: transport settings and secret-looking names dropped.

    API keys are never stored; dropping by name is backed up by masking every configured key
    and ``sk-…``/bearer credential wherever it turns up in a string. Request params keep their
    names and all but configured keys (``drop_names=False``): they must stay what was hashed.
    """
    if secrets is None:
        secrets = configured_secrets()  # once, not once a string

    def mask(text: str) -> str:
        return clean_message(text, secrets) if drop_names else mask_configured_secrets(text, secrets)

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return mask(value)
        if isinstance(value, Mapping):
            return {k: clean(v) for k, v in value.items() if not (drop_names and _secret_name(k))}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        if isinstance(value, Path):
            # a file name that is not UTF-8 (``caf\xe9.jsonl``) is a str with lone surrogates,
            # which SQLite cannot store: `import` of such a file was an internal error
            return mask(valid_text(str(value)))
        return value

    return clean(args)


def _secret_name(name: Any) -> bool:
    lowered = str(name).lower().replace("-", "_")
    return lowered in TRANSPORT_FIELDS or lowered == "key" or lowered.endswith(_SECRET_SUFFIXES)


class Cache(CacheQueries):
    """An open cache file: runs, prompts, requests, answers and their texts, plus the read paths.

    Use :func:`open_cache`; close it (or use ``with``) when done. The rows it stores are handed
    to it whole: turning an LLM answer into texts is the text toolkit's work
    (:mod:`crossglg.textgen.items`), so this class never reads an answer's fields.
    """

    # -- runs and prompts ----------------------------------------------------------------
    def start_run(self, command: str, args: Mapping[str, Any] | None = None) -> str:
        """Record a CLI call and return its ULID (ULIDs sort by time, so runs list in order).

        Runs left "running" by a process that is gone (kill -9, power cut, a full disk) are
        marked "interrupted" first; their ids are kept in ``self.stale_runs``.
        """
        from ulid import ULID

        run_id = str(ULID())
        with self.write():
            self.stale_runs = leases.mark_stale_runs(self)
            self.db["runs"].insert(
                {
                    "run_id": run_id,
                    "command": command,
                    "args_json": canonical_json(scrub_args(args or {})),
                    "tool_version": __version__,
                    "started_at": utc_now(),
                    "status": "running",
                    "host": socket.gethostname(),
                }
            )
            leases.register_owner(self, run_id)
        return run_id

    def finish_run(self, run_id: str, status: str, counters: RunCounters | None = None) -> None:
        """Close a run with its final status (ok / failed / interrupted) and counters."""
        c = counters or RunCounters()
        with self.write():
            self.conn.execute(
                "UPDATE runs SET finished_at = ?, status = ?, n_requests = ?, n_cache_hits = ?,"
                " n_failed = ?, tokens = ?, cost_usd = ? WHERE run_id = ?",
                (utc_now(), status, c.n_requests, c.n_cache_hits, c.n_failed, c.tokens, c.cost_usd, run_id),
            )
            leases.release_run(self, run_id)

    @contextmanager
    def run(self, command: str, args: Mapping[str, Any] | None = None) -> Iterator[RunCounters]:
        """``start_run`` … ``finish_run`` around a block, so no failure leaves a run "running".

        Yields the counters to fill (``run_id`` set). The run ends "ok" when the block returns
        and "failed" ("interrupted" on Ctrl-C) when it raises; then the block's error is the one reported, even if the
        row cannot be closed (the next run marks it interrupted).
        """
        counters = RunCounters(run_id=self.start_run(command, args))
        assert counters.run_id is not None
        try:
            yield counters
        except BaseException as err:
            status = "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"
            with contextlib.suppress(CacheError, sqlite3.Error):
                self.finish_run(counters.run_id, status, counters)
            raise
        self.finish_run(counters.run_id, "ok", counters)

    def put_prompt(self, name: str, template: str, version_label: str | None = None) -> str:
        """Store a template for provenance; its id is the sha256 of its text (not part of any key)."""
        prompt_id = sha256_hex(template)
        with self.write():
            self.db["prompts"].insert(
                {"prompt_id": prompt_id, "name": name, "version_label": version_label, "template": template},
                ignore=True,
            )
        return prompt_id

    # -- requests and lookups ------------------------------------------------------------
    def put_requests(self, rows: Iterable[RequestRow], run_id: str | None = None) -> int:
        """Insert resolved requests, skipping those already present; returns how many were new.

        Existing keys are found first with the same ``IN`` query as :meth:`lookup`, so a
        rerun serialises nothing and costs about as much as a lookup.
        """
        rows = list(rows)
        if not rows:
            return 0
        now, secrets = utc_now(), configured_secrets()
        with self.write():
            present = self._present("requests", [r.request_key for r in rows])
            fresh = [r for r in rows if r.request_key not in present]
            before = self.conn.total_changes
            self.conn.executemany(
                "INSERT OR IGNORE INTO requests (request_key, backend, model, model_revision, messages_json,"
                " params_json, schema_json, sample_index, seed, prompt_id, created_run, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    (
                        r.request_key,
                        r.backend,
                        r.model,
                        r.model_revision,
                        canonical_json(r.messages),
                        canonical_json(scrub_args(r.params, drop_names=False, secrets=secrets)),
                        canonical_json(r.schema) if r.schema is not None else None,
                        r.sample_index,
                        r.seed,
                        r.prompt_id,
                        run_id,
                        now,
                    )
                    for r in fresh
                ),
            )
            return self.conn.total_changes - before

    def _present(self, table: str, keys: Sequence[str]) -> dict[str, Any]:
        """``request_key`` → first other column, for the keys of ``keys`` found in ``table``."""
        column = {"requests": "backend", "generations": "status"}[table]
        found: dict[str, Any] = {}
        for start in range(0, len(keys), LOOKUP_CHUNK):
            chunk = keys[start : start + LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            found.update(
                self.conn.execute(
                    f"SELECT request_key, {column} FROM {table} WHERE request_key IN ({marks})", chunk
                ).fetchall()
            )
        return found

    def lookup(self, keys: Sequence[str]) -> dict[str, str]:
        """Status of every key that has a generation; keys absent from the result are missing.

        Chunked ``IN (...)`` queries: about 300k keys/s (docs/CACHE.md, "What the cache guarantees").
        """
        return self._present("generations", list(keys))

    def generation(self, request_key: str) -> dict[str, Any] | None:
        """One stored answer with its raw text and parsed JSON, or None."""
        cur = self.conn.execute(
            "SELECT g.*, t.text AS raw_text FROM generations g LEFT JOIN texts t USING (text_id)"
            " WHERE g.request_key = ?",
            (request_key,),
        )
        row = cur.fetchone()
        if row is None:
            return None
        out = dict(zip([d[0] for d in cur.description], row, strict=True))
        out["parsed"] = json.loads(out["parsed_json"]) if out["parsed_json"] else None
        return out

    # -- the write paths the batching writer flushes through -----------------------------
    def _text_id(self, text: str) -> int:
        text = valid_text(text)
        digest = text_sha256(text)
        self.conn.execute(
            "INSERT OR IGNORE INTO texts (sha256, text, n_chars) VALUES (?, ?, ?)", (digest, text, len(text))
        )
        return self.conn.execute("SELECT text_id FROM texts WHERE sha256 = ?", (digest,)).fetchone()[0]

    def _store_generation(self, gen: GenerationRow) -> bool:
        """Upsert one generation; a failure never replaces a usable answer already cached."""
        text_id = self._text_id(gen.raw_text) if gen.raw_text is not None else None
        cur = self.conn.execute(
            f"""INSERT INTO generations (request_key, status, text_id, parsed_json, finish_reason,
                   resolved_model, system_fingerprint, tokens_input, tokens_cached, tokens_output,
                   tokens_reasoning, cost_usd, mode, latency_ms, completed_at, run_id, raw_response)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (request_key) DO UPDATE SET
                   status = excluded.status, text_id = excluded.text_id, parsed_json = excluded.parsed_json,
                   finish_reason = excluded.finish_reason, resolved_model = excluded.resolved_model,
                   system_fingerprint = excluded.system_fingerprint, tokens_input = excluded.tokens_input,
                   tokens_cached = excluded.tokens_cached, tokens_output = excluded.tokens_output,
                   tokens_reasoning = excluded.tokens_reasoning, cost_usd = excluded.cost_usd,
                   mode = excluded.mode, latency_ms = excluded.latency_ms,
                   completed_at = excluded.completed_at, run_id = excluded.run_id,
                   raw_response = excluded.raw_response
               WHERE excluded.status IN {_USABLE} OR generations.status NOT IN {_USABLE}""",
            (
                gen.request_key,
                gen.status,
                text_id,
                canonical_json(valid_value(gen.parsed)) if gen.parsed is not None else None,
                gen.finish_reason,
                gen.resolved_model,
                gen.system_fingerprint,
                gen.tokens_input,
                gen.tokens_cached,
                gen.tokens_output,
                gen.tokens_reasoning,
                gen.cost_usd,
                gen.mode,
                gen.latency_ms,
                utc_now(),
                gen.run_id,
                gen.raw_response,
            ),
        )
        return cur.rowcount > 0

    def _store_items(self, request_key: str, items: Sequence[ItemRow]) -> None:
        for item in items:
            self.conn.execute(
                "INSERT OR REPLACE INTO items (dataset, class_id, kind, slot, sample_index, source,"
                " class_name, request_key, text_id, key_body_parts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    item.dataset,
                    item.class_id,
                    item.kind,
                    item.slot,
                    item.sample_index,
                    item.source,
                    item.class_name,
                    request_key,
                    self._text_id(item.text),
                    json.dumps(valid_value(item.key_body_parts), ensure_ascii=False)
                    if item.key_body_parts is not None
                    else None,
                ),
            )

    def record(
        self,
        generations: Sequence[tuple[GenerationRow, Sequence[ItemRow]]] = (),
        attempts: Sequence[AttemptRow] = (),
        links: Sequence[tuple[str, Sequence[ItemRow]]] = (),
    ) -> None:
        """Write answers (with the texts they yield), attempts and cache-hit links at once.

        An answer's items are stored only when the answer itself is (a failure never replaces
        a usable answer, nor its texts). A link files more items under an answer already
        cached, e.g. ntu60 reusing the ntu120 answer for the same class name. The batching
        writer calls this per flush.
        """
        with self.write():
            for gen, items in generations:
                if self._store_generation(gen):
                    self._store_items(gen.request_key, items)
            for key, items in links:
                self._store_items(key, items)
            if attempts:
                self.db["attempts"].insert_all([_attempt_record(a) for a in attempts])
            answered = [gen.request_key for gen, _ in generations]
            for start in range(0, len(answered), LOOKUP_CHUNK):
                chunk = answered[start : start + LOOKUP_CHUNK]
                self.conn.execute(
                    f"DELETE FROM leases WHERE request_key IN ({','.join('?' * len(chunk))})", chunk
                )
            batches.mark_done(self, answered)  # an open batch no longer owes these

    def import_texts(
        self,
        records: Iterable[ImportRecord],
        label: str,
        run_id: str | None = None,
        prefix: str = IMPORT_PREFIX,
    ) -> int:
        """Store externally written texts under source ``import:<label>``, exactly like generations.

        A curated pack passes ``prefix="pack:"`` and ``NAME@VERSION`` as its label
        (crossglg.textgen.packs); its requests then have backend ``pack``.

        Each record becomes a request (backend ``import``, model = label, keyed on the text), an
        ``ok`` generation and the one item it holds, so the text bank, `show` and `export` treat
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
            parts = tuple(p.strip() for p in rec.key_body_parts if p.strip())
            if rec.kind == "global":
                parsed: dict[str, Any] = {"description": rec.text, "key_body_parts": list(rec.key_body_parts)}
            else:
                parsed = {rec.slot: rec.text}
            requests.append(RequestRow(key, prefix.rstrip(":"), label, [], params, rec.sample_index))
            text = rec.text.strip()
            item = ItemRow(
                rec.dataset,
                rec.class_id,
                rec.class_name,
                rec.kind,
                rec.slot,
                rec.sample_index,
                source,
                text,
                parts if rec.kind == "global" else None,
            )
            generations.append(
                (
                    GenerationRow(key, "ok", rec.text, parsed, mode="import", run_id=run_id),
                    [item] if text else [],
                )
            )
        with self.write():
            self.put_requests(requests, run_id=run_id)
            self.record(generations=generations)
        return len(generations)


def _attempt_record(attempt: AttemptRow) -> dict[str, Any]:
    """An attempt as stored: its error message valid text with every secret masked."""
    record = dict(vars(attempt))
    if attempt.error_message is not None:
        record["error_message"] = clean_message(attempt.error_message)
    return record


def open_cache(path: str | os.PathLike[str], readonly: bool = False) -> Cache:
    """Open (and, unless ``readonly``, create) a cache file.

    Read-only opening never creates a file: a missing path is a :class:`CacheError` that
    says which command fills it. A file that is not a crossglg cache, or a newer one, is a
    :class:`CacheError` and is left untouched.
    """
    path = Path(path)
    return Cache(path, connect(path, readonly), readonly)
