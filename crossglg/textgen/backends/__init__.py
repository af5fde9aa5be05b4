"""LLM backends behind one interface; :func:`make_backend` picks one from the CLI flags."""

from __future__ import annotations

from pathlib import Path

from crossglg.errors import UserError
from crossglg.textgen.backends.base import (
    Backend,
    ChatRequest,
    Completion,
    InvalidRequest,
    RequestFailed,
    RetryableError,
    StopRun,
)
from crossglg.textgen.backends.vllm_engine import EngineOptions

BACKENDS = ("auto", "local", "openai", "server", "vllm")

__all__ = [
    "BACKENDS",
    "Backend",
    "ChatRequest",
    "Completion",
    "EngineOptions",
    "InvalidRequest",
    "RequestFailed",
    "RetryableError",
    "StopRun",
    "make_backend",
]


def make_backend(
    llm: str = "local",
    backend: str = "auto",
    base_url: str | None = None,
    json_mode: str | None = None,
    engine: EngineOptions | None = None,
) -> Backend:
    """``auto``: ``--base-url`` → that server; ``local`` or a ``.gguf`` path → llama.cpp; else hosted OpenAI.

    Building a backend never touches the network, loads weights or imports vllm, so
    ``--dry-run`` and fully cached reruns stay instant and run anywhere. ``engine`` holds the
    in-process vLLM options, refused for any other backend.
    """
    if engine is not None and engine.given() and backend != "vllm":
        raise UserError(f"{', '.join(engine.given())}: only for the in-process engine, --backend vllm")
    if backend == "auto":
        if base_url:
            backend = "server"
        elif llm == "local" or llm.endswith(".gguf"):
            backend = "local"
        else:
            backend = "openai"
    if backend == "local":
        from crossglg.textgen.backends.llamacpp import LlamaCppBackend

        return LlamaCppBackend(None if llm == "local" else Path(llm))
    if backend in ("openai", "server"):
        from crossglg.textgen.backends.openai_api import OpenAIBackend

        if backend == "server" and not base_url:
            raise UserError("--backend server needs --base-url http://HOST:PORT/v1")
        if llm == "local":
            raise UserError("--base-url / --backend openai need --llm NAME (the model the server serves)")
        return OpenAIBackend(llm, base_url=base_url, json_mode=json_mode)
    if backend == "vllm":
        from crossglg.textgen.backends.vllm_offline import VLLMBackend

        if llm == "local":
            raise UserError("--backend vllm needs --llm MODEL (a Hugging Face id or a local directory)")
        return VLLMBackend(llm, engine)
    raise UserError(f"--backend {backend!r}: choose one of {', '.join(BACKENDS)}")
