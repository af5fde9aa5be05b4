"""The key recipe: canonical JSON, what is in the key and what never is."""

from __future__ import annotations

import hashlib

import pytest

from crossglg.cache import KEY_RECIPE_VERSION, canonical_json, request_key, sample_seed

MSGS = [
    {"role": "system", "content": "Answer in JSON."},
    {"role": "user", "content": 'Describe "drink water".'},
]
PARAMS = {"temperature": 0.7, "max_tokens": 256, "seed": 0, "response_format": {"type": "json_object"}}


def test_recipe_is_sha256_of_the_documented_canonical_json():
    expected_json = (
        '{"backend_model":"openai:gpt-4o","k":1,"messages":[{"content":"Describe café","role":"user"}],'
        '"params":{"temperature":0.7},"sample_index":0}'
    )
    key = request_key("openai:gpt-4o", [{"role": "user", "content": "Describe café"}], {"temperature": 0.7})
    assert KEY_RECIPE_VERSION == 1
    assert key == hashlib.sha256(expected_json.encode("utf-8")).hexdigest()
    assert len(key) == 64


def test_canonical_json_sorts_keys_and_keeps_non_ascii():
    assert (
        canonical_json({"b": 1, "a": "é", "c": [1, {"z": 0, "y": 1}]})
        == '{"a":"é","b":1,"c":[1,{"y":1,"z":0}]}'
    )


def test_numbers_are_normalised():
    assert canonical_json({"t": 0.70}) == '{"t":0.7}'
    assert canonical_json({"t": 1.0, "u": (2.0, 3)}) == '{"t":1,"u":[2,3]}'
    assert request_key("m", MSGS, {"temperature": 1.0}) == request_key("m", MSGS, {"temperature": 1})
    assert request_key("m", MSGS, {"temperature": 0.7}) != request_key("m", MSGS, {"temperature": 0.8})
    with pytest.raises(ValueError):
        canonical_json({"t": float("nan")})


def test_key_ignores_mapping_order():
    reordered_params = dict(reversed(list(PARAMS.items())))
    reordered_msgs = [dict(reversed(list(m.items()))) for m in MSGS]
    assert request_key("openai:gpt-4o", MSGS, PARAMS) == request_key(
        "openai:gpt-4o", reordered_msgs, reordered_params
    )


def test_what_changes_the_key():
    base = request_key("openai:gpt-4o", MSGS, PARAMS)
    assert request_key("openai:gpt-4o", MSGS, PARAMS, sample_index=1) != base
    assert request_key("openai:gpt-4o", MSGS, PARAMS, salt="again") != base
    assert request_key("openai:gpt-4o", MSGS, PARAMS, salt="") == base  # no salt, same key
    assert request_key("openai:gpt-4", MSGS, PARAMS) != base
    assert request_key("openai:gpt-4o", MSGS, {**PARAMS, "seed": 1}) != base
    schema = {
        **PARAMS,
        "response_format": {"type": "json_schema", "json_schema": {"name": "g", "schema": {}}},
    }
    assert request_key("openai:gpt-4o", MSGS, schema) != base
    edited = [MSGS[0], {"role": "user", "content": 'Describe "drink water"!'}]
    assert request_key("openai:gpt-4o", edited, PARAMS) != base


@pytest.mark.parametrize("field", ["api_key", "base_url", "timeout", "max_retries", "concurrency"])
def test_transport_settings_are_refused(field):
    with pytest.raises(ValueError, match=field):
        request_key("openai:gpt-4o", MSGS, {**PARAMS, field: "x"})


def test_sample_seeds_repeat_and_differ():
    key = request_key("openai:gpt-4o", MSGS, PARAMS)
    seeds = [sample_seed(key, i) for i in range(8)]
    assert seeds == [sample_seed(key, i) for i in range(8)]
    assert len(set(seeds)) == 8
    assert all(0 <= s < 2**31 for s in seeds)
    digest = hashlib.sha256(f"{key}:3".encode()).digest()
    assert seeds[3] == int.from_bytes(digest[:8], "big") & 0x7FFFFFFF
