"""Helpers for the cache tests: a real cache file per test and a quick way to make answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from crossglg.cache import Cache, GenerationRow, ItemRow, RequestRow, open_cache, request_key, sample_seed

SOURCE = "llamacpp:SmolLM2-135M-Instruct.Q4_1"
PARAMS = {"temperature": 0.2, "max_tokens": 256, "seed": 0}


def messages(class_name: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": f'Describe "{class_name}".'}]


def add_request(cache: Cache, class_name: str, sample_index: int = 0, source: str = SOURCE) -> str:
    """Store one request for a class and return its key."""
    backend, model = source.split(":", 1)
    key = request_key(source, messages(class_name), PARAMS, sample_index)
    cache.put_requests(
        [
            RequestRow(
                key,
                backend,
                model,
                messages(class_name),
                PARAMS,
                sample_index,
                sample_seed(key, sample_index),
            )
        ]
    )
    return key


def global_answer(text: str, parts: list[str] | None = None) -> dict:
    return {"description": text, "key_body_parts": parts or ["hand"]}


def global_item(
    dataset: str,
    class_id: int,
    class_name: str,
    text: str,
    parts: tuple[str, ...] = ("hand",),
    source: str = SOURCE,
) -> ItemRow:
    """The global text row an ``ok_global`` answer yields for one class (the cache stores rows as handed)."""
    return ItemRow(dataset, class_id, class_name, "global", "", 0, source, text, parts)


def ok_global(key: str, text: str) -> GenerationRow:
    return GenerationRow(key, "ok", raw_text=f'{{"description": "{text}"}}', parsed=global_answer(text))


@pytest.fixture
def cache(cache_path: Path):
    c = open_cache(cache_path)
    yield c
    c.close()
