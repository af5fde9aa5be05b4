"""The light request path sends what the SDK's typed ``create`` sends and fails as it fails.

The oracle is the ``openai`` client's own ``chat.completions.create`` against the same scripted
server: same JSON body, same exception type, status, message, code and headers for every
error the runner acts on (docs/TEXTGEN.md, "Reliability"). :class:`ChatPoster` posts through
its keep-alive pool (crossglg.textgen.backends.keepalive) unless a proxy is set; every test
here checks which path it took.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
import socket
import sqlite3
import subprocess
from pathlib import Path

import openai
import pytest
from openai import AsyncOpenAI, DefaultAsyncHttpxClient

from crossglg.textgen.backends import make_backend
from crossglg.textgen.backends.chat_post import ChatPoster
from crossglg.textgen.generate import generate
from crossglg.textgen.plan import GenParams, build_plan, select_classes
from crossglg.textgen.testing_server import Reply, ScriptedServer
from tests.textgen.conftest import FAST

KEY = "sk-test-0123456789abcdef"
BODY = {
    "model": "scripted",
    "messages": [{"role": "user", "content": "Describe waving."}],
    "temperature": 0.2,
    "top_p": 1.0,
    "seed": 7,
    "max_tokens": 50,
    "response_format": {"type": "json_object"},
}


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    """The light path is the default only where no proxy is set; the host's own must not decide."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def _outcome(result: object) -> object:
    return result if isinstance(result, bytes) else result.content  # type: ignore[attr-defined]


async def _both(base_url: str, timeout: float = 5.0, light: bool = True) -> tuple[object, object]:
    """(what ChatPoster.post gives, what the SDK's create gives): bytes or the exception raised."""
    http = DefaultAsyncHttpxClient()
    client = AsyncOpenAI(api_key=KEY, base_url=base_url, max_retries=0, http_client=http)
    poster = ChatPoster(client, http, KEY)
    assert (poster.pool is not None) is light
    out: list[object] = []
    try:
        for call in (
            lambda: poster.post(BODY, timeout),
            lambda: client.chat.completions.with_raw_response.create(**BODY, timeout=timeout),
        ):
            try:
                out.append(_outcome(await call()))
            except openai.OpenAIError as err:
                out.append(err)
    finally:
        poster.close()
        await client.close()
    return out[0], out[1]


def _same_answer(ours: object, sdk: object) -> None:
    assert isinstance(ours, bytes) and isinstance(sdk, bytes)
    a, b = json.loads(ours), json.loads(sdk)
    for volatile in ("id", "created"):  # the server numbers and dates each answer
        a.pop(volatile), b.pop(volatile)
    assert a == b and a["choices"][0]["message"]["content"]


def test_the_same_body_and_headers_reach_the_server():
    """The pool sends the body the SDK sends and the headers the client's HTTP client sends."""

    async def post_both_paths(base_url: str) -> None:
        http = DefaultAsyncHttpxClient()
        client = AsyncOpenAI(
            api_key=KEY,
            base_url=base_url,
            max_retries=0,
            http_client=http,
            organization="org-1",
            project="proj-1",
        )
        light, through_client = ChatPoster(client, http, KEY), ChatPoster(client, http, KEY)
        through_client.pool = None  # as behind a proxy: the client's own HTTP client
        for poster in (light, through_client):
            await poster.post(BODY, 5.0)
        await client.chat.completions.with_raw_response.create(**BODY)
        light.close()
        await client.close()

    with ScriptedServer() as srv:
        asyncio.run(post_both_paths(srv.base_url))
    assert srv.bodies[0] == srv.bodies[1] == srv.bodies[2] == BODY
    ours, before = ({k.lower(): v for k, v in h} for h in srv.headers[:2])
    # httpx2 also asks for br and zstd where brotli or zstandard is installed; the pool never does
    assert ours.pop("accept-encoding") == "gzip, deflate" and before.pop("accept-encoding").startswith(
        "gzip, deflate"
    )
    assert ours == before
    assert ours["authorization"] == f"Bearer {KEY}"
    assert (ours["openai-organization"], ours["openai-project"]) == ("org-1", "proj-1")
    assert ours["user-agent"].startswith("AsyncOpenAI/Python")
    assert ours["host"] == f"127.0.0.1:{srv.port}"
    assert ours["content-length"] == str(len(json.dumps(BODY)))


@pytest.mark.parametrize(
    "reply",
    [
        Reply("status", 400),
        Reply("status", 429, headers={"retry-after": "3"}),
        Reply("status", 429, error_code="insufficient_quota"),
        Reply("status", 500),
        Reply("echo_key"),
        Reply("status", 429, headers={"retry-after-ms": "250"}, encoding="gzip", framing="chunked"),
        Reply("status", 503, framing="close"),
    ],
    ids=["400", "429-retry-after", "429-quota", "500", "401-echo", "429-gzip-chunked", "503-until-close"],
)
def test_status_errors_are_the_clients_own(reply):
    with ScriptedServer(lambda body, n: reply) as srv:
        ours, sdk = asyncio.run(_both(srv.base_url))
    assert isinstance(ours, openai.APIStatusError) and type(ours) is type(sdk)
    assert (ours.status_code, ours.message, ours.code, ours.body) == (
        sdk.status_code,
        sdk.message,
        sdk.code,
        sdk.body,
    )
    for name in ("retry-after", "retry-after-ms"):
        assert ours.response.headers.get(name) == sdk.response.headers.get(name)


@pytest.mark.parametrize(
    "reply",
    [
        Reply(framing="chunked"),
        Reply(framing="close"),
        Reply(encoding="gzip"),
        Reply(encoding="deflate", framing="chunked"),
        Reply("raw", body=b"<html>busy</html>"),
    ],
    ids=["chunked", "until-close", "gzip", "deflate-chunked", "html-200"],
)
def test_every_framing_gives_the_body_the_sdk_gets(reply):
    with ScriptedServer(lambda body, n: reply) as srv:
        ours, sdk = asyncio.run(_both(srv.base_url))
    if reply.kind == "raw":
        assert ours == sdk == reply.body
    else:
        _same_answer(ours, sdk)


def test_timeouts_and_refused_connections_are_the_clients_own():
    with ScriptedServer(lambda body, n: Reply(delay=1.0)) as srv:
        ours, sdk = asyncio.run(_both(srv.base_url, timeout=0.2))
    assert type(ours) is type(sdk) is openai.APITimeoutError and str(ours) == str(sdk)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ours, sdk = asyncio.run(_both(f"http://127.0.0.1:{port}/v1"))
    assert type(ours) is type(sdk) is openai.APIConnectionError and str(ours) == str(sdk)


@pytest.mark.parametrize("kind", ["drop", "garbage"])
def test_dropped_connections_and_non_http_answers_are_connection_errors(kind):
    with ScriptedServer(lambda body, n: Reply(kind)) as srv:
        ours, sdk = asyncio.run(_both(srv.base_url))
    assert type(ours) is type(sdk) is openai.APIConnectionError and str(ours) == str(sdk)


def test_connections_are_reused_and_a_late_answer_never_reaches_the_next_request():
    """Keep-alive: one connection for sequential requests; a timed-out one is closed, not reused."""
    script = [Reply("text", content=f"answer {i}") for i in range(3)]
    script += [Reply("text", content="late", delay=0.6), Reply("text", content="on time")]

    async def run(base_url: str) -> list[object]:
        http = DefaultAsyncHttpxClient()
        client = AsyncOpenAI(api_key=KEY, base_url=base_url, max_retries=0, http_client=http)
        poster = ChatPoster(client, http, KEY)
        got: list[object] = []
        for timeout in (5.0, 5.0, 5.0, 0.2, 5.0):
            try:
                got.append(json.loads(await poster.post(BODY, timeout))["choices"][0]["message"]["content"])
            except openai.APITimeoutError as err:
                got.append(type(err))
        poster.close()
        await client.close()
        return got

    with ScriptedServer(lambda body, n: script[n]) as srv:
        got = asyncio.run(run(srv.base_url))
    assert got == ["answer 0", "answer 1", "answer 2", openai.APITimeoutError, "on time"]
    assert len(set(srv.peers[:4])) == 1  # the first four on one connection
    assert srv.peers[4] != srv.peers[3]  # the timed-out one was closed


def test_a_proxy_in_the_environment_is_honoured_through_the_clients_path(monkeypatch):
    """With HTTP_PROXY set the request goes through the proxy, as the client sends it.

    The scripted server is the proxy here (it answers an absolute-form request like any other)
    and the base URL is a port nothing listens on: only a proxied request can succeed.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    with ScriptedServer() as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        ours, sdk = asyncio.run(_both(f"http://127.0.0.1:{dead}/v1", light=False))
    _same_answer(ours, sdk)
    assert proxy.total == 2


@pytest.fixture(scope="module")
def certfile(tmp_path_factory) -> Path:
    """A self-signed certificate for 127.0.0.1 (key and certificate in one PEM), made by openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    pem = tmp_path_factory.mktemp("tls") / "server.pem"
    key = pem.with_suffix(".key")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(pem.with_suffix(".crt"))],
        check=True, capture_output=True,
    )  # fmt: skip
    pem.write_bytes(key.read_bytes() + pem.with_suffix(".crt").read_bytes())
    return pem


def test_https_is_verified_as_the_client_verifies_it(certfile, monkeypatch):
    """TLS through the client's own SSL settings: SSL_CERT_FILE trusts the server, nothing else does."""
    with ScriptedServer(certfile=str(certfile)) as srv:
        assert srv.base_url.startswith("https://")
        ours, sdk = asyncio.run(_both(srv.base_url))
        assert type(ours) is type(sdk) is openai.APIConnectionError  # self-signed: not trusted
        monkeypatch.setenv("SSL_CERT_FILE", str(certfile.with_suffix(".crt")))
        ours, sdk = asyncio.run(_both(srv.base_url))
    _same_answer(ours, sdk)


FAULTS = [
    Reply("status", 429, headers={"retry-after": "0"}),
    Reply("status", 500, framing="chunked"),
    Reply(delay=4.0),  # slower than the run's timeout
    Reply("drop"),
    Reply("garbage"),
    Reply("text", content='{"description": "cut'),  # malformed JSON: repaired
    Reply("status", 400),  # never retried
    Reply(encoding="gzip", framing="close"),
]


def _stored(cache: Path) -> tuple[list[tuple], list[tuple]]:
    """Every stored answer and every logged attempt, in key order: what a run leaves on disk."""
    conn = sqlite3.connect(cache)
    try:
        generations = conn.execute(
            "SELECT request_key, status, parsed_json, finish_reason, tokens_input, tokens_output "
            "FROM generations ORDER BY request_key"
        ).fetchall()
        attempts = conn.execute(
            "SELECT request_key, attempt_no, http_status, error_type, error_message, retry_after_s "
            "FROM attempts ORDER BY request_key, attempt_no"
        ).fetchall()
    finally:
        conn.close()
    return generations, attempts


def test_a_run_stores_the_same_results_on_both_paths(tmp_path, monkeypatch):
    """generate through the pool and through the client's HTTP client (a proxy set) stores alike."""
    # generous: a loaded CI machine once took over 0.5 s to answer an ordinary request
    settings = dataclasses.replace(FAST, timeout=2.0)
    selection = select_classes("msr-action3d", class_ids=[1, 2, 3, 4, 5, 6])
    planned = build_plan(selection, make_backend("scripted", "server", "http://x/v1"), GenParams(), 1)
    # every fault, for the same requests on both runs
    fault_of = {p.chat.seed: FAULTS[i % len(FAULTS)] for i, p in enumerate(planned.requests)}

    def script(body: dict, seen: int) -> Reply:
        return fault_of.get(body["seed"], Reply()) if seen == 0 else Reply()  # repairs: answered

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    results = {}
    for path in ("pool", "client"):
        with ScriptedServer(script) as srv:
            base_url = srv.base_url
            if path == "client":  # only through the proxy (the server itself) can requests arrive
                monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{srv.port}")
                base_url = f"http://127.0.0.1:{dead}/v1"
            backend = make_backend("scripted", "server", base_url, json_mode="json_schema")
            plan = build_plan(selection, backend, GenParams(), 1)
            summary = generate(plan, backend, tmp_path / f"{path}.db", settings, {"test": True})
            assert summary.sent == 12 and srv.total > 12
        results[path] = _stored(tmp_path / f"{path}.db")
    generations, attempts = results["pool"]
    assert (generations, attempts) == results["client"]
    assert {g[1] for g in generations} == {"ok", "failed"}
    assert {a[2] for a in attempts} >= {429, 500, 400, 200, None}


def test_one_poster_serves_one_event_loop_after_another():
    """Connections kept from a finished ``asyncio.run`` are not reused by the next one."""
    with ScriptedServer() as srv:
        http = DefaultAsyncHttpxClient()
        client = AsyncOpenAI(api_key=KEY, base_url=srv.base_url, max_retries=0, http_client=http)
        poster = ChatPoster(client, http, KEY)
        first = asyncio.run(poster.post(BODY, 5.0))
        second = asyncio.run(poster.post(BODY, 5.0))
    _same_answer(first, second)
    assert srv.peers[0] != srv.peers[1]


def test_a_redirect_is_followed_as_the_client_follows_it():
    """The pool does not follow a 3xx; the request is sent again through the client, which does."""

    def script(body: dict, seen: int) -> Reply:
        # the pool's POST, then the client's to the same URL: both redirected; then /v2 answers
        return Reply("status", 307, headers={"Location": "/v2/chat/completions"}) if seen < 2 else Reply()

    async def run(base_url: str) -> bytes:
        http = DefaultAsyncHttpxClient()
        client = AsyncOpenAI(api_key=KEY, base_url=base_url, max_retries=0, http_client=http)
        poster = ChatPoster(client, http, KEY)
        assert poster.pool is not None
        try:
            return await poster.post(BODY, 5.0)
        finally:
            poster.close()
            await client.close()

    with ScriptedServer(script) as srv:
        answer = json.loads(asyncio.run(run(srv.base_url)))
    assert answer["choices"][0]["message"]["content"] and srv.total == 3
    assert srv.bodies == [BODY] * 3  # a 307 keeps the method and the body


@pytest.mark.parametrize(
    ("env", "base_url", "light"),
    [
        ({}, "https://api.openai.com/v1", True),
        ({"HTTPS_PROXY": "http://proxy:3128"}, "https://api.openai.com/v1", False),
        ({"https_proxy": "http://proxy:3128"}, "http://127.0.0.1:8000/v1", True),  # not this scheme's
        ({"all_proxy": "http://proxy:3128"}, "http://127.0.0.1:8000/v1", False),
        ({"HTTP_PROXY": "http://proxy:3128", "NO_PROXY": "127.0.0.1"}, "http://127.0.0.1:8000/v1", False),
        ({}, "http://user:secret@127.0.0.1:8000/v1", False),
        ({}, "http://127.0.0.1:8000/v1?api-version=1", False),
    ],
    ids=[
        "hosted",
        "https-proxy",
        "other-scheme",
        "all-proxy",
        "no-proxy-still-client",
        "credentials",
        "query",
    ],
)
def test_which_path_a_base_url_takes(env, base_url, light, monkeypatch):
    """The pool only where it does what the client does (docs/TEXTGEN.md, "How requests leave")."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    async def build() -> bool:
        http = DefaultAsyncHttpxClient()
        client = AsyncOpenAI(api_key=KEY, base_url=base_url, max_retries=0, http_client=http)
        light_path = ChatPoster(client, http, KEY).pool is not None
        await client.close()
        return light_path

    assert asyncio.run(build()) is light
