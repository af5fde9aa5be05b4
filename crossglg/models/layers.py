"""Building blocks shared by the graph encoders: temporal units and weight initialisation.

The multi-scale temporal convolution is the one of InfoGCN and CTR-GCN, written so its three
1×1 entry convolutions run as one convolution (same parameters, one kernel launch instead of three).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class TemporalConv(nn.Sequential):
    """Conv over time only ((k, 1) kernel), then BatchNorm; 'same' padding for any dilation."""

    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1, dilation: int = 1) -> None:
        pad = (kernel + (kernel - 1) * (dilation - 1) - 1) // 2
        super().__init__(
            nn.Conv2d(cin, cout, (kernel, 1), (stride, 1), (pad, 0), (dilation, 1)),
            nn.BatchNorm2d(cout),
        )


class MultiScaleTCN(nn.Module):
    """Branches with dilated temporal convs, a max-pool branch and a strided 1×1 branch, concatenated."""

    def __init__(
        self, cin: int, cout: int, kernel: int = 5, stride: int = 1, dilations: tuple[int, ...] = (1, 2)
    ) -> None:
        super().__init__()
        branches = len(dilations) + 2
        if cout % branches:
            raise ValueError(f"MultiScaleTCN: {cout} channels do not split into {branches} branches")
        bc = cout // branches
        self.entry = nn.Sequential(
            nn.Conv2d(cin, bc * (branches - 1), 1), nn.BatchNorm2d(bc * (branches - 1)), nn.ReLU(inplace=True)
        )
        self.dilated = nn.ModuleList(TemporalConv(bc, bc, kernel, stride, d) for d in dilations)
        self.pool = nn.Sequential(nn.MaxPool2d((3, 1), (stride, 1), (1, 0)), nn.BatchNorm2d(bc))
        self.point = TemporalConv(cin, bc, 1, stride)
        self.splits = branches - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = self.entry(x).chunk(self.splits, dim=1)
        outs = [conv(p) for conv, p in zip(self.dilated, parts, strict=False)]
        outs.append(self.pool(parts[-1]))
        outs.append(self.point(x))
        return torch.cat(outs, dim=1)


def residual(cin: int, cout: int, stride: int, enabled: bool = True) -> nn.Module | None:
    """The block's shortcut: none, identity, or a strided 1×1 conv + BN when the shape changes."""
    if not enabled:
        return None
    if cin == cout and stride == 1:
        return nn.Identity()
    return TemporalConv(cin, cout, 1, stride)


def reweight(g: torch.Tensor, joint_weight: torch.Tensor | None) -> torch.Tensor:
    """Multiply [B, C, T, V] features per joint by [B, V] weights (the JID hook)."""
    if joint_weight is None:
        return g
    return g * joint_weight[:, None, None, :].to(g.dtype)


def init_weights(module: nn.Module) -> None:
    """Kaiming fan-out convs, unit BatchNorm, small linears: the reference encoders' scheme."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def init_branch_conv(conv: nn.Conv2d, branches: int) -> None:
    """Initialise a conv that sums ``branches`` graph subsets so the sum keeps unit variance."""
    cout, cin_total = conv.weight.shape[:2]
    nn.init.normal_(conv.weight, 0, math.sqrt(2.0 / (cout * cin_total * branches)))
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
