"""ST-GCN encoder (Yan et al., AAAI 2018), written from the paper (docs/MODELS.md, "Encoders").

Spatial-partition graph from the layout (root / centripetal / centrifugal), learnable
edge-importance masks, temporal kernel 9, ten blocks 64×4, 128×3, 256×3.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from crossglg.models.base import SkeletonEncoder, classifier_head, kept_blocks
from crossglg.models.config import EncoderConfig
from crossglg.models.graph import spatial_partition
from crossglg.models.layers import init_weights, residual, reweight
from crossglg.models.registry import ENCODERS
from crossglg.vocab.layouts import Layout


class STGCNBlock(nn.Module):
    """relu(TCN(GCN(x) ⊙ w) + residual(x)); the GCN is a 1×1 conv per subset summed over the graph."""

    def __init__(
        self,
        cin: int,
        cout: int,
        graph: torch.Tensor,
        stride: int,
        kernel: int,
        dropout: float,
        res: bool,
        importance: bool,
    ) -> None:
        super().__init__()
        self.subsets = graph.shape[0]
        self.register_buffer("graph", graph)
        self.importance = nn.Parameter(torch.ones_like(graph)) if importance else None
        self.conv = nn.Conv2d(cin, cout * self.subsets, 1)
        pad = (kernel - 1) // 2
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, (kernel, 1), (stride, 1), (pad, 0)),
            nn.BatchNorm2d(cout),
            nn.Dropout(dropout, inplace=True),
        )
        self.res = residual(cin, cout, stride, res)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor, joint_weight: torch.Tensor | None = None) -> torch.Tensor:
        n, _, t, v = x.shape
        adj = self.graph if self.importance is None else self.graph * self.importance
        y = self.conv(x).view(n, self.subsets, -1, t, v)
        g = reweight(torch.einsum("nkctv,kvw->nctw", y, adj.to(y.dtype)), joint_weight)
        out = self.tcn(g)
        return self.relu(out if self.res is None else out + self.res(x))


@ENCODERS.register("stgcn")
class STGCN(SkeletonEncoder):
    """Input BatchNorm over (M, V, C), ten ST-GCN blocks, global mean pooling (z = 256-d)."""

    default_n_pre = (
        6  # l6, the same stage position as InfoGCN's l6 (docs/MODELS.md, "Where CrossGLG attaches")
    )

    def __init__(self, layout: Layout, cfg: EncoderConfig) -> None:
        super().__init__(layout, cfg)
        c = cfg.base_channels
        v = layout.num_joints
        kernel = cfg.temporal_kernel or 9
        self.data_bn = nn.BatchNorm1d(v * cfg.in_channels)  # shared by the persons, as in ST-GCN
        graph = torch.from_numpy(spatial_partition(layout))
        plan = [(cfg.in_channels, c, 1, False), (c, c, 1, True), (c, c, 1, True), (c, c, 1, True),
                (c, 2 * c, 2, True), (2 * c, 2 * c, 1, True), (2 * c, 2 * c, 1, True),
                (2 * c, 4 * c, 2, True), (4 * c, 4 * c, 1, True), (4 * c, 4 * c, 1, True)]  # fmt: skip
        plan = kept_blocks(plan, cfg, "stgcn")
        self.blocks = nn.ModuleList(
            STGCNBlock(i, o, graph, s, kernel, cfg.dropout, r, cfg.edge_importance) for i, o, s, r in plan
        )
        self.channels = tuple(o for _, o, _, _ in plan)
        self.embed_dim = self.channels[-1]
        init_weights(self)

    def make_head(self, num_classes: int) -> nn.Module:
        # ST-GCN's dropout lives in its blocks, not before the classifier
        return classifier_head(self.embed_dim, num_classes, dataclasses.replace(self.cfg, dropout=0.0))

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return input_batchnorm(self.data_bn, x)


def input_batchnorm(bn: nn.BatchNorm1d, x: torch.Tensor) -> torch.Tensor:
    """BatchNorm of the raw input over (joint, channel), or (person, joint, channel) when ``bn``
    is that wide (CTR-GCN); returns [N·M, C, T, V]."""
    n, c, t, v, m = x.shape
    y = x.permute(0, 4, 3, 1, 2)  # [N, M, V, C, T]
    y = bn(y.reshape(n * m, v * c, t) if bn.num_features == v * c else y.reshape(n, m * v * c, t))
    return y.view(n, m, v, c, t).permute(0, 1, 3, 4, 2).reshape(n * m, c, t, v)
