"""Content-addressed keys: the same request always hashes to the same 64-hex key.

The key holds only what changes the answer (docs/CACHE.md, "The cache key"). Where to send the request and
how patiently (API key, base URL, timeouts, retries, concurrency) is deliberately absent, so
switching server or key never re-pays for answers already cached; :func:`request_key`
refuses such fields outright rather than silently hashing them.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

# Bump when the payload layout below changes: every old key then misses, by design.
KEY_RECIPE_VERSION = 1

# Transport settings that must never reach a key (nor, since keys' payloads are stored, the file).
TRANSPORT_FIELDS = frozenset(
    {
        "api_key",
        "base_url",
        "api_base",
        "organization",
        "timeout",
        "max_retries",
        "concurrency",
        "headers",
        "default_headers",
        "extra_headers",
        "http_client",
    }
)


def _normalise(value: Any) -> Any:
    """Make equal values serialise equally: 1.0 → 1, tuples → lists, NaN refused."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot key a non-finite number: {value!r}")
        return int(value) if value.is_integer() else value
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"cache key payload keys must be strings, got {k!r}")
            out[k] = _normalise(v)
        return out
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return [_normalise(v) for v in value]
    raise TypeError(f"cannot put {type(value).__name__} into a cache key payload")


def canonical_json(value: Any) -> str:
    """One spelling per value: sorted keys, no spaces, raw UTF-8, normalised numbers."""
    return json.dumps(_normalise(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def request_payload(
    backend_model: str,
    messages: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
    sample_index: int = 0,
    salt: str | None = None,
) -> dict[str, Any]:
    """The hashed payload; ``params`` holds every output-affecting setting, schema and seed included."""
    leaked = TRANSPORT_FIELDS.intersection(params)
    if leaked:
        raise ValueError(f"transport settings do not belong in a cache key: {sorted(leaked)}")
    if sample_index < 0:
        raise ValueError("sample_index must be >= 0")
    payload: dict[str, Any] = {
        "k": KEY_RECIPE_VERSION,
        "backend_model": backend_model,
        "messages": list(messages),
        "params": dict(params),
        "sample_index": sample_index,
    }
    if salt:  # absent and empty salts give the same key as before salts existed
        payload["salt"] = salt
    return payload


def request_key(
    backend_model: str,
    messages: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
    sample_index: int = 0,
    salt: str | None = None,
) -> str:
    """64-hex SHA-256 of the canonical payload; doubles as an OpenAI Batch ``custom_id``."""
    return sha256_hex(canonical_json(request_payload(backend_model, messages, params, sample_index, salt)))


def sample_seed(key: str, sample_index: int) -> int:
    """Per-sample seed: first 8 bytes of sha256(key ‖ i), kept to 31 bits.

    Derived from the key so a rerun repeats a sample and k samples genuinely differ
    (vLLM's engine seed otherwise defaults to 0 for all). 31 bits fit every backend's seed
    type (llama.cpp takes a uint32, OpenAI an int64).
    """
    digest = hashlib.sha256(f"{key}:{sample_index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & 0x7FFFFFFF


def text_sha256(text: str) -> bytes:
    """Text key (raw 32 bytes, stored as a BLOB): the exact UTF-8 text, nothing stripped."""
    return hashlib.sha256(text.encode("utf-8")).digest()
