"""The one interface every LLM backend implements, and the errors the runner acts on.

The runner owns retries, timeouts, concurrency and the cache; a backend only turns one
chat request into one :class:`Completion`, or raises one of the three errors below so the
runner knows whether to wait and retry, give up on this request, or stop dispatching.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ChatRequest:
    """What one call sends. ``schema`` is the answer's JSON schema (used as the backend allows)."""

    messages: list[dict[str, str]]
    temperature: float
    top_p: float
    max_tokens: int
    schema: dict[str, Any]
    schema_name: str
    seed: int


@dataclass
class Completion:
    """One answer, with what provenance needs (resolved model, fingerprint, token counts)."""

    text: str | None
    finish_reason: str | None
    refusal: str | None = None
    resolved_model: str | None = None
    system_fingerprint: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0


class RetryableError(Exception):
    """Timeouts, connection errors, 408/409/429/5xx: waiting may help.

    ``retry_after`` is the server's own hint in seconds (None when it gave none);
    ``rate_limited`` tells the runner to pause *new* dispatch for everyone.
    """

    def __init__(
        self, message: str, http_status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.retry_after = retry_after

    @property
    def rate_limited(self) -> bool:
        return self.http_status == 429


class RequestFailed(Exception):
    """400/401/403/404/422 and the like: this request can never succeed as sent; no retry."""

    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


class StopRun(Exception):
    """Waiting cannot help anyone (e.g. 429 ``insufficient_quota``): stop dispatching new requests."""

    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


class Backend:
    """Base class: subclasses set the identity fields and implement :meth:`complete`.

    ``source`` (e.g. ``openai:gpt-4``) names the texts in the cache's ``items``; together with
    ``revision`` it is the backend+model part of every cache key, so it must change whenever
    the weights do and must never contain a URL, port or key.
    """

    kind: str = ""
    #: ``json_schema`` (constrained decoding / strict schema), ``json_object`` (syntax only),
    #: ``json_object_schema`` (llama.cpp servers: JSON mode with a schema grammar) or
    #: ``prompt`` (no response_format at all: the prompt asks for JSON and we validate)
    json_mode: str = "json_schema"
    #: most requests this backend can usefully take at once (None: the user's --concurrency)
    max_concurrency: int | None = None
    model: str = ""
    revision: str = ""

    @property
    def source(self) -> str:
        return f"{self.kind}:{self.model}"

    @property
    def low_quality_notice(self) -> str | None:
        """A line to print once per run when this backend's text is not fit for research."""
        return None

    def prepare(self) -> None:
        """Fail fast with a UserError (missing key, missing package) before anything is sent."""
        return None

    async def complete(self, request: ChatRequest, timeout: float) -> Completion:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None
