"""`crossglg-text generate` without the CLI: plan, look up, dry-run or send, record the run."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crossglg.cache import BatchWriter, Cache, RunCounters, batches, open_cache
from crossglg.cache.errors import CacheWriteError
from crossglg.errors import UserError
from crossglg.textgen.backends import Backend
from crossglg.textgen.items import cached_items
from crossglg.textgen.plan import Plan, PlannedRequest, existing_answers, split_todo
from crossglg.textgen.runner import Runner, RunSettings, RunSummary

if TYPE_CHECKING:
    from crossglg.textgen.prices import ModelPrice


@dataclass
class DryRun:
    """What a run would do, computed without network and without creating the cache file."""

    planned: int
    cached: int
    to_send: int
    est_input_tokens: int
    est_output_tokens: int
    cached_by_status: dict[str, int]
    source: str
    est_cost_usd: float | None = None  # None: the model has no known price
    in_batch: int = 0  # owed by a submitted OpenAI batch: not sent again
    price_note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": True,
            "source": self.source,
            "planned": self.planned,
            "cached": self.cached,
            "to_send": self.to_send,
            "estimated_tokens": {"input": self.est_input_tokens, "output": self.est_output_tokens},
            "estimated_cost_usd": None if self.est_cost_usd is None else round(self.est_cost_usd, 6),
            "price": self.price_note,
            "cached_by_status": self.cached_by_status,
            "in_batch": self.in_batch,
        }


def dry_run(
    plan: Plan, cache_path: Path, force: bool = False, price: ModelPrice | None = None, batch: bool = False
) -> DryRun:
    """What would be sent and, with a known ``price``, what it would cost (batch prices with ``batch``).

    The estimate prices every input token as uncached: the provider decides what it caches.
    """
    from crossglg.textgen.prices import describe_price

    found, owed = existing_answers(plan, cache_path)
    hits, todo = split_todo(plan, found, force)
    todo = [p for p in todo if p.row.request_key not in owed]  # paid for already, in a batch
    est_in = sum(p.est_input_tokens for p in todo)
    est_out = sum(p.est_output_tokens for p in todo)
    return DryRun(
        planned=len(plan.requests),
        cached=len(hits),
        to_send=len(todo),
        est_input_tokens=est_in,
        est_output_tokens=est_out,
        cached_by_status=dict(Counter(found.values())),
        source=plan.source,
        in_batch=len(owed),
        est_cost_usd=None if price is None else price.cost(est_in, 0, est_out, batch),
        price_note=describe_price(plan.source, price) + (" (Batch API prices)" if batch and price else ""),
    )


def generate(
    plan: Plan,
    backend: Backend,
    cache_path: Path,
    settings: RunSettings,
    run_args: dict[str, Any],
    force: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_done: Callable[[PlannedRequest, str], None] | None = None,
) -> RunSummary:
    """Send what the cache lacks and record the run; a cached rerun touches no backend at all.

    Whatever ends the run (an error, Ctrl-C, a full disk), the answers received are stored
    before the run row is closed; when the disk stays full for ``settings.disk_full_wait``
    seconds the error says how many could not be (docs/CACHE.md, "What the cache guarantees").
    """
    with open_cache(cache_path) as cache:
        run_id = cache.start_run("generate", run_args)
        summary = RunSummary(planned=len(plan.requests))
        status = "interrupted"  # what Ctrl-C leaves
        # the embedded model is slow per answer: commit each one; servers: batch (docs/CACHE.md, "What the cache guarantees")
        writer = BatchWriter(
            cache, max_rows=1 if backend.max_concurrency == 1 else 200, max_seconds=1.0, run_id=run_id
        )
        try:
            for tpl in plan.templates:
                cache.put_prompt(tpl.name, tpl.text, tpl.version_label)
            cache.put_requests((p.row for p in plan.requests), run_id)
            hits, todo = split_todo(plan, cache.lookup(plan.keys), force)
            summary.cached = len(hits)
            owed = batches.pending_keys(cache, [p.row.request_key for p in todo])
            if owed:  # paid for in a submitted batch: `crossglg-text batch collect` stores them
                todo = [p for p in todo if p.row.request_key not in owed]
                summary.in_batch = len(owed)
            for p in hits:
                # e.g. ntu60 reusing ntu120's answers
                writer.link(p.row.request_key, cached_items(cache, p.row.request_key, p.targets))
            if backend.low_quality_notice:  # also on cached reruns: the texts are still its texts
                print(backend.low_quality_notice, file=sys.stderr)
            if todo:
                backend.prepare()
                if on_start:
                    on_start(len(todo))
                runner = Runner(backend, writer, settings, run_id=run_id, on_done=on_done, force=force)
                runner.summary = summary
                writer.on_blocked = lambda err: _hold_answers(err, writer, runner, settings.disk_full_wait)
                summary = asyncio.run(runner.run(todo))
            status = "ok" if summary.ok else "failed"
        except Exception:
            status = "failed"  # e.g. a missing API key
            raise
        finally:
            _close_run(cache, writer, run_id, status, summary, settings.disk_full_wait)
    if summary.rejection is not None:  # said once, as a user error: no request can succeed as sent
        from crossglg.textgen.negotiate import refusal_line

        raise UserError(refusal_line(summary.rejection, backend))
    return summary


def _hold_answers(err: CacheWriteError, writer: BatchWriter, runner: Runner, wait_s: float) -> None:
    """The first refused write: stop paying for answers that cannot be stored, keep those received."""
    runner.stop(f"{err}; no new requests sent")
    print(
        f"warning: {err}\n  {writer.pending} received answer rows are held in memory and stored as soon as "
        f"space is back (waiting up to {wait_s:g} s at the end of the run; Ctrl-C gives up); no new "
        "requests are sent",
        file=sys.stderr,
    )


def _close_run(
    cache: Cache, writer: BatchWriter, run_id: str, status: str, summary: RunSummary, wait_s: float
) -> None:
    """Store what was received, then close the run row; a full disk is waited for, then reported."""
    counters = RunCounters(
        n_requests=summary.sent,
        n_cache_hits=summary.cached + summary.shared,
        n_failed=summary.failed + summary.not_sent,
        tokens=summary.tokens_input + summary.tokens_output,
        cost_usd=summary.cost_usd or 0.0,
    )
    try:
        writer.drain(wait_s)
    except CacheWriteError as err:
        lost = writer.pending
        with contextlib.suppress(CacheWriteError):
            cache.finish_run(run_id, "failed", counters)
        raise CacheWriteError(
            f"{err}; {lost} received answer rows could not be stored in {wait_s:g} s and will be asked "
            "for again by the next run"
        ) from None
    try:
        cache.finish_run(run_id, "failed" if writer.blocked else status, counters)
    except CacheWriteError as err:
        raise CacheWriteError(
            f"{err}; every received answer is stored, but the run could not be closed "
            "(the next run marks it interrupted)"
        ) from None
