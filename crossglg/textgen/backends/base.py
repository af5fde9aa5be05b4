"""The one interface every LLM backend implements, and the errors the runner acts on.

The runner owns retries, timeouts, concurrency and the cache; a backend only turns one
chat request into one :class:`Completion`, or raises one of the three errors below so the
runner knows whether to wait and retry, give up on this request, or stop dispatching.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from crossglg.cache.sanitize import clean_message, valid_text
from crossglg.textgen.backends.families import DEFAULT_MAX_TOKENS, sampling_params


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
    reasoning_effort: str | None = None


@dataclass
class Completion:
    """One answer, with what provenance needs (resolved model, fingerprint, token counts).

    The boundary where answers enter: every string is made valid Unicode here (a lone
    surrogate becomes U+FFFD), whichever backend built it, so no answer can fail the batch
    it is committed with.
    """

    text: str | None
    finish_reason: str | None
    refusal: str | None = None
    resolved_model: str | None = None
    system_fingerprint: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0  # part of output_tokens: what a reasoning model spent thinking

    def __post_init__(self) -> None:
        for name in ("text", "finish_reason", "refusal", "resolved_model", "system_fingerprint"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, valid_text(value))


class RetryableError(Exception):
    """Timeouts, connection errors, 408/409/429/5xx, malformed bodies: waiting may help.

    ``retry_after`` is the server's own hint in seconds (None when it gave none);
    ``rate_limited`` tells the runner to pause *new* dispatch for everyone. Like the other
    two errors, the message is cleaned of secrets a server may echo (an API key).
    """

    def __init__(
        self, message: str, http_status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(clean_message(message))
        self.http_status = http_status
        self.retry_after = retry_after

    @property
    def rate_limited(self) -> bool:
        return self.http_status == 429


class RequestFailed(Exception):
    """400/401/403/404/422 and the like: this request can never succeed as sent; no retry."""

    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(clean_message(message))
        self.http_status = http_status


class InvalidRequest(Exception):
    """The server refuses a parameter of ours (crossglg.textgen.backends.rejections): every
    request of the run would be refused alike, so none is retried or stored as a failure;
    the run stops and says once which parameter, and why."""

    def __init__(self, parameter: str, reason: str, http_status: int | None = None) -> None:
        super().__init__(clean_message(f"HTTP {http_status}: {parameter}: {reason}"))
        self.parameter = parameter
        self.reason = clean_message(reason)
        self.http_status = http_status


class StopRun(Exception):
    """Waiting cannot help anyone (e.g. 429 ``insufficient_quota``): stop dispatching new requests."""

    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(clean_message(message))
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
    #: True while ``json_mode`` is a guess the server should confirm (``--json-mode auto``
    #: against a served model: see crossglg.textgen.negotiate)
    negotiable: bool = False
    #: most requests this backend can usefully take at once (None: the user's --concurrency)
    max_concurrency: int | None = None
    #: the backend batches requests itself (in-process vLLM): the runner hands it every request
    #: of the run at once, whatever --concurrency says
    in_process_batches: bool = False
    model: str = ""
    revision: str = ""
    #: --max-tokens when not given (a reasoning model spends part of it thinking)
    default_max_tokens: int = DEFAULT_MAX_TOKENS

    @property
    def source(self) -> str:
        return f"{self.kind}:{self.model}"

    @property
    def recorded_revision(self) -> str:
        """The weights' revision as stored with each request: ``revision``, or one that is known
        but kept out of the key so that runs made before it was read keep their keys."""
        return self.revision

    @property
    def low_quality_notice(self) -> str | None:
        """A line to print once per run when this backend's text is not fit for research."""
        return None

    @property
    def endpoint_note(self) -> str | None:
        """A line to print when where requests go was decided by the environment, not a flag."""
        return None

    def sampling_params(
        self, temperature: float, top_p: float, max_tokens: int, reasoning_effort: str | None = None
    ) -> dict[str, Any]:
        """The sampling settings this backend sends, as they enter the cache key (see families)."""
        return sampling_params("", temperature, top_p, max_tokens, reasoning_effort)

    @property
    def family_note(self) -> str | None:
        """A line to print when the model's family changes what is sent (reasoning models)."""
        return None

    def prepare(self) -> None:
        """Fail fast with a UserError (missing key, missing package) before anything is sent."""
        return None

    async def complete(self, request: ChatRequest, timeout: float) -> Completion:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


class MalformedResponse(RetryableError):
    """A 200 reply that is not a chat completion (an HTML page, bytes, no choices): retried,
    then stored as a failure like any other error."""


def _snippet(data: str | bytes) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = " ".join(text.split())
    return repr(text[:80] + ("…" if len(text) > 80 else ""))


def decode_body(data: bytes) -> Any:
    """The JSON value of a response body; anything else is a :class:`MalformedResponse`."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise MalformedResponse(f"response body is not UTF-8 (byte {err.start}): {_snippet(data)}") from None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise MalformedResponse(f"response body is not JSON: {_snippet(text)}") from None


def _count(value: Any) -> int:
    """A token count as reported, or 0 when it is not a plausible one (SQLite stores 64 bits)."""
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53
    return value if ok else 0


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _content_text(content: Any) -> str | None:
    """``message.content``: a string, null, or a list of content parts whose texts are joined."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            text = part if isinstance(part, str) else part.get("text") if isinstance(part, dict) else None
            if not isinstance(text, str):
                raise MalformedResponse(f"message content part is not text: {_snippet(json.dumps(part))}")
            texts.append(text)
        return "".join(texts)
    raise MalformedResponse(f"message content is a {type(content).__name__}, not text")


def completion_from_body(body: Any, model: str | None = None) -> Completion:
    """A :class:`Completion` from a decoded chat-completion body, checking every field it reads.

    Total: any body yields a Completion or a :class:`MalformedResponse`, never a
    ``KeyError``/``IndexError``/``AttributeError`` that would end the run.
    """
    if not isinstance(body, dict):
        raise MalformedResponse(f"response is a JSON {type(body).__name__}, not an object")
    error = body.get("error")
    if error:
        message = error.get("message") if isinstance(error, dict) else error
        raise MalformedResponse(f"status 200 with an error: {_snippet(str(message))}")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        raise MalformedResponse("response has no choices")
    choice = choices[0]
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(message, dict):
        raise MalformedResponse("response choice has no message")
    usage = _mapping(body.get("usage"))
    details = _mapping(usage.get("prompt_tokens_details"))
    return Completion(
        text=_content_text(message.get("content")),
        finish_reason=_optional_str(choice.get("finish_reason")),
        refusal=_optional_str(message.get("refusal")),
        resolved_model=_optional_str(body.get("model")) or model,
        system_fingerprint=_optional_str(body.get("system_fingerprint")),
        input_tokens=_count(usage.get("prompt_tokens")),
        output_tokens=_count(usage.get("completion_tokens")),
        cached_tokens=_count(details.get("cached_tokens")),
        reasoning_tokens=_count(_mapping(usage.get("completion_tokens_details")).get("reasoning_tokens")),
    )
