"""Writing and reading through the public API: requests, answers, items, texts, runs, import."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from crossglg.cache import (
    SCHEMA_VERSION,
    AttemptRow,
    BatchWriter,
    GenerationRow,
    ItemRow,
    RunCounters,
    open_cache,
    read_import_jsonl,
    utc_now,
)
from crossglg.errors import UserError

from .conftest import SOURCE, add_request, global_item, ok_global

SLOTS = ("head", "hand", "arm", "hip", "leg", "foot")


def test_put_requests_ignores_existing(cache):
    add_request(cache, "drink water")
    assert cache.conn.execute("SELECT count(*) FROM requests").fetchone()[0] == 1
    add_request(cache, "drink water")  # rerun: nothing new
    assert cache.conn.execute("SELECT count(*) FROM requests").fetchone()[0] == 1
    row = cache.conn.execute("SELECT backend, model, params_json, seed FROM requests").fetchone()
    assert row[:2] == ("llamacpp", "SmolLM2-135M-Instruct.Q4_1")
    assert json.loads(row[2]) == {"max_tokens": 256, "seed": 0, "temperature": 0.2}
    assert isinstance(row[3], int)


def test_lookup_chunks_and_reports_status(cache):
    with cache.write():  # one transaction for the setup
        keys = [add_request(cache, f"class {i}") for i in range(1200)]
    with BatchWriter(cache) as w:
        for i, key in enumerate(keys):
            if i % 3 == 0:
                w.add_generation(ok_global(key, f"text {i}"))
            elif i % 3 == 1:
                w.add_generation(GenerationRow(key, "invalid_json", raw_text="{not json"))
    found = cache.lookup([*keys, "f" * 64])
    assert len(found) == 800
    assert found[keys[0]] == "ok" and found[keys[1]] == "invalid_json" and keys[2] not in found
    assert "f" * 64 not in found


def test_texts_are_deduplicated(cache):
    k1, k2 = add_request(cache, "drink water"), add_request(cache, "eat meal")
    with BatchWriter(cache) as w:
        w.add_generation(
            ok_global(k1, "Moves the hand to the mouth."),
            [global_item("ntu120", 1, "drink water", "Moves the hand to the mouth.")],
        )
        w.add_generation(
            ok_global(k2, "Moves the hand to the mouth."),
            [global_item("ntu120", 2, "eat meal", "Moves the hand to the mouth.")],
        )
    described = cache.conn.execute("SELECT count(*) FROM texts WHERE text = 'Moves the hand to the mouth.'")
    assert described.fetchone()[0] == 1
    ids = {r[0] for r in cache.conn.execute("SELECT text_id FROM items")}
    assert len(ids) == 1


def test_failure_never_replaces_a_usable_answer(cache):
    key = add_request(cache, "drink water")
    with BatchWriter(cache) as w:
        w.add_generation(ok_global(key, "good"), [global_item("ntu120", 1, "drink water", "good")])
    with BatchWriter(cache) as w:
        w.add_generation(GenerationRow(key, "failed", raw_text=None))
    assert cache.lookup([key]) == {key: "ok"}
    assert cache.show("ntu120", 1)[0]["text"] == "good"
    other = add_request(cache, "eat meal")
    with BatchWriter(cache) as w:
        w.add_generation(GenerationRow(other, "truncated", raw_text='{"description": "cut'))
    with BatchWriter(cache) as w:
        w.add_generation(ok_global(other, "fixed"))
    assert cache.lookup([other]) == {other: "ok"}
    assert cache.generation(other)["parsed"]["description"] == "fixed"


def test_invalid_answer_keeps_raw_text(cache):
    key = add_request(cache, "drink water")
    with BatchWriter(cache) as w:
        w.add_generation(GenerationRow(key, "invalid_json", raw_text="head: nods", finish_reason="stop"))
    gen = cache.generation(key)
    assert gen["status"] == "invalid_json" and gen["raw_text"] == "head: nods" and gen["parsed"] is None
    assert cache.conn.execute("SELECT count(*) FROM items").fetchone()[0] == 0


def test_local_items_show_in_the_order_handed_with_their_answer_status(cache):
    key = add_request(cache, "kicking")
    answer = {s: f"the {s} moves" for s in SLOTS} | {"hip": "  "}
    slots = [s for s in SLOTS if s != "hip"]
    items = [ItemRow("ntu120", 24, "kicking", "part", s, 0, SOURCE, answer[s]) for s in slots]
    with BatchWriter(cache) as w:
        w.add_generation(GenerationRow(key, "incomplete", raw_text=json.dumps(answer), parsed=answer), items)
    rows = cache.show("ntu120", 24)
    assert [r["slot"] for r in rows] == ["head", "hand", "arm", "leg", "foot"]
    assert (
        rows[0]["text"] == "the head moves"
        and rows[0]["kind"] == "part"
        and rows[0]["status"] == "incomplete"
    )


def test_link_attaches_a_cached_answer_to_another_dataset(cache):
    key = add_request(cache, "drink water")
    with BatchWriter(cache) as w:
        w.add_generation(ok_global(key, "sips"), [global_item("ntu120", 1, "drink water", "sips")])
    with BatchWriter(cache) as w:
        w.link(key, [global_item("ntu60", 1, "drink water", "sips")])
    assert cache.show("ntu60", 1)[0]["text"] == "sips"
    assert cache.show("ntu60", 1)[0]["request_key"] == key
    assert cache.sources("ntu60") == [SOURCE]


def test_global_items_keep_key_body_parts_and_provenance(cache):
    pid = cache.put_prompt("global", "template text", "global@abc")
    run = cache.start_run("generate", {"dataset": "ntu120"})
    from crossglg.cache import RequestRow, request_key

    msgs = [{"role": "user", "content": "x"}]
    key = request_key(SOURCE, msgs, {"seed": 0})
    cache.put_requests([RequestRow(key, "llamacpp", "m", msgs, {"seed": 0}, prompt_id=pid)], run)
    gen = ok_global(key, "sips")
    gen.parsed = {"description": "sips", "key_body_parts": ["right hand", "head"]}
    gen.run_id = run
    with BatchWriter(cache) as w:
        w.add_generation(gen, [global_item("ntu120", 1, "drink water", "sips", ("right hand", "head"))])
    row = cache.show("ntu120", 1)[0]
    assert row["key_body_parts"] == ["right hand", "head"]
    assert row["prompt"] == "global" and row["prompt_id"] == pid and row["run_id"] == run


def test_attempts_and_run_counters(cache):
    run = cache.start_run("generate", {"dataset": "msr-action3d"})
    key = add_request(cache, "hammer")
    with BatchWriter(cache) as w:
        w.add_attempt(AttemptRow(key, run, 1, utc_now(), 12.5, 429, "RateLimitError", "slow down", 2.0))
        w.add_attempt(AttemptRow(key, run, 2, utc_now(), 8.0, 200))
    cache.finish_run(
        run, "ok", RunCounters(n_requests=2, n_cache_hits=5, n_failed=0, tokens=300, cost_usd=0.01)
    )
    row = cache.conn.execute(
        "SELECT status, n_requests, n_cache_hits, tokens, finished_at FROM runs"
    ).fetchone()
    assert row[:4] == ("ok", 2, 5, 300) and row[4]
    attempts = cache.conn.execute(
        "SELECT attempt_no, http_status, retry_after_s FROM attempts ORDER BY 1"
    ).fetchall()
    assert attempts == [(1, 429, 2.0), (2, 200, None)]


def test_run_ids_sort_by_time(cache):
    runs = [cache.start_run("generate") for _ in range(5)]
    assert runs == sorted(runs) and len(set(runs)) == 5 and all(len(r) == 26 for r in runs)


def test_api_key_and_base_url_never_reach_the_file(cache_path, monkeypatch):
    secret = "sk-test-DO-NOT-STORE-4242"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    with open_cache(cache_path) as c:
        c.start_run(
            "generate",
            {
                "dataset": "ntu120",
                "api_key": secret,
                "base-url": "http://127.0.0.1:8123/v1",
                "OPENAI_API_KEY": secret,
                "timeout": 30,
                "concurrency": 16,
                "note": f"Bearer {secret}",
                "max_tokens": 256,
            },
        )
        add_request(c, "drink water")
        args = json.loads(c.conn.execute("SELECT args_json FROM runs").fetchone()[0])
        assert args == {"dataset": "ntu120", "note": "Bearer ***", "max_tokens": 256}
        blob = b"".join(p.read_bytes() for p in cache_path.parent.iterdir())  # file, -wal, -shm
    blob += cache_path.read_bytes()
    assert secret.encode() not in blob
    assert b"127.0.0.1:8123" not in blob


def test_writer_batches_commits(cache):
    with cache.write():
        keys = [add_request(cache, f"class {i}") for i in range(1010)]
    with BatchWriter(cache, max_rows=200, max_seconds=3600) as w:
        for i, key in enumerate(keys):
            w.add_generation(
                ok_global(key, f"text {i}"), [global_item("bench", i + 1, f"class {i}", f"text {i}")]
            )
            if i == 150:
                assert w.pending == 151 and w.flushes == 0
        assert w.flushes == 5 and w.pending == 10  # the rest waits for the exit flush
    assert w.flushes == 6 and w.rows_written == 1010
    assert cache.conn.execute("SELECT count(*) FROM items").fetchone()[0] == 1010


def test_writer_flushes_answers_when_the_block_raises(cache_path):
    cache = open_cache(cache_path)
    key = add_request(cache, "drink water")
    with pytest.raises(RuntimeError, match="boom"), BatchWriter(cache, max_rows=100) as w:
        w.add_generation(ok_global(key, "saved"))
        raise RuntimeError("boom")
    cache.close()
    with open_cache(cache_path, readonly=True) as ro:
        assert ro.lookup([key]) == {key: "ok"}


def test_autoflush_commits_during_a_quiet_spell(cache_path):
    cache = open_cache(cache_path)
    key = add_request(cache, "drink water")
    w = BatchWriter(cache, max_rows=100, max_seconds=0.05)

    async def scenario() -> dict:
        task = asyncio.create_task(w.autoflush())
        w.add_generation(ok_global(key, "sips"))
        await asyncio.sleep(0.3)
        with open_cache(cache_path, readonly=True) as ro:  # another connection sees it committed
            seen = ro.lookup([key])
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return seen

    assert asyncio.run(scenario()) == {key: "ok"}
    cache.close()


def test_import_export_round_trip(cache, tmp_path):
    rows = [
        {"dataset": "ntu120", "class_id": 1, "text": "Lifts a cup.", "key_body_parts": ["hand"]},
        {"dataset": "ntu120", "class_id": 1, "kind": "part", "slot": "hand", "text": "Holds the cup."},
        {
            "dataset": "mine",
            "class_id": 3,
            "class_name": "juggle",
            "text": "Throws balls.",
            "sample_index": 1,
        },
    ]
    src = tmp_path / "hand.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    records = read_import_jsonl(src)
    assert records[0].class_name == "drink water"  # from the built-in list
    assert cache.import_texts(records, label="handwritten") == 3
    assert cache.import_texts(records, label="handwritten") == 3  # idempotent
    assert cache.conn.execute("SELECT count(*) FROM items").fetchone()[0] == 3
    shown = cache.show("ntu120", 1)
    assert [(r["kind"], r["slot"], r["text"], r["source"], r["mode"]) for r in shown] == [
        ("global", "", "Lifts a cup.", "import:handwritten", "import"),
        ("part", "hand", "Holds the cup.", "import:handwritten", "import"),
    ]
    assert shown[0]["key_body_parts"] == ["hand"]
    exported = tmp_path / "export.jsonl"
    exported.write_text("".join(json.dumps(r) + "\n" for r in cache.export_rows()))
    assert cache.import_texts(read_import_jsonl(exported), label="copy") == 3
    assert cache.sources("ntu120") == ["import:copy", "import:handwritten"]
    assert cache.show("ntu120", 1, source="import:copy")[1]["text"] == "Holds the cup."
    with pytest.raises(ValueError):
        cache.import_texts(records, label="two words")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "invalid JSON"),
        ('{"class_id": 1, "text": "x"}', "'dataset' is missing"),
        ('{"dataset": "ntu120", "class_id": 0, "text": "x"}', "'class_id' must be an integer >= 1"),
        ('{"dataset": "ntu120", "class_id": 1, "text": "  "}', "'text' is missing or empty"),
        ('{"dataset": "ntu120", "class_id": 1, "text": "x", "kind": "part"}', "needs a slot"),
        (
            '{"dataset": "ntu120", "class_id": 1, "text": "x", "kind": "limb", "slot": "a"}',
            "'kind' must be one of",
        ),
        ('{"dataset": "ntu120", "class_id": 999, "text": "x"}', "not in the ntu120 class list"),
        ('{"dataset": "mine", "class_id": 1, "text": "x"}', "class_name is required"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_import_errors_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"dataset": "ntu120", "class_id": 2, "text": "fine"}\n' + line + "\n")
    with pytest.raises(UserError, match=message) as info:
        read_import_jsonl(path)
    assert str(info.value).startswith(f"{path}:2: ")


def test_stats_counts(cache):
    keys = [add_request(cache, n) for n in ("a", "b", "c")]
    with BatchWriter(cache) as w:
        w.add_generation(
            ok_global(keys[0], "x"), [global_item("ntu120", 1, "a", "x"), global_item("ntu60", 1, "a", "x")]
        )
        w.add_generation(GenerationRow(keys[1], "failed"))
    s = cache.stats()
    assert s["requests"] == 3 and s["generations"] == {"failed": 1, "ok": 1}
    assert s["items"] == [
        {"dataset": "ntu120", "source": SOURCE, "kind": "global", "classes": 1, "texts": 1},
        {"dataset": "ntu60", "source": SOURCE, "kind": "global", "classes": 1, "texts": 1},
    ]
    assert s["schema_version"] == SCHEMA_VERSION and s["embeddings"] == 0


def test_invalidate_by_model_and_status(cache):
    other = "openai:gpt-4o"
    k_local = add_request(cache, "drink water")
    k_gpt = add_request(cache, "drink water", source=other)
    k_bad = add_request(cache, "eat meal", source=other)
    with BatchWriter(cache) as w:
        w.add_generation(ok_global(k_local, "a"), [global_item("ntu120", 1, "drink water", "a")])
        w.add_generation(ok_global(k_gpt, "b"), [global_item("ntu120", 1, "drink water", "b", source=other)])
        w.add_generation(GenerationRow(k_bad, "refused"))
    with pytest.raises(ValueError):
        cache.invalidate()
    assert cache.invalidate(model=other, status="refused") == 1
    assert cache.invalidate(model=other) == 1
    assert cache.lookup([k_local, k_gpt, k_bad]) == {k_local: "ok"}
    assert cache.sources("ntu120") == [SOURCE]
    assert cache.conn.execute("SELECT count(*) FROM requests").fetchone()[0] == 3  # history stays
    assert cache.invalidate(since="2000-01-01") == 1
    assert cache.lookup([k_local]) == {}


def test_invalidate_since_compares_times_not_spellings(cache):
    keys = [add_request(cache, name) for name in ("a", "b")]
    with BatchWriter(cache) as w:
        for key in keys:
            w.add_generation(ok_global(key, key[:6]), [])
    stamps = ("2026-01-31T12:00:00.000Z", "2026-01-31T12:00:00.500Z")
    with cache.write():
        for key, stamp in zip(keys, stamps, strict=True):
            cache.conn.execute("UPDATE generations SET completed_at = ? WHERE request_key = ?", (stamp, key))
    # as text, "...12:00:00Z" sorts after "...12:00:00.000Z": only a parsed time matches both
    assert cache.invalidate(since="2026-01-31T12:00:00Z", dry_run=True) == 2
    assert cache.invalidate(since="2026-01-31T14:00:00.2+02:00", dry_run=True) == 1  # offsets count
    assert cache.invalidate(since="2026-01-31T12:00:00.001", dry_run=True) == 1  # no zone: UTC
    assert cache.invalidate(since="2026-02-01", dry_run=True) == 0
    assert cache.lookup(keys) == {k: "ok" for k in keys}  # dry runs forget nothing


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"status": "bogus"}, "unknown status 'bogus' (one of ok, failed"),
        ({"since": "yesterday"}, "since 'yesterday' is not an ISO date or time"),
        ({}, "at least one filter"),
    ],
)
def test_invalidate_refuses_bad_filters(cache, filters, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        cache.invalidate(**filters, dry_run=True)


def test_invalidate_by_prompt_name_label_or_id_prefix(cache):
    prompt_id = cache.put_prompt("global", "template text", "global@abc")
    key = add_request(cache, "a")
    with cache.write():
        cache.conn.execute("UPDATE requests SET prompt_id = ? WHERE request_key = ?", (prompt_id, key))
    with BatchWriter(cache) as w:
        w.add_generation(ok_global(key, "a"), [])
    for prompt in ("global", "global@abc", prompt_id[:8]):
        assert cache.invalidate(prompt=prompt, dry_run=True) == 1
    assert cache.invalidate(prompt="local", dry_run=True) == 0
    assert cache.invalidate(prompt="global@abc") == 1
    assert cache.lookup([key]) == {}
