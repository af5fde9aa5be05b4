"""What text may enter the cache file: valid UTF-8, and never a secret.

Answers and error bodies come from servers we do not control. Python strings can hold lone
surrogates (``"\\ud800"``, e.g. from a JSON escape) that UTF-8 cannot encode, and SQLite
refuses them only when a batch commits, losing the whole batch (docs/CACHE.md, "What the
cache guarantees"). Error bodies may echo the API key back ("Incorrect API key provided:
sk-…"). Everything that enters the file or a terminal from outside goes through here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "***"
# OpenAI-style keys (sk-…, sk-proj-…) and any bearer credential, as echoed by servers
_KEY_PATTERNS = (
    re.compile(r"\bsk-[A-Za-z0-9_\-*]{6,}"),
    re.compile(r"(?i)\b(bearer\s+)[^\s\"',;)\]}]+"),
)
# environment variables whose values are credentials, whatever the provider
_SECRET_ENV_SUFFIXES = ("_API_KEY", "_TOKEN", "_SECRET")
_MIN_SECRET_CHARS = 8  # shorter values ("1", "none") would mask ordinary words


def valid_text(text: str) -> str:
    """``text`` as valid Unicode: a surrogate pair joined, a lone surrogate turned into U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def valid_value(value: Any) -> Any:
    """:func:`valid_text` applied to every string (keys included) of a parsed JSON value."""
    if isinstance(value, str):
        return valid_text(value)
    if isinstance(value, Mapping):
        return {valid_text(str(k)): valid_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [valid_value(v) for v in value]
    return value


def configured_secrets() -> list[str]:
    """The credential values in this process's environment (OPENAI_API_KEY and the like)."""
    return [
        value
        for name, value in os.environ.items()
        if name.upper().endswith(_SECRET_ENV_SUFFIXES) and len(value) >= _MIN_SECRET_CHARS
    ]


def mask_configured_secrets(text: str, secrets: list[str] | None = None) -> str:
    """``text`` with the value of every configured key replaced by ``***``.

    ``secrets`` is :func:`configured_secrets` read once for many strings: reading the
    environment for each one was most of the CPU a request cost (bench/textgen.py).
    """
    for secret in configured_secrets() if secrets is None else secrets:
        text = text.replace(secret, REDACTED)
    return text


def scrub_secrets(text: str, secrets: list[str] | None = None) -> str:
    """``text`` with every configured key, ``sk-…`` key and bearer credential replaced by ``***``.

    Used for every error that is stored (attempts, run arguments) or printed.
    """
    text = _KEY_PATTERNS[0].sub("sk-" + REDACTED, mask_configured_secrets(text, secrets))
    return _KEY_PATTERNS[1].sub(lambda m: m.group(1) + REDACTED, text)


def clean_message(text: str, secrets: list[str] | None = None) -> str:
    """An error message fit to store and print: valid text, secrets removed."""
    return scrub_secrets(valid_text(text), secrets)
