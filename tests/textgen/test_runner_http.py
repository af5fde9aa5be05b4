"""The runner against the scripted OpenAI-compatible server, through the real ``openai`` client."""

from __future__ import annotations

import dataclasses
import json

from crossglg.cache import open_cache
from crossglg.textgen.runner import RunSettings
from crossglg.textgen.testing_server import Reply, ScriptedServer

N_REQUESTS = 4  # classes 1 and 2 of msr-action3d × (global, local)


def test_normal_answers_fill_cache_and_items(server, run_gen, cache_path, query):
    summary = run_gen(server.base_url)
    assert summary.ok and summary.sent == N_REQUESTS and summary.cached == 0
    assert server.total == N_REQUESTS
    assert query("SELECT status, count(*) FROM generations GROUP BY status") == [("ok", N_REQUESTS)]
    # global answer → one item; local parts6 answer → six items; per class
    items = query(
        "SELECT kind, count(*) FROM items WHERE dataset = 'msr-action3d' GROUP BY kind ORDER BY kind"
    )
    assert items == [("global", 2), ("part", 12)]
    # the request carried the strict JSON schema and the per-request seed
    body = server.bodies[0]
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    assert isinstance(body["seed"], int)
    assert summary.tokens_input > 0 and summary.tokens_output > 0


def test_rerun_sends_nothing_and_base_url_is_not_in_the_key(run_gen, cache_path):
    with ScriptedServer() as first:
        assert run_gen(first.base_url).sent == N_REQUESTS
    with ScriptedServer() as second:  # another port: same keys
        again = run_gen(second.base_url)
    assert second.total == 0
    assert again.sent == 0 and again.cached == N_REQUESTS and again.ok


def test_force_and_salt_regenerate(server, run_gen):
    run_gen(server.base_url)
    assert run_gen(server.base_url, force=True).sent == N_REQUESTS
    salted = run_gen(server.base_url, salt="v2")
    assert salted.sent == N_REQUESTS and salted.cached == 0
    assert server.total == 3 * N_REQUESTS


def test_samples_get_distinct_keys_and_seeds(server, run_gen, query):
    summary = run_gen(server.base_url, classes=(1,), samples=3)
    assert summary.sent == 6
    seeds = {(json.dumps(b["messages"]), b["seed"]) for b in server.bodies}
    assert len(seeds) == 6
    assert len({b["seed"] for b in server.bodies}) == 6
    assert query("SELECT DISTINCT sample_index FROM items ORDER BY 1") == [(0,), (1,), (2,)]
    # a rerun repeats the same seeds: nothing new is sent
    assert run_gen(server.base_url, classes=(1,), samples=3).sent == 0


def test_500_is_retried_with_backoff(run_gen, query):
    with ScriptedServer(lambda body, seen: Reply("status", 500) if seen < 2 else Reply()) as srv:
        summary = run_gen(srv.base_url)
    assert summary.ok
    assert set(srv.counts.values()) == {3}
    assert query("SELECT http_status, count(*) FROM attempts GROUP BY 1 ORDER BY 1") == [
        (200, N_REQUESTS),
        (500, 2 * N_REQUESTS),
    ]


def test_429_retry_after_is_honoured_and_pauses_new_dispatch(fast: RunSettings, run_gen, query):
    first_arrival: list[float] = []

    def script(body, seen):
        if not first_arrival:
            first_arrival.append(1.0)
            return Reply("status", 429, headers={"Retry-After": "1"})
        return Reply(delay=0.5)  # the 429 reaches the client well before any slot frees

    settings = dataclasses.replace(fast, concurrency=2)
    with ScriptedServer(script) as srv:
        summary = run_gen(srv.base_url, classes=(1, 2, 3), settings=settings)
    assert summary.ok and summary.sent == 6
    t_429, ident_429, _ = srv.log[0]
    # the rate-limited request waited the server's Retry-After before its retry
    retry = next(t for t, ident, seen in srv.log if ident == ident_429 and seen == 1)
    assert retry - t_429 >= 0.9
    # requests dispatched after the 429 (beyond the first two in flight) waited too
    later_new = [t for t, ident, seen in srv.log[2:] if seen == 0]
    assert later_new and min(later_new) - t_429 >= 0.9
    assert query("SELECT retry_after_s FROM attempts WHERE http_status = 429") == [(1.0,)]


def test_slower_than_timeout_is_abandoned_and_retried(fast: RunSettings, run_gen):
    settings = dataclasses.replace(fast, timeout=1.5)  # the retry must answer in time on a loaded machine
    with ScriptedServer(lambda body, seen: Reply(delay=4.0) if seen == 0 else Reply()) as srv:
        summary = run_gen(srv.base_url, classes=(1,), settings=settings)
    assert summary.ok and set(srv.counts.values()) == {2}


def test_400_fails_fast_and_the_run_goes_on(run_gen, cache_path, query):
    def script(body, seen):
        if "high arm wave" in json.dumps(body["messages"]):  # class 1 of msr-action3d
            return Reply("status", 400)
        return Reply()

    with ScriptedServer(script) as srv:
        summary = run_gen(srv.base_url)
    assert not summary.ok and summary.failed == 2 and summary.sent == N_REQUESTS
    assert sorted(srv.counts.values()) == [1, 1, 1, 1]  # no retry of the 400s
    statuses = query("SELECT status, count(*) FROM generations GROUP BY 1 ORDER BY 1")
    assert statuses == [("failed", 2), ("ok", 2)]
    assert query("SELECT count(*) FROM attempts WHERE http_status = 400") == [(2,)]
    # resume sends only the failed ones
    with ScriptedServer() as again:
        resumed = run_gen(again.base_url)
    assert resumed.sent == 2 and resumed.cached == 2 and resumed.ok


def test_truncated_answer_is_repaired(run_gen, query):
    with ScriptedServer(
        lambda body, seen: Reply("truncated") if len(body["messages"]) == 2 else Reply()
    ) as srv:
        summary = run_gen(srv.base_url, classes=(1,))
    assert summary.ok and summary.http_attempts == 4
    repair = next(b for b in srv.bodies if len(b["messages"]) == 4)
    assert repair["messages"][2]["role"] == "assistant"
    assert "not usable" in repair["messages"][3]["content"]


def test_answer_that_stays_invalid_is_stored_not_accepted(run_gen, cache_path, query):
    with ScriptedServer(lambda body, seen: Reply("text", content='{"description": "half')) as srv:
        summary = run_gen(srv.base_url, classes=(1,))
    assert not summary.ok and summary.statuses["invalid_json"] == 2
    assert summary.http_attempts == 2 * 3  # first try + 2 repairs, per request
    assert query("SELECT count(*) FROM items") == [(0,)]
    key = query("SELECT request_key FROM generations LIMIT 1")[0][0]
    with open_cache(cache_path, readonly=True) as cache:
        gen = cache.generation(key)
    assert gen["status"] == "invalid_json" and gen["raw_text"] == '{"description": "half'


def test_malformed_json_and_line_fallback(run_gen, query):
    def script(body, seen):
        if body["response_format"]["json_schema"]["name"] == "local_answer":
            return Reply(
                "text",
                content="Here you go:\nhead: tilts back\nhands: lift the cup\narm: bends at the elbow\n"
                "hip: stays still\nleg: stays still\nfoot: stays still",
            )
        return Reply(
            "text",
            content='Sure! ```json\n{"description": "The hand lifts a cup to the mouth.", '
            '"key_body_parts": ["hand"]}\n```',
        )

    with ScriptedServer(script) as srv:
        summary = run_gen(srv.base_url, classes=(1,))
    assert summary.ok and srv.total == 2
    texts = dict(query("SELECT i.slot, t.text FROM items i JOIN texts t USING (text_id)"))
    assert texts[""] == "The hand lifts a cup to the mouth." and texts["hand"] == "lift the cup"
    assert texts["foot"] == "stays still"


def test_incomplete_answer_is_repaired_then_marked(run_gen, query):
    with ScriptedServer(lambda body, seen: Reply("text", content='{"head": "The head nods twice."}')) as srv:
        summary = run_gen(srv.base_url, classes=(1,))
    assert summary.statuses["incomplete"] == 2 and not summary.ok
    assert srv.total == 2 * 3  # first try + 2 repairs each
    assert query("SELECT status, count(*) FROM generations GROUP BY 1") == [("incomplete", 2)]
    # an incomplete local answer contributes only the slot it has
    assert query("SELECT kind, slot FROM items") == [("part", "head")]


def test_refusal_is_not_retried(run_gen):
    with ScriptedServer(lambda body, seen: Reply("refusal")) as srv:
        summary = run_gen(srv.base_url, classes=(1,))
    assert summary.statuses["refused"] == 2 and srv.total == 2


def test_insufficient_quota_stops_the_run(fast: RunSettings, run_gen):
    settings = dataclasses.replace(fast, concurrency=1)
    script = lambda body, seen: Reply("status", 429, error_code="insufficient_quota")  # noqa: E731
    with ScriptedServer(script) as srv:
        summary = run_gen(srv.base_url, classes=(1, 2, 3), settings=settings)
    assert srv.total == 1 and summary.not_sent == 5 and not summary.ok
    assert "run stopped" in summary.errors[0]


def test_failed_repair_keeps_the_last_answer_and_all_tokens(run_gen, cache_path, query):
    def script(body, seen):
        if len(body["messages"]) == 2:
            return Reply("text", content="no json here")
        return Reply("status", 400)  # the repair request is rejected

    with ScriptedServer(script) as srv:
        summary = run_gen(srv.base_url, classes=(1,))
    assert summary.statuses["failed"] == 2 and srv.total == 4
    rows = query("SELECT g.status, t.text, g.tokens_output FROM generations g JOIN texts t USING (text_id)")
    assert [(r[0], r[1]) for r in rows] == [("failed", "no json here")] * 2
    assert all(r[2] > 0 for r in rows)


def test_tokens_of_repair_rounds_add_up(run_gen, query):
    with ScriptedServer(
        lambda body, seen: Reply("truncated") if len(body["messages"]) == 2 else Reply()
    ) as srv:
        summary = run_gen(srv.base_url, classes=(1,))
    assert srv.total == 4  # two first tries, two repairs
    # the scripted server bills len(prompt text) // 4 + 1 input tokens per request
    billed = sum(sum(len(str(m["content"])) for m in b["messages"]) // 4 + 1 for b in srv.bodies)
    assert summary.tokens_input == billed
    assert query("SELECT sum(tokens_input), sum(tokens_output) FROM generations")[0] == (
        summary.tokens_input,
        summary.tokens_output,
    )
