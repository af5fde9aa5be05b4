"""The text cache: one SQLite file with every request, answer, failure, text and embedding.

This package is the only code in crossglg that touches SQLite. The contract for callers:

    from crossglg.cache import open_cache, request_key, sample_seed, BatchWriter, RequestRow, GenerationRow, ...

    cache = open_cache("cache.db")                       # creates; CacheError on a foreign/newer file
    run_id = cache.start_run("generate", {"dataset": "ntu120", ...})   # API keys are scrubbed
    pid = cache.put_prompt("global", template_text, "global@1a2b3c")
    key = request_key("openai:gpt-4o", messages, params, sample_index, salt)  # params incl. schema, seed
    cache.put_requests([RequestRow(key, "openai", "gpt-4o", messages, params, i, seed, schema, pid)], run_id)
    done = cache.lookup(keys)                            # {key: status} for keys already answered
    with BatchWriter(cache, max_rows=200, max_seconds=1.0) as w:   # BEGIN IMMEDIATE per flush
        w.add_generation(GenerationRow(key, "ok", raw, parsed, ...), [ItemRow(...)])  # the texts it yields
        w.add_attempt(AttemptRow(key, run_id, 1, started_at, ...))
        w.link(hit_key, [ItemRow(...)])                  # a cache hit still fills `items`
    cache.finish_run(run_id, "ok", RunCounters(...))

    ro = open_cache("cache.db", readonly=True)           # never creates a file
    ro.show("ntu120", 1); ro.export_rows(dataset=...); ro.stats(); ro.sources("ntu120")
    cache.import_texts(read_import_jsonl(path), label="handwritten", run_id=run_id)
    cache.invalidate(model="openai:gpt-4o")              # or prompt=..., since=..., status=...
    with cache.write(): ...                              # BEGIN IMMEDIATE for other modules' writes
    leases.claim(cache, key, run_id); vectors.bank_rows(cache, ...)   # side ledgers: module functions

The cache stores the rows it is handed and never reads an answer's fields: which texts an
answer yields is decided by crossglg.textgen.items. Each operation has one way in: a method
of ``Cache`` (the file, runs, prompts, requests, answers, texts and their read paths), or a
function of its module for the side ledgers (``leases``, ``endpoints``, ``batches``,
``vectors``), or ``BatchWriter``. Key recipe, schema and inspection: docs/CACHE.md.
"""

from __future__ import annotations

from crossglg.cache.errors import CacheError
from crossglg.cache.importing import read_import_jsonl
from crossglg.cache.keys import (
    KEY_RECIPE_VERSION,
    canonical_json,
    request_key,
    request_payload,
    sample_seed,
    text_sha256,
)
from crossglg.cache.migrations import SCHEMA_VERSION
from crossglg.cache.records import (
    KINDS,
    STATUSES,
    USABLE_STATUSES,
    AttemptRow,
    GenerationRow,
    ImportRecord,
    ItemRow,
    RequestRow,
    RunCounters,
    utc_now,
)
from crossglg.cache.store import Cache, open_cache
from crossglg.cache.writer import BatchWriter

__all__ = [
    "KEY_RECIPE_VERSION",
    "KINDS",
    "SCHEMA_VERSION",
    "STATUSES",
    "USABLE_STATUSES",
    "AttemptRow",
    "BatchWriter",
    "Cache",
    "CacheError",
    "GenerationRow",
    "ImportRecord",
    "ItemRow",
    "RequestRow",
    "RunCounters",
    "canonical_json",
    "open_cache",
    "read_import_jsonl",
    "request_key",
    "request_payload",
    "sample_seed",
    "text_sha256",
    "utc_now",
]
