"""Encoder names → classes: each encoder module registers its class with ``@ENCODERS.register``.

Other distributions add encoders through the ``crossglg.encoders`` entry-point group
(docs/PLUGINS.md); an encoder is a :class:`~crossglg.models.base.SkeletonEncoder` subclass
built as ``cls(layout, encoder_config)``.
"""

from __future__ import annotations

from crossglg.models.base import SkeletonEncoder
from crossglg.models.config import EncoderConfig
from crossglg.registry import Registry
from crossglg.vocab.layouts import Layout


def _check(obj: object) -> str | None:
    if isinstance(obj, type) and issubclass(obj, SkeletonEncoder):
        return None
    return f"{obj!r} is not a SkeletonEncoder subclass"


ENCODERS: Registry[type[SkeletonEncoder]] = Registry(
    "encoder",
    "crossglg.encoders",
    modules=("crossglg.models.infogcn", "crossglg.models.stgcn", "crossglg.models.ctrgcn"),
    check=_check,
)


def make_encoder(name: str, layout: Layout, cfg: EncoderConfig) -> SkeletonEncoder:
    return ENCODERS.get(name)(layout, cfg)
