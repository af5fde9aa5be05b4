"""The hot loop's request path: a chat completion POSTed without the ``openai`` SDK's machinery.

``client.chat.completions.create`` spends most of a request's client CPU around the HTTP call:
it converts the parameters through their type definitions, builds per-request options,
headers and an idempotency key, and wraps the response; its HTTP client (httpx2 over
httpcore2 and h11) costs about 1 ms a request more at concurrency 64 (docs/BENCHMARKS.md,
"Measured": client CPU per request). The parameters here are plain JSON already and the body
is parsed by :func:`crossglg.textgen.backends.base.completion_from_body`, so that work buys
nothing.

:class:`ChatPoster` sends the same JSON with the client's own headers through a small
keep-alive pool (:mod:`crossglg.textgen.backends.keepalive`), and through the ``httpx2``
client the ``openai`` client was built with (``http_client=``) wherever that pool would not
do what the client does: a proxy set in the environment (``HTTPS_PROXY``, ``ALL_PROXY``, …,
whatever ``NO_PROXY`` says), credentials or a query in the base URL, and redirects (a 3xx
answer is sent again through the client, which follows it). Either way every failure becomes
the exception the client itself raises for it: ``APITimeoutError``, ``APIConnectionError``
(refused, dropped or TLS-failed connections, bytes that are no HTTP answer), and for a non-2xx
answer the client's own status error (``RateLimitError`` with its ``code``, the server's
message, the headers Retry-After is read from), so what the backend stores and retries is the
same on both paths (docs/TEXTGEN.md, "How requests leave: the client's cost per request").
"""

from __future__ import annotations

import asyncio
import json
import ssl
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from crossglg.textgen.backends.keepalive import KeepAlivePool, ProtocolError, pool_target


class ChatPoster:
    """POST ``/chat/completions`` for one ``AsyncOpenAI`` client and the HTTP client it was given."""

    def __init__(self, client: Any, http: Any, api_key: str) -> None:
        self.client = client
        self.http = http
        self.url = str(client.base_url).rstrip("/") + "/chat/completions"
        headers = {k: v for k, v in client.default_headers.items() if isinstance(v, str)}  # Omit() = unset
        headers["Authorization"] = f"Bearer {api_key}"
        self.headers = headers
        self.pool: KeepAlivePool | None = None
        if pool_target(self.url, headers) and not proxied(self.url):
            import httpx2

            https = self.url.startswith("https:")
            # the TLS settings the client's own HTTP client has (CA bundle, SSL_CERT_FILE/DIR)
            context = httpx2.create_ssl_context() if https else None
            self.pool = KeepAlivePool(self.url, headers, context)

    async def post(self, body: dict[str, Any], timeout: float) -> bytes:
        """The raw body of a 2xx reply; otherwise the exception the openai client raises."""
        data = json.dumps(body).encode()
        if self.pool is None:
            return await self._post_through_client(data, timeout)
        import openai

        try:
            response = await self.pool.post(data, timeout)
        except (TimeoutError, asyncio.TimeoutError) as err:  # one class from Python 3.11
            raise openai.APITimeoutError(request=self._request()) from err
        except (OSError, ProtocolError) as err:
            raise openai.APIConnectionError(request=self._request()) from err
        if 200 <= response.status < 300:
            return response.body
        if 300 <= response.status < 400:  # the client follows redirects; the pool does not
            return await self._post_through_client(data, timeout)
        import httpx2

        headers = [(k, v) for k, v in response.headers if k.lower() != "content-encoding"]  # body decoded
        raw = httpx2.Response(
            response.status, headers=headers, content=response.body, request=self._request()
        )
        raise self.client._make_status_error_from_response(raw)

    async def _post_through_client(self, data: bytes, timeout: float) -> bytes:
        import anyio
        import httpx2
        import openai

        try:
            response = await self.http.post(self.url, content=data, headers=self.headers, timeout=timeout)
        except httpx2.TimeoutException as err:
            raise openai.APITimeoutError(request=_request_of(err)) from err
        except (httpx2.RequestError, ssl.SSLError, anyio.EndOfStream) as err:
            raise openai.APIConnectionError(request=_request_of(err)) from err
        if response.is_success:
            return response.content
        raise self.client._make_status_error_from_response(response)

    def _request(self) -> Any:
        import httpx2

        return httpx2.Request("POST", self.url, headers=self.headers)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()


def proxied(url: str) -> bool:
    """Whether the environment sends ``url`` through a proxy, read as the httpx2 client reads it.

    ``urllib.request.getproxies`` (what httpx2 reads too) gives the ``*_proxy`` variables in
    either case; a host ``NO_PROXY`` exempts still takes the client's path, which then goes
    direct: slower, never wrong.
    """
    proxies = urllib.request.getproxies()
    return bool(proxies.get(urlsplit(url).scheme) or proxies.get("all"))


def _request_of(err: Exception) -> Any:
    """The request an httpx2 error carries (its property raises when there is none)."""
    try:
        return err.request  # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):
        return None
