"""What a server accepts: structured output negotiated once, refused parameters said once.

`--json-mode auto` against a served model (``--base-url``) does not guess from the model's
name: before the first request is sent, it asks the server with one tiny request (the first
answer schema, an 8-token answer) per form, strongest form first — JSON schema, JSON mode with a schema grammar (llama.cpp's
``json_object`` + ``schema``), JSON mode, then the prompt alone — and keeps the first form
the server takes. The choice is remembered in the cache per base URL and model, so a rerun
does not ask again, and the mode is part of every request's key, so each answer records
the mode it was made with (docs/TEXTGEN.md, "Structured output, negotiated").
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from crossglg.cache import endpoints, open_cache
from crossglg.errors import UserError
from crossglg.textgen.backends import (
    Backend,
    ChatRequest,
    InvalidRequest,
    RequestFailed,
    RetryableError,
    StopRun,
)
from crossglg.textgen.plan import Plan, existing_answers, split_todo

PROBE_MESSAGES = [{"role": "user", "content": "Reply with a JSON object."}]
PROBE_MAX_TOKENS = 8
# the CLI option behind each parameter we send, for the line that ends a refused run
OPTION_OF = {
    "response_format": "--json-mode",
    "temperature": "--temperature",
    "top_p": "--top-p",
    "max_tokens": "--max-tokens",
    "max_completion_tokens": "--max-tokens",
    "reasoning_effort": "--reasoning-effort",
    "seed": "--samples",
}


def _say(line: str, quiet: bool) -> None:
    if not quiet:
        print(line, file=sys.stderr)


def use_remembered_mode(backend: Backend, cache_path: Path, quiet: bool = False) -> None:
    """Take the mode this server accepted before, if the cache remembers one (no network)."""
    if not backend.negotiable or not cache_path.exists():
        return
    with open_cache(cache_path, readonly=True) as cache:
        found = endpoints.remembered_json_mode(cache, backend.base_url, backend.model)
    if found is not None:
        backend.json_mode, backend.negotiable = found[0], False
        _say(
            f"json mode: {found[0]}, which {backend.base_url} accepted for {backend.model} on "
            f"{found[1][:10]} (remembered in {cache_path})",
            quiet,
        )


@dataclass
class Probed:
    """What the probe learned: the mode to use, what was refused, and whether it is confirmed.

    ``unsure`` holds the error that kept the server from answering (a timeout, a connection
    error): then ``mode`` is the form being asked about, the strongest one not refused, and
    nothing is remembered.
    """

    mode: str
    refused: list[str] = field(default_factory=list)
    unsure: Exception | None = None


async def probe(backend: Any, chat: ChatRequest, timeout: float) -> Probed:
    """The strongest mode the server takes, and what it refused on the way.

    A refusal of anything but ``response_format`` is raised: no mode can fix it. A refusal
    comes back at once (the request is checked before any text is generated), so a server
    that times out on a form is working on it, not refusing it.
    """
    from crossglg.textgen.backends.openai_api import JSON_MODES

    small = replace(chat, messages=PROBE_MESSAGES, max_tokens=PROBE_MAX_TOKENS)
    found = Probed(JSON_MODES[-1])
    try:
        for mode in JSON_MODES[:-1]:
            try:
                await backend.send(small, mode, timeout)
            except InvalidRequest as err:
                if not err.parameter.startswith("response_format"):
                    raise
                found.refused.append(f"{mode} (HTTP {err.http_status}: {err.parameter}: {err.reason})")
                continue
            except (RetryableError, RequestFailed, StopRun) as err:
                found.unsure = err
            found.mode = mode
            break
        return found
    finally:
        await backend.aclose()  # the run uses its own event loop, hence its own client


def settle_mode(
    backend: Backend,
    plan_for: Callable[[], Plan],
    cache_path: Path,
    force: bool,
    timeout: float,
    quiet: bool = False,
) -> Plan:
    """The plan to send, with the mode negotiated first when something is to be sent.

    A fully cached rerun asks nothing (its keys were made with the default mode). When the
    server cannot answer the probe (down, overloaded, no such model), the run goes on with the
    strongest form not refused, its own retries and failures say what is wrong, and nothing
    is remembered.
    """
    plan = plan_for()
    if not backend.negotiable:
        return plan
    found, owed = existing_answers(plan, cache_path)
    _, todo = split_todo(plan, found, force)
    todo = [p for p in todo if p.row.request_key not in owed]  # a submitted batch owes these
    if not todo:
        return plan
    backend.prepare()
    base_url = getattr(backend, "base_url", "")
    # opened for writing first: a read-only or foreign cache stops the run before anything is sent
    with open_cache(cache_path) as cache:
        try:
            found = asyncio.run(probe(backend, todo[0].chat, timeout))
        except InvalidRequest as err:
            raise UserError(refusal_line(err, backend)) from None
        evidence = "; ".join(f"refused {r}" for r in found.refused)
        if found.unsure is None:
            endpoints.remember_json_mode(
                cache, base_url, backend.model, found.mode, evidence or f"accepted {found.mode}"
            )
    before, backend.json_mode, backend.negotiable = backend.json_mode, found.mode, False
    if found.unsure is not None:
        _say(
            f"note: {base_url} did not answer whether it accepts {found.mode} ({found.unsure})"
            + (f"; it {evidence}" if evidence else "")
            + f"; sending {found.mode}, not remembered",
            quiet,
        )
    else:
        _say(
            f"json mode: {found.mode}, negotiated with {base_url} for {backend.model}"
            + (f" (it {evidence})" if evidence else "")
            + f"; remembered in {cache_path}",
            quiet,
        )
    return plan if found.mode == before else plan_for()


def refusal_line(err: InvalidRequest, backend: Backend) -> str:
    """The one line that ends a run the server refuses: where, which parameter, why, what to change."""
    where = getattr(backend, "base_url", None) or "the OpenAI API"
    top = err.parameter.split(".")[0]
    option = OPTION_OF.get(top)
    hint = f"; change {option}" if option else ""
    if top == "response_format":
        hint = "; pass --json-mode auto to find the form it accepts, or --json-mode prompt"
    return (
        f"{where} refuses parameter '{err.parameter}' for {backend.model} (HTTP {err.http_status}: "
        f"{err.reason}); the run stopped and stored no failure for the refused requests{hint}"
    )
