"""Telling "this request is invalid as sent" apart from "the server had a bad moment".

A server that refuses a *parameter* (``response_format`` type ``json_schema``, ``temperature``
on a reasoning model) refuses it for every request of the run, whatever the HTTP status it
chose: llama.cpp's Python server answers a pydantic validation error with HTTP 500, Ollama
answers a schema it cannot compile with 500 too. Retrying such a request, or storing it as a
failure per request, only multiplies one mistake (docs/TEXTGEN.md, "Requests the server
refuses"). :func:`rejected_parameter` reads an error body and names the parameter when the
body says so; anything else (an overloaded server, a context-length error about the
messages of one request) is left to the usual retry and failure handling.

The bodies recognised, as the engines send them:

- OpenAI: ``{"error": {"message": "Unsupported parameter: 'temperature' is not supported with
  this model.", "type": "invalid_request_error", "param": "temperature", "code":
  "unsupported_parameter"}}`` (HTTP 400); ``unsupported_value`` likewise; and ``Invalid
  parameter: 'response_format' of type 'json_schema' is not supported with this model.``
- pydantic validation (llama.cpp's server, FastAPI apps): a ``detail`` list with ``loc`` /
  ``msg``, or its text inside ``error.message`` (``'loc': ('body', 'response_format', 'type')``).
- vLLM: ``{"object": "error", "message": "The provided JSON schema contains features not
  supported by xgrammar.", "type": "BadRequestError", "param": null, "code": 400}``.
- Ollama: ``{"error": {"message": "invalid JSON schema in format", "type": "api_error", ...}}``
  (HTTP 500), ``invalid format: ...``, ``invalid reasoning value: ...``, ``... does not support
  thinking``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

# parameters whose rejection is about one request's content, not about how we ask
_PER_REQUEST = ("messages", "input", "prompt")
_UNSUPPORTED_CODES = {"unsupported_parameter", "unsupported_value", "invalid_parameter"}
_PARAM_PREFIX = re.compile(
    r"^(?:Unsupported parameter|Unsupported value|Invalid parameter)s?:\s*'([^']+)'", re.I
)
_LOC = re.compile(r"""['"]loc['"]:\s*[(\[]([^)\]]*)[)\]]""")
_MSG = re.compile(r"""['"]msg['"]:\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")
# messages that name no parameter field but can only be about one (engine: pattern → parameter)
_KNOWN_MESSAGES = (
    (re.compile(r"json schema|json_schema|xgrammar|invalid format|grammar error", re.I), "response_format"),
    (re.compile(r"reasoning value|does not support thinking|reasoning_effort", re.I), "reasoning_effort"),
    (re.compile(r"'max_tokens' or 'max_completion_tokens' is too large", re.I), "max_tokens"),
)


@dataclass(frozen=True)
class Rejection:
    """A parameter the server refuses, and its own words about why (one line)."""

    parameter: str
    reason: str


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _loc_parameter(loc: Any) -> str | None:
    """``('body', 'response_format', 'type')`` → ``response_format.type``."""
    if isinstance(loc, str):
        parts = [p.strip().strip("'\"") for p in loc.split(",")]
    elif isinstance(loc, (list, tuple)):
        parts = [str(p) for p in loc]
    else:
        return None
    parts = [p for p in parts if p and p != "body"]
    return ".".join(parts) or None


def _from_validation(detail: Any) -> Rejection | None:
    """FastAPI's ``{"detail": [{"loc": [...], "msg": ...}]}``."""
    if not isinstance(detail, list) or not detail or not isinstance(detail[0], dict):
        return None
    first = detail[0]
    param = _loc_parameter(first.get("loc"))
    return Rejection(param, _one_line(first.get("msg", ""))) if param else None


def _from_message(message: str, param: Any = None, code: Any = None) -> Rejection | None:
    """An error message (and the OpenAI fields beside it) that names a refused parameter."""
    if not message and not param:
        return None
    loc = _LOC.search(message)
    if loc and "validation error" in message.lower():  # pydantic's text, e.g. llama.cpp's 500
        name = _loc_parameter(loc.group(1))
        msg = _MSG.search(message)
        reason = (msg.group(1) or msg.group(2)) if msg else message.splitlines()[0]
        return Rejection(name, _one_line(reason)) if name else None
    prefix = _PARAM_PREFIX.match(message.strip())
    if isinstance(param, str) and param and (code in _UNSUPPORTED_CODES or prefix):
        return Rejection(param, _one_line(message))
    if prefix:
        return Rejection(prefix.group(1), _one_line(message))
    for pattern, name in _KNOWN_MESSAGES:
        if pattern.search(message):
            return Rejection(name, _one_line(message))
    return None


def rejected_parameter(body: Any) -> Rejection | None:
    """The parameter an error body says the server refuses, or None when it says no such thing.

    ``body`` is the decoded JSON (the whole body or its ``error`` member) or raw text. A
    refusal of the messages themselves (too long for the context) is not a parameter of ours
    and returns None: it concerns that request only.
    """
    if isinstance(body, (bytes, str)):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        try:
            body = json.loads(text)
        except ValueError:
            return _from_message(text)
    if isinstance(body, dict) and "error" in body:
        inner = body["error"]
        body = inner if isinstance(inner, dict) else {"message": inner}
    if not isinstance(body, dict):
        return None
    found = _from_validation(body.get("detail"))
    if found is None:
        message = body.get("message")
        found = _from_message(
            message if isinstance(message, str) else "", body.get("param"), body.get("code")
        )
    if found is None or found.parameter.split(".")[0].split("[")[0] in _PER_REQUEST:
        return None
    return found
