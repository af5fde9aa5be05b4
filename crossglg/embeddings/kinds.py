"""Embedder kinds (the ``kind`` of ``--model kind:model``) → Encoder classes.

Each :class:`~crossglg.embeddings.encoders.Encoder` subclass registers itself here; its class
attributes say what enters the embedder id (``library``, ``pooling``) and how to read the model's
token limit (``max_tokens_of``), so spec.py resolves a model without importing any encoder
library. Other distributions add kinds through the ``crossglg.embedders`` entry-point group
(docs/PLUGINS.md).
"""

from __future__ import annotations

from typing import Any

from crossglg.registry import Registry


def _check(obj: object) -> str | None:
    """An Encoder subclass, recognised by its interface (encoders.py imports this module)."""
    if isinstance(obj, type) and all(
        hasattr(obj, a) for a in ("encode", "max_tokens_of", "library", "pooling")
    ):
        return None
    return f"{obj!r} is not an Encoder subclass (crossglg.embeddings.encoders.Encoder)"


# values are Encoder subclasses; typed loosely because encoders.py imports this module
EMBEDDERS: Registry[Any] = Registry(
    "embedder kind", "crossglg.embedders", modules=("crossglg.embeddings.encoders",), check=_check
)
