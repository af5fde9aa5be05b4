"""Client-side --rpm/--tpm: the bucket's exact waits on a fake clock, and the runner using it.

No test here measures time: the bucket's clock and sleep are injected, and the runner tests
check what it asks of the limiter, not how long anything took (speed belongs in bench/).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json

import pytest

from crossglg.textgen.plan import estimate_input_tokens
from crossglg.textgen.ratelimit import RateLimiter
from crossglg.textgen.testing_server import Reply, ScriptedServer

from .conftest import gen_args, invoke


class FakeTime:
    """A clock that moves only when slept on; records every sleep."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def limiter(self, rpm: int = 0, tpm: int = 0) -> RateLimiter:
        return RateLimiter(rpm, tpm, clock=self.clock, sleep=self.sleep)


def acquire_all(limiter: RateLimiter, *tokens: int) -> None:
    async def run() -> None:
        for n in tokens:
            await limiter.acquire(n)

    asyncio.run(run())


def test_rpm_spaces_requests_evenly_after_one_second_burst():
    t = FakeTime()
    acquire_all(t.limiter(rpm=120), *[0] * 5)  # 2 per second, the bucket holds 2
    assert t.sleeps == pytest.approx([0.5, 0.5, 0.5])


def test_rpm_below_one_a_second_sends_the_first_at_once_then_waits():
    t = FakeTime()
    acquire_all(t.limiter(rpm=3), 0, 0, 0)
    assert t.sleeps == pytest.approx([20.0, 20.0])


def test_oversized_request_waits_for_a_full_bucket_and_leaves_debt():
    t = FakeTime()
    acquire_all(t.limiter(tpm=6000), 300, 300, 50)  # 100 tokens/s, holds 100
    # 1st: full bucket → 100 - 300 = -200; 2nd: needs 100 → 3 s; 3rd: 50 after -200 → 2.5 s
    assert t.sleeps == pytest.approx([3.0, 2.5])


def test_both_limits_wait_for_the_slower():
    t = FakeTime()
    acquire_all(t.limiter(rpm=60, tpm=600), 5, 5, 30, 5)  # 1 request/s; 10 tokens/s, holds 10
    # 2nd, 3rd: the request limit waits 1 s each; the 30 tokens of the 3rd leave -20, so the
    # 4th waits for the token limit: 25 tokens at 10/s
    assert t.sleeps == pytest.approx([1.0, 1.0, 2.5])


def test_zero_is_off():
    t = FakeTime()
    acquire_all(t.limiter(), *[10**6] * 50)
    assert t.sleeps == []


def test_negative_limits_are_refused():
    with pytest.raises(ValueError, match="rate limits must be >= 0"):
        RateLimiter(rpm=-1)


def test_a_429_hold_empties_the_bucket_and_refills_only_after_the_pause():
    t = FakeTime()
    limiter = t.limiter(rpm=600)  # 10 per second, holds 10: the first ten go at once
    acquire_all(limiter, *[0] * 10)
    assert t.sleeps == []
    limiter.hold(5.0)
    acquire_all(limiter, 0, 0)
    # no burst saved up during the pause: 5 s, then one refill step, then the steady rate
    assert t.sleeps == pytest.approx([5.1, 0.1])


def test_hold_while_waiting_is_seen_after_the_sleep():
    t = FakeTime()

    async def sleep_then_429(seconds: float) -> None:
        await t.sleep(seconds)
        if len(t.sleeps) == 1:
            limiter.hold(3.0)  # a 429 arrives while this request waits its turn

    limiter = RateLimiter(rpm=60, clock=t.clock, sleep=sleep_then_429)
    acquire_all(limiter, 0, 0)
    assert t.sleeps == pytest.approx([1.0, 4.0])


def test_concurrent_waiters_are_served_first_come_first_served():
    t = FakeTime()
    limiter = t.limiter(rpm=60)
    order: list[int] = []

    async def one(i: int) -> None:
        await limiter.acquire(0)
        order.append(i)

    async def run() -> None:
        await asyncio.gather(*(one(i) for i in range(4)))

    asyncio.run(run())
    assert order == [0, 1, 2, 3] and t.sleeps == pytest.approx([1.0, 1.0, 1.0])


class Spy:
    """Records what the runner asks of the limiter; passes every call through."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.acquired: list[int] = []
        self.holds: list[float] = []
        acquire, hold = RateLimiter.acquire, RateLimiter.hold

        async def spy_acquire(limiter: RateLimiter, tokens: int) -> None:
            self.acquired.append(tokens)
            await acquire(limiter, tokens)

        def spy_hold(limiter: RateLimiter, seconds: float) -> None:
            self.holds.append(seconds)
            hold(limiter, seconds)

        monkeypatch.setattr(RateLimiter, "acquire", spy_acquire)
        monkeypatch.setattr(RateLimiter, "hold", spy_hold)


def test_runner_charges_every_attempt_its_prompt_plus_max_tokens(fast, run_gen, monkeypatch):
    spy = Spy(monkeypatch)
    fail_once = lambda body, seen: Reply("status", 500) if seen == 0 else Reply()  # noqa: E731
    with ScriptedServer(fail_once) as srv:
        summary = run_gen(srv.base_url, settings=dataclasses.replace(fast, rpm=60000, tpm=10**8))
    assert summary.ok and srv.total == 8  # 4 requests, each retried once
    expected = sorted(estimate_input_tokens(b["messages"]) + b["max_tokens"] for b in srv.bodies)
    assert sorted(spy.acquired) == expected  # retries pay too


def test_a_429_puts_the_limiter_on_hold_for_the_retry_after(fast, run_gen, monkeypatch):
    spy = Spy(monkeypatch)
    first = lambda body, seen: Reply("status", 429, headers={"Retry-After": "0.5"}) if not seen else Reply()  # noqa: E731
    with ScriptedServer(first) as srv:
        summary = run_gen(
            srv.base_url, classes=(1,), settings=dataclasses.replace(fast, concurrency=1, rpm=60000)
        )
    assert summary.ok and srv.total == 4
    assert spy.holds == [0.5, 0.5]


def test_generate_with_rpm_and_tpm_sends_everything(server, tmp_path):
    cache = tmp_path / "cache.db"
    code, out = invoke(
        *gen_args(
            server, cache, "-d", "msr-action3d", "-c", "1", "-c", "2", "--rpm", "600", "--tpm", "10000000"
        ),
        "--json",
    )
    summary = json.loads(out)
    assert code == 0 and summary["sent"] == 4 and summary["failed"] == 0 and server.total == 4


def test_negative_rpm_is_refused_when_parsed(tmp_path):
    from typer.testing import CliRunner

    from crossglg.text_cli import app

    result = CliRunner().invoke(
        app, ["generate", "--llm", "gpt-4o", "-d", "utkinect", "--rpm", "-1", "--dry-run"]
    )
    assert result.exit_code == 2 and "Invalid value for '--rpm'" in result.output
