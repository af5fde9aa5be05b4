"""LLM backends behind one interface; :func:`make_backend` (crossglg/textgen/llm_backends.py) picks one."""

from __future__ import annotations

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
from crossglg.textgen.llm_backends import make_backend

__all__ = [
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
