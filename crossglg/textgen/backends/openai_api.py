"""The hosted OpenAI API and any OpenAI-compatible server (vLLM, llama.cpp, Ollama) via ``openai``.

One code path for both (docs/TEXTGEN.md, "Any OpenAI-compatible server (vLLM, llama.cpp, Ollama)"): only the base URL and the key differ. The client is
built with ``max_retries=0`` because the runner's tenacity policy owns retries; otherwise
attempts multiply (docs/TEXTGEN.md, "Reliability: what happens when things go wrong"). The body of a 200 reply is parsed here, not by the
client, so that an HTML page or a body without choices is a retry, never a crash.

Provenance follows the endpoint actually used: the ``openai`` client also reads
``OPENAI_BASE_URL``, so with it set a plain ``--llm gpt-4o`` talks to that server and its
answers are recorded as ``server:gpt-4o``, never under the hosted API's keys (docs/TEXTGEN.md).
"""

from __future__ import annotations

import email.utils
import os
import time
from typing import Any

from crossglg.errors import UserError
from crossglg.textgen.backends.base import (
    Backend,
    ChatRequest,
    Completion,
    RequestFailed,
    RetryableError,
    StopRun,
    completion_from_body,
    decode_body,
)

RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}
HOSTED_URL = "https://api.openai.com/v1"

# Hosted models that accept strict json_schema; older ones get JSON mode or a plain prompt.
_SCHEMA_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4")
_JSON_OBJECT_PREFIXES = ("gpt-4-turbo", "gpt-4-1106", "gpt-4-0125", "gpt-3.5-turbo")


def default_json_mode(model: str, hosted: bool) -> str:
    """The strongest structured-output mode the model is known to accept.

    Compatible servers (vLLM, llama.cpp, Ollama) all take ``json_schema``; on the hosted API
    the original ``gpt-4`` takes neither schema nor JSON mode, so it gets the prompt alone.
    """
    if not hosted or model.startswith(_SCHEMA_PREFIXES):
        return "json_schema"
    if model.startswith(_JSON_OBJECT_PREFIXES):
        return "json_object"
    return "prompt"


def parse_retry_after(headers: Any) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms``, then ``retry-after`` (seconds or HTTP date)."""
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        when = email.utils.parsedate_to_datetime(raw) if raw else None
        return max(0.0, when.timestamp() - time.time()) if when else None


class OpenAIBackend(Backend):
    """``kind`` is ``openai`` for the hosted API and ``server`` for a ``--base-url`` server.

    The base URL is deliberately not part of the identity: moving a server to another port
    must not invalidate its cache. Whether it is the hosted API is: without ``--base-url``
    the client's own ``OPENAI_BASE_URL`` decides where requests go, so it decides ``kind`` too.
    """

    def __init__(self, model: str, base_url: str | None = None, json_mode: str | None = None) -> None:
        if base_url is None:
            base_url = os.environ.get("OPENAI_BASE_URL") or None
            self.env_base_url = base_url
        else:
            self.env_base_url = None
        if base_url is not None and base_url.rstrip("/") == HOSTED_URL:
            base_url = None  # the hosted API spelled out: still the hosted API
        self.kind = "server" if base_url else "openai"
        self.model = model
        self.base_url = base_url
        self.json_mode = json_mode or default_json_mode(model, hosted=base_url is None)
        self._client: Any = None

    @property
    def endpoint_note(self) -> str | None:
        """Said once per run when OPENAI_BASE_URL, not --base-url, chose the server."""
        if self.env_base_url and self.kind == "server":
            return (
                f"note: OPENAI_BASE_URL={self.env_base_url} is set: requests go there and answers are "
                f"recorded as {self.source}, not as hosted openai:{self.model}"
            )
        return None

    def _get_client(self) -> Any:
        if self._client is None:
            from openai import AsyncOpenAI

            key = os.environ.get("OPENAI_API_KEY")
            if not key:
                if self.base_url is None:
                    raise UserError(
                        "OPENAI_API_KEY is not set: export it, or pass --base-url for a local server"
                    )
                key = "not-needed"  # local servers want *some* string and do not check it
            base_url = self.base_url or HOSTED_URL  # never the environment's: see the class doc
            self._client = AsyncOpenAI(api_key=key, base_url=base_url, max_retries=0)
        return self._client

    def prepare(self) -> None:
        self._get_client()

    def _response_format(self, request: ChatRequest) -> dict[str, Any] | None:
        if self.json_mode == "json_schema":
            return {
                "type": "json_schema",
                "json_schema": {"name": request.schema_name, "schema": request.schema, "strict": True},
            }
        if self.json_mode == "json_object":
            return {"type": "json_object"}
        if self.json_mode == "json_object_schema":  # llama.cpp's servers: JSON mode + schema grammar
            return {"type": "json_object", "schema": request.schema}
        return None

    async def complete(self, request: ChatRequest, timeout: float) -> Completion:
        import openai

        client = self._get_client()
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": request.messages,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "seed": request.seed,
            "timeout": timeout,
        }
        # the hosted API deprecated max_tokens; compatible servers may only know the old name
        kwargs["max_completion_tokens" if self.base_url is None else "max_tokens"] = request.max_tokens
        fmt = self._response_format(request)
        if fmt is not None:
            kwargs["response_format"] = fmt
        try:
            raw = await client.chat.completions.with_raw_response.create(**kwargs)
            data = raw.content
        except openai.APITimeoutError as err:
            raise RetryableError(f"timed out after {timeout:g} s") from err
        except openai.APIConnectionError as err:
            raise RetryableError(f"connection error: {err}") from err
        except openai.APIStatusError as err:
            status = err.status_code
            message = f"HTTP {status}: {err.message}"
            if status == 429 and getattr(err, "code", None) == "insufficient_quota":
                raise StopRun(message, status) from err
            if status in RETRYABLE_STATUS or status >= 500:
                raise RetryableError(message, status, parse_retry_after(err.response.headers)) from err
            raise RequestFailed(message, status) from err
        return completion_from_body(decode_body(data), self.model)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
