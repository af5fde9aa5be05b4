"""Parameter and FLOP counts of an encoder with and without CrossGLG (``crossglg model-info``).

FLOPs are torch's own count (``FlopCounterMode``: 2 per multiply-add, convolutions, matmuls
and einsums; element-wise work and normalisation are not counted) for one sample in eval mode.
They are counted on torch's ``meta`` device, which knows every shape and computes nothing: a
count at ``--frames 100000`` takes a second where a real forward pass took an hour and tens of
GiB, and the L2G attention is counted (on the CPU, eval mode's fused attention kernel hid it
from the counter: 6.4 MFLOPs of the NTU-25 train forward, docs/MODELS.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from crossglg.models.config import ModelConfig
from crossglg.models.model import build_model

COUNT_ON = torch.device("meta")  # shapes only: see the module docstring


@dataclass
class ModelInfo:
    encoder: str
    layout: str
    num_classes: int
    frames: int
    persons: int
    text_tokens: int
    text_dim: int
    jid_hidden: int
    n_pre: int
    base_params: int  # training model: encoder + classifier
    base_inference_params: int  # encoder up to z_s (what one-shot evaluation runs)
    crossglg_params: int  # training model: + JID + L2G
    crossglg_inference_params: int  # encoder + JID
    jid_params: int
    l2g_params: int
    base_inference_flops: int
    crossglg_inference_flops: int
    crossglg_train_flops: int  # forward of both branches, with text

    @property
    def inference_overhead(self) -> float:
        """Extra inference parameters of CrossGLG over the base, as a fraction."""
        return self.crossglg_inference_params / self.base_inference_params - 1

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "inference_overhead": self.inference_overhead}


def count_params(module: nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def count_flops(fn, *args: torch.Tensor) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn(*args)
    return int(counter.get_total_flops())


def model_info(
    encoder: str,
    layout: str,
    num_classes: int,
    cfg: ModelConfig | None = None,
    frames: int = 64,
    persons: int = 2,
) -> ModelInfo:
    """Build base and CrossGLG variants of ``encoder`` and count them on one [1, C, frames, V, persons] input."""
    data = (cfg or ModelConfig()).to_dict()
    data["encoder"]["num_person"] = persons
    base_cfg = ModelConfig.from_dict({**data, "use_text": False})
    full_cfg = ModelConfig.from_dict({**data, "use_text": True, "use_jid": True, "use_l2g": True})
    base = build_model(encoder, layout, num_classes, base_cfg).eval().to(COUNT_ON)
    full = build_model(encoder, layout, num_classes, full_cfg).eval().to(COUNT_ON)
    lay = full.encoder.layout
    x = torch.empty(1, full_cfg.encoder.in_channels, frames, lay.num_joints, persons, device=COUNT_ON)
    text = torch.empty(1, len(full.part_names), full_cfg.l2g.text_dim, device=COUNT_ON)
    jid = full.skeleton.jid
    assert jid is not None
    return ModelInfo(
        encoder=encoder,
        layout=lay.name,
        num_classes=num_classes,
        frames=frames,
        persons=persons,
        text_tokens=len(full.part_names),
        text_dim=full_cfg.l2g.text_dim,
        jid_hidden=jid.mlp[0].out_features,
        n_pre=full.skeleton.n_pre,
        base_params=count_params(base),
        base_inference_params=count_params(base.inference_model()),
        crossglg_params=count_params(full),
        crossglg_inference_params=count_params(full.inference_model()),
        jid_params=count_params(jid),
        l2g_params=count_params(full.l2g),
        base_inference_flops=count_flops(base.embed, x),
        crossglg_inference_flops=count_flops(full.embed, x),
        crossglg_train_flops=count_flops(full, x, text),
    )
