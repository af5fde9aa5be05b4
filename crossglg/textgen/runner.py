"""The asyncio runner: send what the cache lacks, retry what may succeed, record everything.

Guarantees a researcher relies on: a failing request never aborts the run; a rerun sends
only missing or failed requests; an answer, once received, is committed within a second
(so a crash loses at most that), and invalid answers are stored with their status and raw
text instead of being accepted; a 429 pauses new dispatch for everyone while requests
already in flight finish; a request another run is answering right now is not sent again
(it waits for that run's answer); an answer far longer than ``max_tokens`` allows is cut
and stored ``truncated``; a backend error of any kind becomes a retry or a stored failure,
except a refused parameter, which stops the run once and stores nothing for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from crossglg.cache import BatchWriter, leases, utc_now
from crossglg.cache.errors import CacheWriteError
from crossglg.cache.records import USABLE_STATUSES, AttemptRow, GenerationRow
from crossglg.errors import UserError
from crossglg.textgen.backends import Backend, ChatRequest, Completion, RequestFailed, RetryableError, StopRun
from crossglg.textgen.backends.base import InvalidRequest
from crossglg.textgen.items import answer_items, cached_items
from crossglg.textgen.parsing import Parsed, parse_answer
from crossglg.textgen.plan import PlannedRequest, estimate_input_tokens
from crossglg.textgen.ratelimit import RateLimiter

if TYPE_CHECKING:
    from crossglg.textgen.prices import ModelPrice

REPAIRABLE = ("truncated", "invalid_json", "incomplete", "degenerate")
# No tokenizer emits tokens this long on average: an answer beyond max_tokens × this is
# not what was asked for (one server sent 12 MB for max_tokens 800) and is cut to it.
MAX_CHARS_PER_TOKEN = 32
# how long a request another run holds is left alone before looking again (doubles to the cap)
LEASE_POLL_S = (0.2, 5.0)


def _mode(backend_kind: str, from_batch: bool) -> str:
    if from_batch:
        return "batch"
    return "offline" if backend_kind in ("llamacpp", "vllm") else "online"


def max_answer_chars(max_tokens: int) -> int:
    return max(1, max_tokens) * MAX_CHARS_PER_TOKEN


@dataclass
class RunSettings:
    """Transport and patience: none of this is part of a cache key."""

    concurrency: int = 16
    timeout: float = 120.0
    max_attempts: int = 6
    max_elapsed: float = 600.0
    wait_max: float = 60.0
    wait_multiplier: float = 1.0
    retry_after_cap: float = 60.0
    cooldown_429: float = 10.0
    repairs: int = 2
    rpm: int = 0  # client-side requests per minute; 0 = no limit
    tpm: int = 0  # client-side tokens per minute (prompt estimate + max_tokens); 0 = no limit
    disk_full_wait: float = 300.0  # seconds to wait for space before received answers are given up
    price: ModelPrice | None = None  # dollars per token for the cost of each answer; None = unknown


@dataclass
class RunSummary:
    planned: int = 0
    cached: int = 0
    shared: int = 0  # answered meanwhile by another run on the same cache, so not sent here
    sent: int = 0  # requests processed this run (each may have taken several HTTP attempts)
    http_attempts: int = 0
    failed: int = 0
    not_sent: int = 0  # left over after a stop (quota) or an interrupt
    in_batch: int = 0  # owed by a submitted OpenAI batch, so not sent live (docs/TEXTGEN.md)
    tokens_input: int = 0
    tokens_output: int = 0
    cost_usd: float | None = None  # None while no answer could be priced (docs/TEXTGEN.md, Cost)
    tokens_reasoning: int = 0
    elapsed_s: float = 0.0
    rejection: InvalidRequest | None = None  # the parameter the server refuses, when it stopped the run
    statuses: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.not_sent == 0

    def as_dict(self) -> dict[str, object]:
        return {
            "planned": self.planned,
            "cached": self.cached,
            "shared": self.shared,
            "sent": self.sent,
            "http_attempts": self.http_attempts,
            "failed": self.failed,
            "not_sent": self.not_sent,
            "in_batch": self.in_batch,
            "tokens": {
                "input": self.tokens_input,
                "output": self.tokens_output,
                "reasoning": self.tokens_reasoning,
            },
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 6),
            "elapsed_s": round(self.elapsed_s, 3),
            "statuses": dict(self.statuses),
            "errors": self.errors[:20],
        }


class Runner:
    """One run over a list of planned requests that are not (usably) cached."""

    def __init__(
        self,
        backend: Backend,
        writer: BatchWriter,
        settings: RunSettings,
        run_id: str | None = None,
        on_done: Callable[[PlannedRequest, str], None] | None = None,
        force: bool = False,
    ) -> None:
        self.backend = backend
        self.writer = writer
        self.settings = settings
        self.run_id = run_id
        self.on_done = on_done
        self.force = force
        self.summary = RunSummary()
        self._resume_at = 0.0
        self._stopped: str | None = None
        self._limits = RateLimiter(settings.rpm, settings.tpm)
        #: first answers already received another way (a batch's output file): key → answer.
        #: They go through the same validation and repair turns; only the first call is skipped.
        self.prefilled: dict[str, Completion] = {}

    def stop(self, reason: str) -> None:
        """Send nothing new (requests in flight finish and are recorded); the first reason wins."""
        self._stopped = self._stopped or reason

    # -- global dispatch gate ------------------------------------------------------------
    def _pause(self, seconds: float) -> None:
        """A 429 holds back every *new* request; requests in flight go on and retry on their own.

        The rate limits restart empty after the pause, so the requests that waited for it do
        not all leave at once and meet another 429.
        """
        loop = asyncio.get_running_loop()
        self._resume_at = max(self._resume_at, loop.time() + seconds)
        self._limits.hold(seconds)

    async def _gate(self) -> None:
        loop = asyncio.get_running_loop()
        while (delay := self._resume_at - loop.time()) > 0:
            await asyncio.sleep(delay)

    # -- one HTTP call with retries --------------------------------------------------------
    def _wait(self, state: RetryCallState) -> float:
        """The server's Retry-After when it gave one (capped), else full-jitter exponential backoff."""
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableError) and exc.retry_after is not None:
            return min(exc.retry_after, self.settings.retry_after_cap)
        fallback = wait_random_exponential(
            multiplier=self.settings.wait_multiplier, max=self.settings.wait_max
        )
        return fallback(state)

    def _attempt_row(
        self, planned: PlannedRequest, no: int, started: str, t0: float, err: Exception | None
    ) -> AttemptRow:
        return AttemptRow(
            request_key=planned.row.request_key,
            run_id=self.run_id,
            attempt_no=no,
            started_at=started,
            duration_ms=(time.perf_counter() - t0) * 1000.0,
            http_status=getattr(err, "http_status", None) if err else 200,
            error_type=type(err).__name__ if err else None,
            error_message=str(err)[:500] if err else None,  # the cache masks secrets again
            retry_after_s=getattr(err, "retry_after", None) if err else None,
        )

    async def _call(
        self, planned: PlannedRequest, chat: ChatRequest, attempt_base: int
    ) -> tuple[Completion, int]:
        """Send one request until it succeeds or the retry policy gives up; log every attempt."""
        s = self.settings
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(RetryableError),
            stop=stop_after_attempt(s.max_attempts) | stop_after_delay(s.max_elapsed),
            wait=self._wait,
            reraise=True,
        )
        # what a provider charges against its token limit: the prompt plus the whole max_tokens
        tokens = estimate_input_tokens(chat.messages) + chat.max_tokens
        n = 0
        async for attempt in retrying:
            with attempt:
                await self._limits.acquire(tokens)  # every attempt counts: retries and repairs too
                n += 1
                self.summary.http_attempts += 1
                started, t0 = utc_now(), time.perf_counter()
                try:
                    completion = await self._complete(chat)
                except (RetryableError, RequestFailed, StopRun, InvalidRequest) as err:
                    self.writer.add_attempt(self._attempt_row(planned, attempt_base + n, started, t0, err))
                    if isinstance(err, RetryableError) and err.rate_limited:
                        wait = err.retry_after if err.retry_after is not None else s.cooldown_429
                        self._pause(min(wait, s.retry_after_cap))
                    raise
                self.writer.add_attempt(self._attempt_row(planned, attempt_base + n, started, t0, None))
                return completion, n
        raise AssertionError("unreachable: tenacity either returns or reraises")

    async def _complete(self, chat: ChatRequest) -> Completion:
        """The backend's answer; an error outside the backend contract fails this request only."""
        try:
            return await self.backend.complete(chat, self.settings.timeout)
        except (RetryableError, RequestFailed, StopRun, InvalidRequest, UserError):
            raise
        except Exception as err:
            raise RequestFailed(f"{self.backend.kind} backend error: {type(err).__name__}: {err}") from err

    # -- one planned request: call, validate, repair -----------------------------------------
    def _repair(
        self, chat: ChatRequest, completion: Completion, parsed: Parsed, round_no: int
    ) -> ChatRequest:
        """Show the model its unusable answer and what is wrong; a fresh seed avoids the same output."""
        problems = "; ".join(parsed.problems) or parsed.status
        messages = [
            *chat.messages,
            {"role": "assistant", "content": completion.text or ""},
            {
                "role": "user",
                "content": f"That answer is not usable ({problems}). Reply again with only the complete "
                "JSON object, with every field filled.",
            },
        ]
        return replace(chat, messages=messages, seed=(chat.seed + round_no) & 0x7FFFFFFF)

    async def _one(self, planned: PlannedRequest) -> None:
        await self._gate()
        if self._stopped:
            self.summary.not_sent += 1
            return
        chat, attempts = planned.chat, 0
        last: Completion | None = None  # the latest answer, kept even if a repair then fails
        tokens_in = tokens_out = tokens_reasoning = 0
        parsed = Parsed("failed")
        t0 = time.perf_counter()
        error: Exception | None = None
        first = self.prefilled.pop(planned.row.request_key, None)
        price, cost = self.settings.price, 0.0
        for round_no in range(self.settings.repairs + 1):
            try:
                if round_no == 0 and first is not None:
                    last, n = first, 0
                else:
                    last, n = await self._call(planned, chat, attempts)
            except StopRun as err:
                self.stop(str(err))
                error = err
                break
            except InvalidRequest as err:  # every request would be refused alike: no failure stored
                self.summary.rejection = self.summary.rejection or err
                self.stop(str(err))
                if last is None:
                    self.summary.not_sent += 1
                    return
                break  # a repair turn was refused: keep the answer already paid for
            except (RetryableError, RequestFailed) as err:
                error = err
                break
            attempts += n
            tokens_in += last.input_tokens
            tokens_out += last.output_tokens
            tokens_reasoning += last.reasoning_tokens
            if price is not None:  # a batch's own answer at batch prices, repair turns live
                batch = round_no == 0 and first is not None
                cost += price.cost(last.input_tokens, last.cached_tokens, last.output_tokens, batch)
            limit = max_answer_chars(chat.max_tokens)
            if last.text is not None and len(last.text) > limit:
                problem = (
                    f"the server sent {len(last.text)} characters for max_tokens {chat.max_tokens}; "
                    f"kept the first {limit}"
                )
                last = replace(last, text=last.text[:limit], finish_reason="length")
                parsed = Parsed("truncated", problems=[problem])
            else:
                parsed = parse_answer(
                    last.text,
                    planned.answer_kind,
                    planned.slots,
                    last.finish_reason,
                    last.refusal,
                    planned.targets[0].class_name,
                )
            accepted = parsed.status == "degenerate" and planned.targets[0].accept_degenerate
            if parsed.status not in REPAIRABLE or round_no == self.settings.repairs or accepted:
                break
            chat = self._repair(chat, last, parsed, round_no + 1)
        status = "failed" if error is not None else parsed.status
        c = last or Completion(text=None, finish_reason=None)
        gen = GenerationRow(
            request_key=planned.row.request_key,
            status=status,
            raw_text=c.text,
            parsed=parsed.answer if status in USABLE_STATUSES else None,
            finish_reason=c.finish_reason,
            resolved_model=c.resolved_model,
            system_fingerprint=c.system_fingerprint,
            tokens_input=tokens_in,
            tokens_cached=c.cached_tokens,
            tokens_output=tokens_out,
            tokens_reasoning=tokens_reasoning,
            cost_usd=cost if price is not None and last is not None else None,
            mode=_mode(self.backend.kind, first is not None),
            latency_ms=(time.perf_counter() - t0) * 1000.0,
            run_id=self.run_id,
        )
        self.writer.add_generation(gen, answer_items(gen.status, gen.parsed, planned.targets))
        self.summary.sent += 1
        self.summary.tokens_input += tokens_in
        self.summary.tokens_output += tokens_out
        self.summary.tokens_reasoning += tokens_reasoning
        if price is not None:
            self.summary.cost_usd = (self.summary.cost_usd or 0.0) + cost
        self.summary.statuses[status] += 1
        if status == "degenerate" and planned.targets[0].accept_degenerate:
            pass  # asked for: stored as degenerate, used whole, not a failure of the run
        elif status != "ok":
            self.summary.failed += 1
            why = str(error) if error else "; ".join(parsed.problems)
            self.summary.errors.append(f"{planned.label}: {status}: {why}")
        if self.on_done:
            self.on_done(planned, status)

    def _claim(self, planned: PlannedRequest) -> str:
        """``mine``, ``answered``, ``busy`` (see :func:`crossglg.cache.leases.claim`) or ``stopped``."""
        if self._stopped:
            return "stopped"
        if self.run_id is None:
            return "mine"
        try:
            return leases.claim(
                self.writer.cache, planned.row.request_key, self.run_id, skip_answered=not self.force
            )
        except CacheWriteError as err:
            if not err.may_recover:
                raise
            self.stop(str(err))
            return "stopped"

    async def run(self, todo: Sequence[PlannedRequest]) -> RunSummary:
        t0 = time.perf_counter()
        limit = min(self.settings.concurrency, self.backend.max_concurrency or self.settings.concurrency)
        if self.backend.in_process_batches:  # it batches them itself (docs/TEXTGEN.md, "vLLM in-process")
            limit = len(todo)
        sem = asyncio.Semaphore(max(1, limit))

        async def bounded(p: PlannedRequest) -> None:
            poll = LEASE_POLL_S[0]
            while True:
                async with sem:
                    state = self._claim(p)
                    if state == "mine":
                        await self._one(p)
                        return
                if state == "answered":  # by another run since this one started
                    key = p.row.request_key
                    self.writer.link(key, cached_items(self.writer.cache, key, p.targets))
                    self.summary.shared += 1
                    if self.on_done:
                        self.on_done(p, "ok")
                    return
                if state == "stopped":
                    self.summary.not_sent += 1
                    return
                await asyncio.sleep(poll)  # "busy": another live run is answering it; free the slot
                poll = min(2 * poll, LEASE_POLL_S[1])

        # commit on time even when no answer arrives: a hung server must not hold answers hostage
        flusher = asyncio.create_task(self.writer.autoflush(0.25))
        try:
            await asyncio.gather(*(bounded(p) for p in todo))
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            await self.backend.aclose()
        if self._stopped:
            self.summary.errors.insert(0, f"run stopped: {self._stopped}")
        self.summary.elapsed_s = time.perf_counter() - t0
        return self.summary
