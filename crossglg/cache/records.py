"""Plain rows the rest of the toolkit hands to the cache; no SQL outside this package."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

STATUSES = ("ok", "failed", "refused", "truncated", "invalid_json", "incomplete", "degenerate")
# statuses whose parsed answer feeds `items` (crossglg.textgen.items decides which texts): an
# incomplete answer contributes the slots it has, a degenerate one those that pass the quality checks
USABLE_STATUSES = ("ok", "incomplete", "degenerate")
KINDS = ("global", "part", "joint")
MODES = ("online", "batch", "offline", "import")


def utc_stamp(moment: datetime) -> str:
    """The one format of every stored time: UTC, milliseconds, ``Z`` (``2026-01-31T12:00:00.000Z``).

    Stored times are compared as text, which orders them correctly only when all share it.
    """
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_now() -> str:
    return utc_stamp(datetime.now(timezone.utc))


@dataclass(frozen=True)
class RequestRow:
    """A resolved request, exactly as hashed by :func:`crossglg.cache.keys.request_key`.

    ``params`` must be the same mapping that went into the key (schema and seed included), so
    the stored row can be re-sent as is; ``schema`` is stored apart for easy inspection.
    """

    request_key: str
    backend: str
    model: str
    messages: Sequence[Mapping[str, Any]]
    params: Mapping[str, Any]
    sample_index: int = 0
    seed: int | None = None
    schema: Mapping[str, Any] | None = None
    prompt_id: str | None = None
    model_revision: str | None = None


@dataclass(frozen=True)
class ItemRow:
    """One text as ``items`` stores it: one slot of one class of one dataset, from one source.

    ``slot`` is "" for a global text and the part/joint name for a local one;
    ``key_body_parts`` goes with a global text only. The text toolkit makes these from an
    answer (crossglg.textgen.items); the cache stores them as handed.
    """

    dataset: str
    class_id: int
    class_name: str
    kind: str
    slot: str
    sample_index: int
    source: str
    text: str
    key_body_parts: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")


@dataclass
class GenerationRow:
    """One answer (or the final failure) for a request; ``raw_text`` is kept for every status."""

    request_key: str
    status: str
    raw_text: str | None = None
    parsed: Mapping[str, Any] | None = None
    finish_reason: str | None = None
    resolved_model: str | None = None
    system_fingerprint: str | None = None
    tokens_input: int | None = None
    tokens_cached: int | None = None
    tokens_output: int | None = None
    tokens_reasoning: int | None = None
    cost_usd: float | None = None
    mode: str = "online"
    latency_ms: float | None = None
    run_id: str | None = None
    raw_response: bytes | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")


@dataclass
class AttemptRow:
    """One try at a request, successful or not: the ledger behind `retry-failed` and rate tuning."""

    request_key: str
    run_id: str | None
    attempt_no: int
    started_at: str
    duration_ms: float | None = None
    http_status: int | None = None
    error_type: str | None = None
    error_message: str | None = None
    retry_after_s: float | None = None
    batch_id: str | None = None


@dataclass
class RunCounters:
    """What `finish_run` records; the runner accumulates these."""

    n_requests: int = 0
    n_cache_hits: int = 0
    n_failed: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    run_id: str | None = None  # set by ``Cache.run``: the run these counters belong to


@dataclass(frozen=True)
class ImportRecord:
    """One externally written description (hand-written, another tool): stored like a generation."""

    dataset: str
    class_id: int
    class_name: str
    kind: str
    text: str
    slot: str = ""
    sample_index: int = 0
    key_body_parts: tuple[str, ...] = field(default=())
