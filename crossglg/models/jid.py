"""Joint Importance Discriminator (docs/MODELS.md, "Where CrossGLG attaches"): which joints matter, from skeleton features alone.

It runs at inference too (it is part of the skeleton branch), so it must never need text.
"""

from __future__ import annotations

import torch
from torch import nn


class JointImportance(nn.Module):
    """Time-pooled joint features → per-joint MLP C → H → 1 (shared over joints) → softmax over joints."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 1))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        """[B, C, T, V] → k [B, V], rows summing to 1 (softmax in float32, autocast or not)."""
        p = f.mean(2).transpose(1, 2)  # [B, V, C]
        return self.mlp(p).squeeze(-1).float().softmax(-1)


def person_mask(x: torch.Tensor) -> torch.Tensor:
    """[N, C, T, V, M] → [N, M] float mask of person slots that hold any non-zero coordinate."""
    return (x.abs().amax(dim=(1, 2, 3)) > 0).to(torch.float32)


def person_average(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Average [N·M, ...] per-person values over the present persons → [N, ...].

    Zero-padded second persons give constant features and a meaningless importance map, so
    they are left out; a sample with no present person (all zeros) falls back to the plain mean.
    """
    n, m = mask.shape
    v = values.reshape(n, m, *values.shape[1:]).float()
    w = torch.where(mask.sum(1, keepdim=True) > 0, mask, torch.ones_like(mask))
    w = (w / w.sum(1, keepdim=True)).reshape(n, m, *([1] * (v.dim() - 2)))
    return (v * w).sum(1)
