"""LLM backend names → factories; :func:`make_backend` picks one from the CLI flags.

Kept apart from the backends package (which loads the cache's text checks) so that
``crossglg-text --help`` lists the names cheaply. Each factory builds its backend from a
:class:`BackendChoice` and imports its library only then, so building one never touches the
network, loads weights or imports vllm / llama-cpp: ``--dry-run`` and fully cached reruns stay
instant and run anywhere. Other distributions add factories through the
``crossglg.llm_backends`` entry-point group (docs/PLUGINS.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from crossglg.errors import UserError
from crossglg.registry import Registry

if TYPE_CHECKING:
    from crossglg.textgen.backends.base import Backend
    from crossglg.textgen.backends.vllm_engine import EngineOptions


@dataclass(frozen=True)
class BackendChoice:
    """What the flags say about the model: ``--llm``, ``--base-url``, ``--json-mode``, the vLLM engine."""

    llm: str = "local"
    base_url: str | None = None
    json_mode: str | None = None
    engine: EngineOptions | None = None


def _check(obj: object) -> str | None:
    return None if callable(obj) else f"{obj!r} is not callable: a factory(BackendChoice) -> Backend"


LLM_BACKENDS: Registry[Callable[[BackendChoice], Backend]] = Registry(
    "LLM backend", "crossglg.llm_backends", check=_check
)


@LLM_BACKENDS.register("local")
def _llamacpp(choice: BackendChoice) -> Backend:
    """llama.cpp in-process: the embedded SmolLM2 (``--llm local``) or a ``.gguf`` path."""
    from crossglg.textgen.backends.llamacpp import LlamaCppBackend

    return LlamaCppBackend(None if choice.llm == "local" else Path(choice.llm))


@LLM_BACKENDS.register("openai")
def _openai_compatible(choice: BackendChoice) -> Backend:
    """OpenAI's hosted API, or the server at ``--base-url``; the key from OPENAI_API_KEY."""
    from crossglg.textgen.backends.openai_api import OpenAIBackend

    if choice.llm == "local":
        raise UserError("--base-url / --backend openai need --llm NAME (the model the server serves)")
    return OpenAIBackend(choice.llm, base_url=choice.base_url, json_mode=choice.json_mode)


@LLM_BACKENDS.register("server")
def _served(choice: BackendChoice) -> Backend:
    """Any OpenAI-compatible server at ``--base-url`` (vLLM, llama.cpp's server, ...)."""
    if not choice.base_url:
        raise UserError("--backend server needs --base-url http://HOST:PORT/v1")
    return _openai_compatible(choice)


@LLM_BACKENDS.register("vllm")
def _vllm(choice: BackendChoice) -> Backend:
    """vLLM in-process on a GPU (a Hugging Face id or a local directory)."""
    from crossglg.textgen.backends.vllm_offline import VLLMBackend

    if choice.llm == "local":
        raise UserError("--backend vllm needs --llm MODEL (a Hugging Face id or a local directory)")
    return VLLMBackend(choice.llm, choice.engine)


def backend_names() -> list[str]:
    """What ``--backend`` accepts: ``auto`` (the routing rule of :func:`make_backend`) and every factory."""
    return ["auto", *LLM_BACKENDS.names()]


def make_backend(
    llm: str = "local",
    backend: str = "auto",
    base_url: str | None = None,
    json_mode: str | None = None,
    engine: EngineOptions | None = None,
) -> Backend:
    """``auto``: ``--base-url`` → that server; ``local`` or a ``.gguf`` path → llama.cpp; else hosted OpenAI.

    ``engine`` holds the in-process vLLM options, refused for any other backend.
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
    if backend not in LLM_BACKENDS:
        raise UserError(f"--backend {backend!r}: choose one of {', '.join(backend_names())}")
    return LLM_BACKENDS.get(backend)(BackendChoice(llm, base_url, json_mode, engine))
