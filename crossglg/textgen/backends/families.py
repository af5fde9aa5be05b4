"""Model families: which sampling parameters a model accepts, and so which ones are sent.

OpenAI's reasoning models (the o1, o3 and o4 families and the gpt-5 family, except the
non-reasoning ``gpt-5-chat``) refuse ``temperature`` and ``top_p`` with an HTTP 400
("Unsupported parameter: 'temperature' is not supported with this model."), take
``max_completion_tokens`` instead of ``max_tokens`` (and count their hidden reasoning tokens
against it), and accept ``reasoning_effort``. What is not sent cannot change the answer, so
it is not in the cache key either; what every other model is sent, and so its keys, is as it
always was (docs/TEXTGEN.md, "Model families").
"""

from __future__ import annotations

from typing import Any

REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
NOT_REASONING_PREFIXES = ("gpt-5-chat",)
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
# reasoning tokens count against the limit: 800 leaves a reasoning model nothing to answer with
REASONING_MAX_TOKENS = 8000
DEFAULT_MAX_TOKENS = 800


def is_reasoning_model(model: str) -> bool:
    """By name, as the API knows it; a router's ``openai/o3-mini`` counts as ``o3-mini``."""
    name = model.rsplit("/", 1)[-1].lower()
    return name.startswith(REASONING_PREFIXES) and not name.startswith(NOT_REASONING_PREFIXES)


def default_max_tokens(model: str) -> int:
    return REASONING_MAX_TOKENS if is_reasoning_model(model) else DEFAULT_MAX_TOKENS


def sampling_params(
    model: str, temperature: float, top_p: float, max_tokens: int, reasoning_effort: str | None
) -> dict[str, Any]:
    """The output-affecting settings sent for this model, as they enter the cache key.

    The limit is keyed as ``max_tokens`` whatever name it is sent under, and
    ``reasoning_effort`` only when given, so keys of models that never had it do not change.
    """
    params: dict[str, Any] = {} if is_reasoning_model(model) else {"temperature": temperature, "top_p": top_p}
    params["max_tokens"] = max_tokens
    if reasoning_effort is not None:
        params["reasoning_effort"] = reasoning_effort
    return params


def request_fields(model: str, params: dict[str, Any], hosted: bool) -> dict[str, Any]:
    """The sampling fields of a chat request: ``sampling_params`` with the limit's wire name.

    The hosted API deprecated ``max_tokens`` and reasoning models refuse it; compatible
    servers may only know the old name.
    """
    fields = dict(params)
    limit = fields.pop("max_tokens")
    wire = "max_completion_tokens" if hosted or is_reasoning_model(model) else "max_tokens"
    fields[wire] = limit
    return fields
