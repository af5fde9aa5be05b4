"""Degenerate answers through the runner, the scripted server and the CLI: repaired, never ok."""

from __future__ import annotations

import json

from crossglg.textgen.testing_server import Reply, ScriptedServer

from .conftest import gen_args, invoke

SLOTS = ("head", "hand", "arm", "hip", "leg", "foot")
ECHO_LOCAL = json.dumps(dict.fromkeys(SLOTS, "high arm wave"))  # msr-action3d class 1
ECHO_GLOBAL = json.dumps({"description": "High arm wave.", "key_body_parts": ["waving"]})


def _is_local(body) -> bool:
    return body["response_format"]["json_schema"]["name"] == "local_answer"


def test_degenerate_answer_is_repaired_like_malformed_json(run_gen, query):
    def script(body, seen):
        if len(body["messages"]) == 2:  # the first try repeats the class name
            return Reply("text", content=ECHO_LOCAL if _is_local(body) else ECHO_GLOBAL)
        return Reply()  # the repair turn gets a schema-shaped, specific answer

    with ScriptedServer(script) as srv:
        summary = run_gen(srv.base_url, classes=(1,))
    assert summary.ok and summary.statuses == {"ok": 2} and srv.total == 4
    repair = next(b for b in srv.bodies if len(b["messages"]) == 4 and _is_local(b))
    assert "only repeat the action name 'high arm wave'" in repair["messages"][3]["content"]
    global_repair = next(b for b in srv.bodies if len(b["messages"]) == 4 and not _is_local(b))
    assert "'waving' name no body part or joint" in global_repair["messages"][3]["content"]
    assert query("SELECT count(*) FROM items") == [(7,)]


def test_answer_that_stays_degenerate_is_stored_as_such_with_only_its_good_parts(run_gen, query):
    local = json.dumps(
        {
            **dict.fromkeys(SLOTS, "high arm wave"),
            "arm": "One arm is raised overhead and swings side to side.",
            "hip": "stays still",
            "leg": "stays still",
        }
    )

    def script(body, seen):
        return Reply("text", content=local if _is_local(body) else ECHO_GLOBAL)

    with ScriptedServer(script) as srv:
        summary = run_gen(srv.base_url, classes=(1,))
    assert summary.statuses == {"degenerate": 2} and not summary.ok
    assert srv.total == 2 * 3  # first try + 2 repairs each, as for invalid JSON
    assert query("SELECT status, count(*) FROM generations GROUP BY 1") == [("degenerate", 2)]
    # the echoed parts and the echoed global description never reach the text bank
    assert query("SELECT kind, slot FROM items ORDER BY rowid") == [
        ("part", "arm"),
        ("part", "hip"),
        ("part", "leg"),
    ]
    # a rerun asks again: only ok answers count as cached
    with ScriptedServer() as good:
        again = run_gen(good.base_url, classes=(1,))
    assert again.sent == 2 and again.statuses == {"ok": 2}
    assert query("SELECT status, count(*) FROM generations GROUP BY 1") == [("ok", 2)]
    assert query("SELECT count(*) FROM items") == [(7,)]


def test_stats_counts_and_show_explains_degenerate_answers(tmp_path):
    cache = tmp_path / "cache.db"

    def script(body, seen):
        return Reply("text", content=ECHO_LOCAL if _is_local(body) else ECHO_GLOBAL)

    with ScriptedServer(script) as srv:
        code, _ = invoke(*gen_args(srv, cache, "--dataset", "msr-action3d", "--class", "1"))
    assert code == 1  # anything not ok fails the run
    code, out = invoke("stats", "--cache", cache, "--json")
    assert json.loads(out)["generations"] == {"degenerate": 2}
    code, out = invoke("stats", "--cache", cache)
    assert "generations: degenerate 2" in out
    # nothing of class 1 reached the text bank, yet `show` says what the model answered and why
    code, out = invoke("show", "--cache", cache, "-d", "msr-action3d", "-c", "1")
    assert code == 0 and out.startswith("# msr-action3d class 1: high arm wave")
    assert out.count("· degenerate]") == 2
    assert "'head', 'hand', 'arm', 'hip', 'leg', 'foot' only repeat the action name" in out
    assert "the description only repeats the action name 'high arm wave'" in out
    assert 'raw: {"head": "high arm wave"' in out
    code, out = invoke("invalidate", "--cache", cache, "--status", "degenerate", "--json")
    assert code == 0 and json.loads(out)["invalidated"] == 2


def test_accept_degenerate_keeps_such_answers_whole_for_trying_the_pipeline(tmp_path):
    cache = tmp_path / "cache.db"

    def script(body, seen):
        return Reply("text", content=ECHO_LOCAL if _is_local(body) else ECHO_GLOBAL)

    args = ("--dataset", "msr-action3d", "--class", "1", "--accept-degenerate", "--json")
    with ScriptedServer(script) as srv:
        code, out = invoke(*gen_args(srv, cache, *args))
        assert code == 0 and srv.total == 2  # no repair turn, and the run does not fail
        summary = json.loads(out)
        assert summary["statuses"] == {"degenerate": 2} and summary["failed"] == 0
        code, out = invoke(*gen_args(srv, cache, *args))
        assert json.loads(out)["cached"] == 2 and srv.total == 2  # done: a rerun sends nothing
    code, out = invoke("show", "--cache", cache, "-d", "msr-action3d", "-c", "1", "--json")
    rows = json.loads(out)
    assert len(rows) == 7 and {r["status"] for r in rows} == {"degenerate"}
    assert rows[1]["text"] == "high arm wave"  # kept whole, and labelled for what it is
    with ScriptedServer() as good:  # without the flag the next run asks again
        code, out = invoke(*gen_args(good, cache, "--dataset", "msr-action3d", "--class", "1", "--json"))
    assert code == 0 and json.loads(out)["sent"] == 2
