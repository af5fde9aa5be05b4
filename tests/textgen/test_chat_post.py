"""The light request path sends what the SDK's typed ``create`` sends and fails as it fails.

The oracle is the ``openai`` client's own ``chat.completions.create`` against the same scripted
server: same JSON body, same exception type, status, message, code and headers for every
error the runner acts on (docs/TEXTGEN.md, "Reliability").
"""

from __future__ import annotations

import asyncio
import socket

import openai
import pytest
from openai import AsyncOpenAI, DefaultAsyncHttpxClient

from crossglg.textgen.backends.chat_post import ChatPoster
from crossglg.textgen.testing_server import Reply, ScriptedServer

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


async def _both(base_url: str, timeout: float = 5.0) -> tuple[object, object]:
    """(what ChatPoster.post gives, what the SDK's create gives): bytes or the exception raised."""
    http = DefaultAsyncHttpxClient()
    client = AsyncOpenAI(api_key=KEY, base_url=base_url, max_retries=0, http_client=http)
    poster = ChatPoster(client, http, KEY)
    out: list[object] = []
    try:
        for call in (
            lambda: poster.post(BODY, timeout),
            lambda: client.chat.completions.with_raw_response.create(**BODY, timeout=timeout),
        ):
            try:
                result = await call()
                out.append(result if isinstance(result, bytes) else result.content)
            except openai.OpenAIError as err:
                out.append(err)
    finally:
        await client.close()
    return out[0], out[1]


def test_the_same_body_and_headers_reach_the_server():
    seen: list[dict] = []
    with ScriptedServer(lambda body, n: (seen.append(body), Reply())[1]) as srv:
        ours, sdk = asyncio.run(_both(srv.base_url))
    assert seen[0] == seen[1] == BODY
    assert isinstance(ours, bytes) and isinstance(sdk, bytes) and b'"choices"' in ours


@pytest.mark.parametrize(
    "reply",
    [
        Reply("status", 400),
        Reply("status", 429, headers={"retry-after": "3"}),
        Reply("status", 429, error_code="insufficient_quota"),
        Reply("status", 500),
        Reply("echo_key"),
    ],
    ids=["400", "429-retry-after", "429-quota", "500", "401-echo"],
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
    assert ours.response.headers.get("retry-after") == sdk.response.headers.get("retry-after")


def test_timeouts_and_refused_connections_are_the_clients_own():
    with ScriptedServer(lambda body, n: Reply(delay=1.0)) as srv:
        ours, sdk = asyncio.run(_both(srv.base_url, timeout=0.2))
    assert type(ours) is type(sdk) is openai.APITimeoutError and str(ours) == str(sdk)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ours, sdk = asyncio.run(_both(f"http://127.0.0.1:{port}/v1"))
    assert type(ours) is type(sdk) is openai.APIConnectionError and str(ours) == str(sdk)
