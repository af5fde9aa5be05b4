"""Batching writer: many small results, few transactions.

One commit per answer caps out near 5k rows/s under WAL and takes the write lock thousands
of times; one commit per 200 rows or per second reaches ~30k rows/s and leaves the lock
free for other processes most of the time (docs/CACHE.md, "What the cache guarantees"). The price is bounded: a crash
loses at most the rows added since the last flush, and those requests are simply re-sent.
Use ``max_rows=1`` where every answer is expensive and slow (the embedded model).

A full disk does not lose what was received: a flush the file system refuses keeps its rows
in memory and is tried again, and :meth:`BatchWriter.drain` waits a while for space before
giving up (docs/CACHE.md, "What the cache guarantees").
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from crossglg.cache.errors import CacheWriteError
from crossglg.cache.leases import HEARTBEAT_S, heartbeat
from crossglg.cache.records import AttemptRow, GenerationRow, ItemRow

if TYPE_CHECKING:
    from crossglg.cache.store import Cache


class BatchWriter:
    """Collects generations, attempts and cache-hit links; commits every N rows or T seconds.

    Not thread-safe by itself: use it from one thread (the event loop). As a context
    manager it flushes on exit, also when the block raises, so answers already received
    survive an error elsewhere in the run.
    """

    def __init__(
        self, cache: Cache, max_rows: int = 200, max_seconds: float = 1.0, run_id: str | None = None
    ) -> None:
        if max_rows < 1:
            raise ValueError("max_rows must be >= 1")
        self.cache = cache
        self.max_rows = max_rows
        self.max_seconds = max_seconds
        self.run_id = run_id  # renewed by autoflush's heartbeat, so other runs see this one alive
        #: the write error that holds rows back (a full disk), None while writes succeed
        self.blocked: CacheWriteError | None = None
        #: called once when a flush is first refused, e.g. to stop sending requests
        self.on_blocked: Callable[[CacheWriteError], None] | None = None
        self._last_beat = time.monotonic()
        self._generations: list[tuple[GenerationRow, Sequence[ItemRow]]] = []
        self._attempts: list[AttemptRow] = []
        self._links: list[tuple[str, Sequence[ItemRow]]] = []
        self._last_flush = time.monotonic()
        self.rows_written = 0
        self.flushes = 0

    @property
    def pending(self) -> int:
        return len(self._generations) + len(self._attempts) + len(self._links)

    def add_generation(self, gen: GenerationRow, items: Sequence[ItemRow] = ()) -> None:
        """Queue an answer and the texts it yields (stored only if the answer is)."""
        self._generations.append((gen, tuple(items)))
        self.maybe_flush()

    def add_attempt(self, attempt: AttemptRow) -> None:
        self._attempts.append(attempt)
        self.maybe_flush()

    def link(self, request_key: str, items: Sequence[ItemRow]) -> None:
        """File more texts under an already cached answer (a cache hit still fills `items`)."""
        self._links.append((request_key, tuple(items)))
        self.maybe_flush()

    def due(self) -> bool:
        return self.pending >= self.max_rows or (
            self.pending > 0 and time.monotonic() - self._last_flush >= self.max_seconds
        )

    def maybe_flush(self) -> int:
        return self.try_flush() if self.due() else 0

    def try_flush(self) -> int:
        """Flush now; a write the disk refuses keeps the rows for the next try instead of raising."""
        try:
            return self.flush()
        except CacheWriteError as err:
            if not err.may_recover:
                raise
            first = self.blocked is None
            self.blocked = err
            self._last_flush = time.monotonic()
            if first and self.on_blocked is not None:
                self.on_blocked(err)
            return 0

    def drain(self, wait_s: float = 0.0, interval: float = 1.0) -> None:
        """Flush everything, retrying a refused write for up to ``wait_s`` (space may come back).

        Raises the last :class:`CacheWriteError` when time runs out; the rows stay pending.
        """
        deadline = time.monotonic() + wait_s
        while True:
            try:
                self.flush()
                return
            except CacheWriteError as err:
                if not err.may_recover or time.monotonic() >= deadline:
                    raise
                self.blocked = err
            time.sleep(min(interval, max(0.0, deadline - time.monotonic())))

    def beat(self) -> None:
        """Renew the run's heartbeat and leases every ``HEARTBEAT_S`` (skipped while writes fail)."""
        if self.run_id is None or time.monotonic() - self._last_beat < HEARTBEAT_S:
            return
        self._last_beat = time.monotonic()
        try:
            heartbeat(self.cache, self.run_id)
        except CacheWriteError as err:
            if not err.may_recover:
                raise

    def flush(self) -> int:
        """Commit everything pending in one ``BEGIN IMMEDIATE`` transaction; returns rows written."""
        n = self.pending
        if n:
            self.cache.record(self._generations, self._attempts, self._links)
            self._generations, self._attempts, self._links = [], [], []
            self.rows_written += n
            self.flushes += 1
            self.blocked = None
        self._last_flush = time.monotonic()
        return n

    async def autoflush(self, interval: float | None = None) -> None:
        """Flush every ``interval`` (default ``max_seconds``) until cancelled; run it as a task.

        Without it, rows added just before a quiet spell would wait for the next add. It also
        keeps the run's heartbeat (and so its leases) alive.
        """
        period = self.max_seconds if interval is None else interval
        try:
            while True:
                await asyncio.sleep(period)
                self.maybe_flush()
                self.beat()
        except asyncio.CancelledError:
            self.try_flush()
            raise

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()
