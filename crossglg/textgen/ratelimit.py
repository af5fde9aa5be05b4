"""Client-side request and token limits (``--rpm``, ``--tpm``): wait before sending, not after a 429.

A hosted API answers a client that outruns its limits with 429s; every one costs an HTTP
round trip, an attempt in the ledger and a global pause (docs/TEXTGEN.md, "Reliability: what happens when things go wrong"). Knowing the
account's limits, the runner can instead space its requests so they stay under them.

Each limit is a token bucket that refills continuously at ``limit / 60`` per second and holds
at most one second's worth: providers enforce per-minute limits over shorter windows
("60,000 a minute may be enforced as 1,000 a second"), so a full minute's burst at the start
would be answered with 429s. A request costing more than the bucket holds (one request at
under 60 RPM, or a long prompt under a small TPM) waits for a full bucket and leaves it in
debt, so the average rate is still the limit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

BURST_SECONDS = 1.0
# waits this short count as none: float rounding, and asyncio may wake a clock tick early
_SLACK = 1e-6


@dataclass
class _Bucket:
    per_second: float
    capacity: float
    level: float  # available at `stamp`; negative = debt from an oversized request
    stamp: float  # clock time `level` refers to; in the future while held after a 429

    @classmethod
    def per_minute(cls, limit: int, now: float) -> _Bucket:
        per_second = limit / 60.0
        capacity = per_second * BURST_SECONDS
        return cls(per_second, capacity, capacity, now)

    def _level_at(self, t: float) -> float:
        return min(self.capacity, self.level + self.per_second * max(0.0, t - self.stamp))

    def wait(self, cost: float, now: float) -> float:
        """Seconds until ``cost`` may be taken (a cost above capacity needs a full bucket)."""
        start = max(now, self.stamp)
        missing = min(cost, self.capacity) - self._level_at(start)
        return start - now + max(0.0, missing) / self.per_second

    def take(self, cost: float, now: float) -> None:
        self.level, self.stamp = self._level_at(now) - cost, now

    def hold(self, until: float, now: float) -> None:
        """Empty the bucket and refill only from ``until``: no burst saved up during a pause."""
        self.level, self.stamp = min(0.0, self._level_at(now)), max(until, now)


class RateLimiter:
    """Requests-per-minute and tokens-per-minute buckets; a limit of 0 is off.

    ``clock`` and ``sleep`` are injectable so tests can check the exact waits without
    waiting; they default to the monotonic clock and ``asyncio.sleep``.
    """

    def __init__(
        self,
        rpm: int = 0,
        tpm: int = 0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rpm < 0 or tpm < 0:
            raise ValueError(f"rate limits must be >= 0 (0 = off), got rpm={rpm}, tpm={tpm}")
        now = clock()
        self._requests = _Bucket.per_minute(rpm, now) if rpm else None
        self._tokens = _Bucket.per_minute(tpm, now) if tpm else None
        self._clock = clock
        self._sleep = sleep
        # one waiter at a time, first come first served: a big request is not starved by small ones
        self._lock = asyncio.Lock()

    def _charges(self, tokens: int) -> list[tuple[_Bucket, float]]:
        pairs = ((self._requests, 1.0), (self._tokens, float(tokens)))
        return [(bucket, cost) for bucket, cost in pairs if bucket is not None]

    async def acquire(self, tokens: int) -> None:
        """Wait until one request of about ``tokens`` tokens fits both limits, then charge it."""
        charges = self._charges(tokens)
        if not charges:
            return
        async with self._lock:
            # re-check after every sleep: a 429 may have put the buckets on hold meanwhile
            while (delay := max(b.wait(c, self._clock()) for b, c in charges)) > _SLACK:
                await self._sleep(delay)
            now = self._clock()
            for bucket, cost in charges:
                bucket.take(cost, now)

    def hold(self, seconds: float) -> None:
        """The server said 429: nothing more until ``seconds`` from now, then start from empty."""
        now = self._clock()
        for bucket, _ in self._charges(0):
            bucket.hold(now + seconds, now)
