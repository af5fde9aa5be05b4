"""Encoder names → classes; the only place that knows which encoders exist."""

from __future__ import annotations

from crossglg.errors import UserError
from crossglg.models.base import SkeletonEncoder
from crossglg.models.config import EncoderConfig
from crossglg.vocab.layouts import Layout


def encoder_classes() -> dict[str, type[SkeletonEncoder]]:
    from crossglg.models.ctrgcn import CTRGCN
    from crossglg.models.infogcn import InfoGCN
    from crossglg.models.stgcn import STGCN

    classes: list[type[SkeletonEncoder]] = [InfoGCN, STGCN, CTRGCN]
    return {cls.name: cls for cls in classes}


ENCODER_NAMES = ("infogcn", "stgcn", "ctrgcn")


def make_encoder(name: str, layout: Layout, cfg: EncoderConfig) -> SkeletonEncoder:
    classes = encoder_classes()
    if name not in classes:
        raise UserError(f"unknown encoder {name!r}; known: {', '.join(classes)}")
    return classes[name](layout, cfg)
