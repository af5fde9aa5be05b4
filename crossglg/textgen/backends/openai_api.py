"""The hosted OpenAI API and any OpenAI-compatible server (vLLM, llama.cpp, Ollama) via ``openai``.

One code path for both (docs/TEXTGEN.md, "Any OpenAI-compatible server (vLLM, llama.cpp, Ollama)"): only the base URL and the key differ. The client is
built with ``max_retries=0`` because the runner's tenacity policy owns retries; otherwise
attempts multiply (docs/TEXTGEN.md, "Reliability: what happens when things go wrong"). The body of a 200 reply is parsed here, not by the
client, so that an HTML page or a body without choices is a retry, never a crash.

Provenance follows the endpoint actually used: the ``openai`` client also reads
``OPENAI_BASE_URL``, so with it set a plain ``--llm gpt-4o`` talks to that server and its
answers are recorded as ``server:gpt-4o``, never under the hosted API's keys (docs/TEXTGEN.md).

What is sent follows the model's family (crossglg.textgen.backends.families); a refused
parameter ends the run once instead of failing every request (crossglg.textgen.backends.rejections).
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
    InvalidRequest,
    RequestFailed,
    RetryableError,
    StopRun,
    completion_from_body,
    decode_body,
)
from crossglg.textgen.backends.families import (
    default_max_tokens,
    is_reasoning_model,
    request_fields,
    sampling_params,
)
from crossglg.textgen.backends.rejections import rejected_parameter

RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}
# structured-output modes, strongest first: what `--json-mode auto` tries against a server
JSON_MODES = ("json_schema", "json_object_schema", "json_object", "prompt")
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
        # a served model's structured output is asked of the server, not guessed from its name
        self.negotiable = json_mode is None and self.kind == "server"
        self.default_max_tokens = default_max_tokens(model)
        self._client: Any = None
        self._poster: Any = None

    @property
    def endpoint_note(self) -> str | None:
        """Said once per run when OPENAI_BASE_URL, not --base-url, chose the server."""
        if self.env_base_url and self.kind == "server":
            return (
                f"note: OPENAI_BASE_URL={self.env_base_url} is set: requests go there and answers are "
                f"recorded as {self.source}, not as hosted openai:{self.model}"
            )
        return None

    def _credentials(self) -> tuple[str, str]:
        key = os.environ.get("OPENAI_API_KEY")
        if not key:
            if self.base_url is None:
                raise UserError("OPENAI_API_KEY is not set: export it, or pass --base-url for a local server")
            key = "not-needed"  # local servers want *some* string and do not check it
        return key, self.base_url or HOSTED_URL  # never the environment's URL: see the class doc

    @property
    def family_note(self) -> str | None:
        if not is_reasoning_model(self.model):
            return None
        return (
            f"note: {self.model} is a reasoning model: it is sent no temperature or top_p (they are not in "
            "its keys either), and --max-tokens (default "
            f"{self.default_max_tokens}) is sent as max_completion_tokens and counts its reasoning tokens"
        )

    def _get_client(self) -> Any:
        if self._client is None:
            from openai import AsyncOpenAI, DefaultAsyncHttpxClient

            from crossglg.textgen.backends.chat_post import ChatPoster

            key, base_url = self._credentials()
            http = DefaultAsyncHttpxClient()  # held here too: the hot loop posts through it
            self._client = AsyncOpenAI(api_key=key, base_url=base_url, max_retries=0, http_client=http)
            self._poster = ChatPoster(self._client, http, key)
        return self._client

    def sync_client(self, timeout: float = 120.0) -> Any:
        """A blocking client for the Files and Batches endpoints (crossglg.textgen.batch).

        The SDK's own retries (2, with backoff) are kept here: every batch call is either a
        read or reconciled by name before it is repeated, so a retry cannot submit twice.
        """
        from openai import OpenAI

        key, base_url = self._credentials()
        return OpenAI(api_key=key, base_url=base_url, timeout=timeout)

    def prepare(self) -> None:
        self._get_client()

    def sampling_params(
        self, temperature: float, top_p: float, max_tokens: int, reasoning_effort: str | None = None
    ) -> dict[str, Any]:
        return sampling_params(self.model, temperature, top_p, max_tokens, reasoning_effort)

    @staticmethod
    def _response_format(request: ChatRequest, json_mode: str) -> dict[str, Any] | None:
        if json_mode == "json_schema":
            return {
                "type": "json_schema",
                "json_schema": {"name": request.schema_name, "schema": request.schema, "strict": True},
            }
        if json_mode == "json_object":
            return {"type": "json_object"}
        if json_mode == "json_object_schema":  # llama.cpp's servers: JSON mode + schema grammar
            return {"type": "json_object", "schema": request.schema}
        return None

    def request_body(self, request: ChatRequest, json_mode: str | None = None) -> dict[str, Any]:
        """The chat-completion body for ``request``: what is sent live and what a batch file holds.

        ``json_mode`` other than the backend's own is for the negotiation's probes only.
        """
        sampling = self.sampling_params(
            request.temperature, request.top_p, request.max_tokens, request.reasoning_effort
        )
        body: dict[str, Any] = {
            "model": self.model,
            "messages": request.messages,
            **request_fields(self.model, sampling, hosted=self.base_url is None),
            "seed": request.seed,
        }
        fmt = self._response_format(request, self.json_mode if json_mode is None else json_mode)
        if fmt is not None:
            body["response_format"] = fmt
        return body

    async def complete(self, request: ChatRequest, timeout: float) -> Completion:
        return await self.send(request, self.json_mode, timeout)

    async def send(self, request: ChatRequest, json_mode: str, timeout: float) -> Completion:
        """One chat request with ``json_mode``'s response_format (a probe may try another mode)."""
        import openai

        client = self._get_client()
        try:
            data = await self._send(client, self.request_body(request, json_mode), timeout)
        except openai.APITimeoutError as err:
            raise RetryableError(f"timed out after {timeout:g} s") from err
        except openai.APIConnectionError as err:
            raise RetryableError(f"connection error: {err}") from err
        except openai.APIStatusError as err:
            status = err.status_code
            rejection = rejected_parameter(err.body)
            if rejection is not None:  # whatever the status: the same for every request
                raise InvalidRequest(rejection.parameter, rejection.reason, status) from err
            message = f"HTTP {status}: {err.message}"
            if status == 429 and getattr(err, "code", None) == "insufficient_quota":
                raise StopRun(message, status) from err
            if status in RETRYABLE_STATUS or status >= 500:
                raise RetryableError(message, status, parse_retry_after(err.response.headers)) from err
            raise RequestFailed(message, status) from err
        return completion_from_body(decode_body(data), self.model)

    async def _send(self, client: Any, body: dict[str, Any], timeout: float) -> bytes:
        """POST one chat completion; the raw body comes back, or the client's own exception.

        Through :class:`~crossglg.textgen.backends.chat_post.ChatPoster`: a keep-alive pool
        without the SDK's per-request machinery or its HTTP client, the client's HTTP client
        behind a proxy (bench/textgen.py measures the paths side by side). The body is built
        by :meth:`request_body` and parsed by :func:`completion_from_body`, as before.
        """
        return await self._poster.post(body, timeout)

    async def aclose(self) -> None:
        if self._client is not None:
            self._poster.close()
            await self._client.close()  # closes the HTTP client it was given too
            self._client = self._poster = None
