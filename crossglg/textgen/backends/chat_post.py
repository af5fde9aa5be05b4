"""The hot loop's request path: a chat completion POSTed through the ``openai`` client's own HTTP client.

``client.chat.completions.create`` spends most of a request's client CPU before the request
leaves: it converts the parameters through their type definitions, builds per-request
options, headers and an idempotency key, and wraps the response (about 2.5 ms of the 3.4 ms a
request cost; docs/BENCHMARKS.md). The parameters here are plain JSON already and the body is
parsed by :func:`crossglg.textgen.backends.base.completion_from_body`, so that work buys
nothing. :class:`ChatPoster` sends the same JSON, with the client's own headers, through the
``httpx2`` client the ``openai`` client was built with (``http_client=``), and turns every
failure into the exception the client itself raises for it: ``APITimeoutError``,
``APIConnectionError`` for the transport errors the client maps to it, and, for a non-2xx
reply, the client's own status error (``RateLimitError`` with its ``code``, the server's
message), so what the backend stores and retries is unchanged.
"""

from __future__ import annotations

import json
import ssl
from typing import Any


class ChatPoster:
    """POST ``/chat/completions`` for one ``AsyncOpenAI`` client and the HTTP client it was given."""

    def __init__(self, client: Any, http: Any, api_key: str) -> None:
        self.client = client
        self.http = http
        self.url = str(client.base_url).rstrip("/") + "/chat/completions"
        headers = {k: v for k, v in client.default_headers.items() if isinstance(v, str)}  # Omit() = unset
        headers["Authorization"] = f"Bearer {api_key}"
        self.headers = headers

    async def post(self, body: dict[str, Any], timeout: float) -> bytes:
        """The raw body of a 2xx reply; otherwise the exception the openai client raises."""
        import anyio
        import httpx2
        import openai

        try:
            response = await self.http.post(
                self.url, content=json.dumps(body).encode(), headers=self.headers, timeout=timeout
            )
        except httpx2.TimeoutException as err:
            raise openai.APITimeoutError(request=_request_of(err)) from err
        except (httpx2.RequestError, ssl.SSLError, anyio.EndOfStream) as err:
            raise openai.APIConnectionError(request=_request_of(err)) from err
        if response.is_success:
            return response.content
        raise self.client._make_status_error_from_response(response)


def _request_of(err: Exception) -> Any:
    """The request an httpx2 error carries (its property raises when there is none)."""
    try:
        return err.request  # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):
        return None
