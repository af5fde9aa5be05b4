"""What a server accepts: structured output negotiated, refused parameters said once, model families.

The scripted server answers with the engines' own rejection bodies, each copied from where
it was seen (cited beside it), so the classification is tested on what servers really send.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from crossglg.cache import request_key
from crossglg.prompts import answer_schema, load_template
from crossglg.textgen.backends import make_backend
from crossglg.textgen.backends.rejections import rejected_parameter
from crossglg.textgen.plan import GenParams, build_plan, select_classes
from crossglg.textgen.testing_server import Reply, ScriptedServer, request_identity

from .conftest import gen_args, run_cli

# llama-cpp-python's server (`python -m llama_cpp.server`, the `local` extra, 0.3.36) refusing
# response_format type json_schema: captured from the real server on this project's machine
# (HTTP 500; the path in its traceback line shortened). The same refusal is
# ggml-org/llama.cpp#10732 and abetlen/llama-cpp-python#1677.
LLAMACPP_500 = {
    "error": {
        "message": "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
        "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema', 'ctx': {'expected': "
        "\"'text' or 'json_object'\"}}\n\n  File \"/.../llama_cpp/server/app.py\", line 376, in "
        "create_chat_completion\n    POST /v1/chat/completions",
        "type": "internal_server_error",
        "param": None,
        "code": None,
    }
}
# vLLM's OpenAI server refusing a schema its xgrammar backend cannot compile (HTTP 400), as
# quoted in vllm-project/vllm#16321.
VLLM_400 = {
    "object": "error",
    "message": "The provided JSON schema contains features not supported by xgrammar.",
    "type": "BadRequestError",
    "param": None,
    "code": 400,
}
# Ollama: llm/server.go returns "invalid JSON schema in format" with HTTP 500 (the 500 is
# quoted in datalab-to/marker#984); its /v1 middleware (middleware/openai.go, writeError)
# wraps it with openai.NewError, whose type for a 500 is "api_error".
OLLAMA_500 = {
    "error": {"message": "invalid JSON schema in format", "type": "api_error", "param": None, "code": None}
}
# OpenAI's reasoning models refusing temperature (HTTP 400), as quoted in
# ai-christianson/RA.Aid#70 and appatalks/eva-agent#83.
OPENAI_TEMPERATURE_400 = {
    "error": {
        "message": "Unsupported parameter: 'temperature' is not supported with this model.",
        "type": "invalid_request_error",
        "param": "temperature",
        "code": "unsupported_parameter",
    }
}
# ... and a value it does not take (HTTP 400), as quoted in microsoft/vscode#253673.
OPENAI_TEMPERATURE_VALUE_400 = {
    "error": {
        "message": "Unsupported value: 'temperature' does not support 0.1 with this model. Only the default "
        "(1) value is supported.",
        "type": "invalid_request_error",
        "param": "temperature",
        "code": "unsupported_value",
    }
}

ENGINES = {
    "llama.cpp": (500, LLAMACPP_500, "response_format.type"),
    "vllm": (400, VLLM_400, "response_format"),
    "ollama": (500, OLLAMA_500, "response_format"),
}


def _raw(status: int, body: dict[str, Any]) -> Reply:
    return Reply("raw", status=status, body=json.dumps(body).encode(), content_type="application/json")


def refuses_json_schema(engine: str):
    """A server that refuses response_format json_schema as ``engine`` does and takes JSON mode."""
    status, body, _ = ENGINES[engine]

    def script(request: dict[str, Any], seen: int) -> Reply:
        fmt = request.get("response_format") or {}
        return _raw(status, body) if fmt.get("type") == "json_schema" else Reply()

    return script


def _query(cache: Path, sql: str) -> list[tuple]:
    import sqlite3

    conn = sqlite3.connect(f"file:{cache}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _generate(server: ScriptedServer, cache: Path, *extra: str, json_mode: str = "", model: str = "scripted"):
    args = gen_args(server, cache, "-d", "msr-action3d", "-c", "1", "-c", "2", *extra, json_mode=json_mode)
    args[args.index("--llm") + 1] = model
    return run_cli(*args, cwd=cache.parent)


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_auto_mode_negotiates_once_and_remembers(engine, tmp_path):
    cache = tmp_path / "cache.db"
    with ScriptedServer(refuses_json_schema(engine)) as srv:
        first = _generate(srv, cache, "--json")
        assert first.returncode == 0, first.stderr
        summary = json.loads(first.stdout)
        assert summary["sent"] == 4 and summary["statuses"] == {"ok": 4} and summary["http_attempts"] == 4
        # one probe refused (json_schema), one accepted (JSON mode with the schema), then the run
        probes = [b for b in srv.bodies if b["messages"][0]["content"] == "Reply with a JSON object."]
        assert [p["response_format"]["type"] for p in probes] == ["json_schema", "json_object"]
        run = [b for b in srv.bodies if b not in probes]
        assert len(run) == 4 and all(b["response_format"]["type"] == "json_object" for b in run)
        assert all(b["response_format"]["schema"]["type"] == "object" for b in run)
        assert all(srv.counts[request_identity(b)] == 1 for b in run)  # nothing retried
        # the mode each answer was made with is in its request (and so in its key)
        modes = {
            json.loads(p)["response_format"] for (p,) in _query(cache, "SELECT params_json FROM requests")
        }
        assert modes == {"json_object_schema"}
        remembered = _query(cache, "SELECT base_url, model, json_mode, evidence FROM json_modes")
        assert remembered[0][:3] == (srv.base_url, "scripted", "json_object_schema")
        assert ENGINES[engine][2] in remembered[0][3]
        # new classes on a rerun: no probe, the remembered mode
        before = srv.total
        again = _generate(srv, cache, "-c", "3")
    assert again.returncode == 0, again.stderr
    assert srv.total == before + 2
    assert all(b["response_format"]["type"] == "json_object" for b in srv.bodies[before:])
    assert "json mode: json_object_schema, which" in again.stderr and "remembered" in again.stderr


def test_negotiation_says_which_mode_it_chose(tmp_path):
    with ScriptedServer(refuses_json_schema("llama.cpp")) as srv:
        proc = _generate(srv, tmp_path / "cache.db")
    assert proc.returncode == 0, proc.stderr
    assert "json mode: json_object_schema, negotiated with" in proc.stderr
    assert (
        "refused json_schema (HTTP 500: response_format.type: Input should be 'text' or 'json_object')"
        in proc.stderr
    )


def test_a_probe_that_times_out_after_a_refusal_uses_the_next_form_unremembered(tmp_path):
    """Under load a server may be slow to answer the probe it accepted: a refusal comes at once,
    so a timeout means "working on it", and json_schema, refused, is not sent again."""
    refuse = refuses_json_schema("llama.cpp")

    def script(request: dict[str, Any], seen: int) -> Reply:
        probing = request["messages"][0]["content"] == "Reply with a JSON object."
        if probing and request["response_format"]["type"] == "json_object":
            return Reply(delay=3.0)
        return refuse(request, seen)

    cache = tmp_path / "cache.db"
    with ScriptedServer(script) as srv:
        proc = _generate(srv, cache, "--timeout", "1")
    assert proc.returncode == 0, proc.stderr
    assert "did not answer whether it accepts json_object_schema" in proc.stderr
    assert "sending json_object_schema, not remembered" in proc.stderr
    modes = {json.loads(p)["response_format"] for (p,) in _query(cache, "SELECT params_json FROM requests")}
    assert modes == {"json_object_schema"}
    assert _query(cache, "SELECT count(*) FROM json_modes") == [(0,)]


def test_a_server_that_takes_json_schema_keeps_the_keys_of_before(tmp_path):
    """Negotiating json_schema (vLLM, Ollama) changes no key: caches made before still hit."""
    cache = tmp_path / "cache.db"
    with ScriptedServer() as srv:
        assert _generate(srv, cache, json_mode="json_schema").returncode == 0
        fresh = tmp_path / "other.db"
        assert _generate(srv, fresh).returncode == 0
    keys = _query(cache, "SELECT request_key FROM requests ORDER BY 1")
    assert keys == _query(fresh, "SELECT request_key FROM requests ORDER BY 1")
    assert _query(fresh, "SELECT json_mode FROM json_modes") == [("json_schema",)]


def test_a_fully_cached_rerun_asks_nothing(tmp_path):
    cache = tmp_path / "cache.db"
    with ScriptedServer() as srv:
        assert _generate(srv, cache, json_mode="json_schema").returncode == 0
        total = srv.total
        again = _generate(srv, cache)  # auto, nothing remembered yet, nothing to send
    assert again.returncode == 0 and srv.total == total


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_refused_parameter_ends_the_run_once_without_retries_or_stored_failures(engine, tmp_path):
    cache = tmp_path / "cache.db"
    with ScriptedServer() as good:  # class 3 answered earlier: must survive
        assert run_cli(*gen_args(good, cache, "-d", "msr-action3d", "-c", "3"), cwd=tmp_path).returncode == 0
    with ScriptedServer(refuses_json_schema(engine)) as srv:
        proc = _generate(srv, cache, "-c", "3", json_mode="json_schema")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in proc.stderr
    assert f"refuses parameter '{ENGINES[engine][2]}' for scripted (HTTP {ENGINES[engine][0]}" in lines[0]
    assert "--json-mode auto" in lines[0]
    assert srv.total >= 1 and set(srv.counts.values()) == {1}  # not one retry
    statuses = _query(cache, "SELECT status, count(*) FROM generations GROUP BY 1")
    assert statuses == [("ok", 2)]  # class 3's answers; no failure stored for the refused ones
    assert _query(cache, "SELECT status FROM runs ORDER BY started_at DESC LIMIT 1") == [("failed",)]


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        (LLAMACPP_500, "response_format.type"),
        (VLLM_400, "response_format"),
        (OLLAMA_500, "response_format"),
        (OPENAI_TEMPERATURE_400, "temperature"),
        (OPENAI_TEMPERATURE_VALUE_400, "temperature"),
        ({"detail": [{"loc": ["body", "top_p"], "msg": "Input should be less than or equal to 1"}]}, "top_p"),
    ],
)
def test_rejection_bodies_name_the_parameter(body, parameter):
    found = rejected_parameter(json.dumps(body))
    assert found is not None and found.parameter == parameter


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"message": "scripted 500", "type": "scripted", "code": None}},
        # about one request's messages, not a parameter of ours: that request fails, the run goes on
        {
            "error": {
                "message": "This model's maximum context length is 4097 tokens.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        },
        "<html>502 Bad Gateway</html>",
    ],
)
def test_other_errors_are_no_refused_parameter(body):
    assert rejected_parameter(body if isinstance(body, str) else json.dumps(body)) is None


# -- model families ---------------------------------------------------------------------------


def openai_reasoning_server(request: dict[str, Any], seen: int) -> Reply:
    """Like OpenAI's o-series and gpt-5: temperature/top_p and max_tokens refused, reasoning reported."""
    if "temperature" in request or "top_p" in request:
        return _raw(400, OPENAI_TEMPERATURE_400)
    return Reply(reasoning_tokens=64)


def test_reasoning_models_get_their_own_parameters_and_record_reasoning_tokens(tmp_path):
    cache = tmp_path / "cache.db"
    with ScriptedServer(openai_reasoning_server) as srv:
        proc = _generate(
            srv, cache, "--reasoning-effort", "low", "--json", json_mode="json_schema", model="o3-mini"
        )
        assert proc.returncode == 0, proc.stderr
        for body in srv.bodies:
            assert "temperature" not in body and "top_p" not in body and "max_tokens" not in body
            assert body["max_completion_tokens"] == 8000 and body["reasoning_effort"] == "low"
        assert json.loads(proc.stdout)["tokens"]["reasoning"] == 4 * 64
        assert _query(cache, "SELECT DISTINCT tokens_reasoning FROM generations") == [(64,)]
        stats = run_cli("stats", "--cache", cache, "--json", cwd=tmp_path)
        assert json.loads(stats.stdout)["tokens"]["reasoning"] == 4 * 64
        # what is not sent is not in the key: another temperature changes nothing
        total = srv.total
        again = _generate(
            srv,
            cache,
            "--reasoning-effort",
            "low",
            "--temperature",
            "0.9",
            json_mode="json_schema",
            model="o3-mini",
        )
        assert again.returncode == 0 and srv.total == total
        assert "o3-mini is a reasoning model: it is sent no temperature or top_p" in again.stderr
        # the effort is sent, so it is in the key
        assert (
            _generate(
                srv, cache, "--reasoning-effort", "high", json_mode="json_schema", model="o3-mini"
            ).returncode
            == 0
        )
        assert srv.total == total + 4


def test_unsupported_parameter_is_one_clear_error_not_a_failure_per_request(tmp_path):
    """A model crossglg does not know as a reasoning model gets temperature, and the server refuses it."""
    cache = tmp_path / "cache.db"
    with ScriptedServer(openai_reasoning_server) as srv:
        proc = _generate(srv, cache, json_mode="json_schema", model="my-reasoner")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "refuses parameter 'temperature' for my-reasoner (HTTP 400: Unsupported parameter" in lines[0]
    assert "change --temperature" in lines[0]
    assert set(srv.counts.values()) == {1}
    assert _query(cache, "SELECT count(*) FROM generations") == [(0,)]


def test_unsupported_parameter_found_by_the_probe_sends_no_run_request(tmp_path):
    with ScriptedServer(openai_reasoning_server) as srv:
        proc = _generate(srv, tmp_path / "cache.db", model="my-reasoner")  # auto: the probe meets it
    assert proc.returncode == 2 and "refuses parameter 'temperature'" in proc.stderr
    assert srv.total == 1


def test_reasoning_effort_is_refused_for_in_process_models(tmp_path):
    proc = run_cli("generate", "-d", "msr-action3d", "-c", "1", "--reasoning-effort", "low", cwd=tmp_path)
    assert (
        proc.returncode == 2 and "--reasoning-effort is sent to hosted and served models only" in proc.stderr
    )
    assert not (tmp_path / "cache.db").exists()


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4", "gpt-5-chat-latest"])
def test_keys_of_other_models_are_as_before(model, monkeypatch):
    """Existing caches still hit: the key payload of a non-reasoning model did not change."""
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    backend = make_backend(model)
    plan = build_plan(select_classes("msr-action3d", class_ids=[1]), backend, GenParams())
    tpl = load_template("global")
    schema = answer_schema("global", ())
    old_params = {
        "temperature": 0.2,
        "top_p": 1.0,
        "max_tokens": 800,
        "response_format": backend.json_mode,
        "schema": schema,
    }
    old_key = request_key(f"openai:{model}", tpl.render("high arm wave", ()), old_params, 0, None)
    assert plan.requests[0].row.request_key == old_key
