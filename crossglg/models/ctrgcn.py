"""CTR-GCN encoder (Chen et al., ICCV 2021), written from the paper (docs/MODELS.md, "Encoders").

Channel-wise topology refinement: per sample and per subset, a channel-wise joint-relation
map tanh(φ(x̄)_u − ψ(x̄)_v) (x̄ = time-pooled features) refines the shared topology. The three
subsets run as one grouped computation (one conv per role instead of three), and the
aggregation is one einsum over [N, K, C, T, V] with the V×V maps computed once per sample.
"""

from __future__ import annotations

import torch
from torch import nn

from crossglg.models.base import SkeletonEncoder, kept_blocks
from crossglg.models.config import EncoderConfig
from crossglg.models.graph import three_subsets
from crossglg.models.layers import MultiScaleTCN, init_weights, residual, reweight
from crossglg.models.registry import ENCODERS
from crossglg.models.stgcn import input_batchnorm
from crossglg.vocab.layouts import Layout


class ChannelTopologyGraphConv(nn.Module):
    """unit_gcn: Σ_k CTR-GC_k(x) → BN → + down(x) → ReLU, all K subsets batched."""

    def __init__(self, cin: int, cout: int, topology: torch.Tensor) -> None:
        super().__init__()
        k = topology.shape[0]
        rel = 8 if cin in (3, 9) else cin // 8
        self.k, self.rel, self.cout = k, rel, cout
        self.topology = nn.Parameter(topology.clone())
        self.alpha = nn.Parameter(torch.zeros(1))
        self.phi = nn.Conv2d(cin, k * rel, 1)
        self.psi = nn.Conv2d(cin, k * rel, 1)
        self.value = nn.Conv2d(cin, k * cout, 1)
        self.expand = nn.Conv2d(k * rel, k * cout, 1, groups=k)
        self.bn = nn.BatchNorm2d(cout)
        self.down = residual(cin, cout, 1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, t, v = x.shape
        pooled = x.mean(2, keepdim=True)  # [N, C, 1, V]; φ and ψ are linear, so pool first
        a = self.phi(pooled).squeeze(2)
        b = self.psi(pooled).squeeze(2)
        rel = torch.tanh(a.unsqueeze(-1) - b.unsqueeze(-2))  # [N, K·R, V, V]
        adj = self.expand(rel).view(n, self.k, self.cout, v, v) * self.alpha
        adj = adj + self.topology[None, :, None].to(adj.dtype)
        val = self.value(x).view(n, self.k, self.cout, t, v)
        y = torch.einsum("nkcuv,nkctv->nctu", adj, val)
        return self.relu(self.bn(y) + self.down(x))


class CTRGCNBlock(nn.Module):
    """relu(MS-TCN(CTR-GC(x) ⊙ w) + residual(x))."""

    def __init__(
        self, cin: int, cout: int, topology: torch.Tensor, stride: int, kernel: int, res: bool
    ) -> None:
        super().__init__()
        self.gcn = ChannelTopologyGraphConv(cin, cout, topology)
        self.tcn = MultiScaleTCN(cout, cout, kernel, stride)
        self.res = residual(cin, cout, stride, res)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor, joint_weight: torch.Tensor | None = None) -> torch.Tensor:
        out = self.tcn(reweight(self.gcn(x), joint_weight))
        return self.relu(out if self.res is None else out + self.res(x))


@ENCODERS.register("ctrgcn")
class CTRGCN(SkeletonEncoder):
    """Input BatchNorm, ten CTR-GCN blocks (l1 3→64 without residual), global mean pooling."""

    default_n_pre = 6  # l6: l1 is the input block InfoGCN replaces by its embedding (docs/MODELS.md, "Where CrossGLG attaches")

    def __init__(self, layout: Layout, cfg: EncoderConfig) -> None:
        super().__init__(layout, cfg)
        c = cfg.base_channels
        kernel = cfg.temporal_kernel or 5
        self.data_bn = nn.BatchNorm1d(cfg.num_person * layout.num_joints * cfg.in_channels)
        topology = torch.from_numpy(three_subsets(layout))
        plan = [(cfg.in_channels, c, 1, False), (c, c, 1, True), (c, c, 1, True), (c, c, 1, True),
                (c, 2 * c, 2, True), (2 * c, 2 * c, 1, True), (2 * c, 2 * c, 1, True),
                (2 * c, 4 * c, 2, True), (4 * c, 4 * c, 1, True), (4 * c, 4 * c, 1, True)]  # fmt: skip
        plan = kept_blocks(plan, cfg, "ctrgcn")
        self.blocks = nn.ModuleList(CTRGCNBlock(i, o, topology, s, kernel, r) for i, o, s, r in plan)
        self.channels = tuple(o for _, o, _, _ in plan)
        self.embed_dim = self.channels[-1]
        init_weights(self)
        for block in self.blocks:
            nn.init.constant_(block.gcn.bn.weight, 1e-6)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return input_batchnorm(self.data_bn, x)
