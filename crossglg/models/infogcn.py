"""InfoGCN-style encoder (Chi et al., CVPR 2022), written from the paper (docs/MODELS.md, "Encoders").

One deliberate difference from the reference by default: the self-attention topology is
computed once per sample from time-pooled features (as CTR-GCN does for its topology), not
once per frame. That removes the [N·T, H, V, V] attention tensors and the per-frame matmuls,
which is where the reference spends most of its memory. ``encoder.attention = "frame"`` keeps
the reference's per-frame attention for faithful reproductions. Either way the aggregation is
one batched einsum over [N, C, T, V] for all heads, followed by a single 1×1 conv that mixes
the heads (the reference loops over heads with one conv each: the same function).
"""

from __future__ import annotations

import torch
from torch import nn

from crossglg.models.base import InfoBottleneckHead, SkeletonEncoder, check_head, classifier_head, kept_blocks
from crossglg.models.config import EncoderConfig
from crossglg.models.graph import relative_position, three_subsets
from crossglg.models.layers import MultiScaleTCN, init_branch_conv, init_weights, residual, reweight
from crossglg.models.registry import ENCODERS
from crossglg.vocab.layouts import Layout


class SelfAttentionGraphConv(nn.Module):
    """SA-GC: joint self-attention (per sample, or per frame) times a learned shared topology, per head."""

    def __init__(self, cin: int, cout: int, topology: torch.Tensor, per_frame: bool = False) -> None:
        super().__init__()
        heads = topology.shape[0]
        self.per_frame = per_frame
        self.heads = heads
        self.rel = max(cin // 8, 1)
        self.topology = nn.Parameter(topology.clone())
        self.norm = nn.LayerNorm(cin)
        self.to_qk = nn.Linear(cin, 2 * heads * self.rel)
        self.mix = nn.Conv2d(heads * cin, cout, 1)
        self.bn = nn.BatchNorm2d(cout)
        self.down = residual(cin, cout, 1)
        self.relu = nn.ReLU(inplace=True)
        self.scale = self.rel**-0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, v = x.shape
        if self.per_frame:
            y = self.norm(x.permute(0, 2, 3, 1))  # [N, T, V, C]
            q, k = self.to_qk(y).view(n, t, v, 2, self.heads, self.rel).unbind(3)
            attn = torch.einsum("ntuhd,ntvhd->nhtuv", q, k).float().mul(self.scale).softmax(-1)
            adj = (attn * self.topology[:, None]).to(x.dtype)  # [N, H, T, V, V]
            agg = torch.einsum("nhtuv,nctv->nhctu", adj, x)
        else:
            y = self.norm(x.mean(2).transpose(1, 2))  # [N, V, C]
            q, k = self.to_qk(y).view(n, v, 2, self.heads, self.rel).unbind(2)
            attn = torch.einsum("nuhd,nvhd->nhuv", q, k).float().mul(self.scale).softmax(-1)
            adj = (attn * self.topology).to(x.dtype)  # [N, H, V, V]
            agg = torch.einsum("nhuv,nctv->nhctu", adj, x)
        return self.relu(self.bn(self.mix(agg.reshape(n, self.heads * c, t, v))) + self.down(x))


class InfoGCNBlock(nn.Module):
    """relu(MS-TCN(SA-GC(x) ⊙ w) + residual(x)); w is the JID's joint weight when given."""

    def __init__(
        self, cin: int, cout: int, topology: torch.Tensor, stride: int, kernel: int, per_frame: bool
    ) -> None:
        super().__init__()
        self.gcn = SelfAttentionGraphConv(cin, cout, topology, per_frame)
        self.tcn = MultiScaleTCN(cout, cout, kernel, stride)
        self.res = residual(cin, cout, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor, joint_weight: torch.Tensor | None = None) -> torch.Tensor:
        g = reweight(self.gcn(x), joint_weight)
        return self.relu(self.tcn(g) + self.res(x))


@ENCODERS.register("infogcn")
class InfoGCN(SkeletonEncoder):
    """Joint embedding, nine SA-GC blocks (64×3, 128×3, 256×3; strides at the 4th and 7th), head."""

    default_n_pre = 5  # the 5th encoding block, l6 (docs/MODELS.md, "Encoders")

    def __init__(self, layout: Layout, cfg: EncoderConfig) -> None:
        super().__init__(layout, cfg)
        c = cfg.base_channels
        v = layout.num_joints
        kernel = cfg.temporal_kernel or 5
        self.register_buffer("rel_pos", torch.from_numpy(relative_position(layout, cfg.rel_k)))
        self.to_joint = nn.Linear(cfg.in_channels, c)
        self.pos_embed = nn.Parameter(torch.randn(v, c))
        self.data_bn = nn.BatchNorm1d(cfg.num_person * v * c)
        topology = torch.from_numpy(three_subsets(layout))
        plan = [(c, c, 1), (c, c, 1), (c, c, 1), (c, 2 * c, 2), (2 * c, 2 * c, 1), (2 * c, 2 * c, 1),
                (2 * c, 4 * c, 2), (4 * c, 4 * c, 1), (4 * c, 4 * c, 1)]  # fmt: skip
        plan = kept_blocks(plan, cfg, "infogcn")
        per_frame = cfg.attention == "frame"
        self.blocks = nn.ModuleList(InfoGCNBlock(i, o, topology, s, kernel, per_frame) for i, o, s in plan)
        self.channels = tuple(o for _, o, _ in plan)
        self.embed_dim = self.channels[-1]
        self.fc = nn.Linear(self.embed_dim, self.embed_dim)
        init_weights(self)
        for block in self.blocks:
            init_branch_conv(block.gcn.mix, block.gcn.heads)
            nn.init.constant_(block.gcn.bn.weight, 1e-6)
            nn.init.normal_(block.gcn.to_qk.weight, 0, 1)
        nn.init.kaiming_normal_(self.fc.weight)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        n, _, t, v, m = x.shape
        y = torch.einsum("uv,nctvm->nmutc", self.rel_pos.to(x.dtype), x)  # bone-like relative positions
        y = self.to_joint(y)
        y = y + self.pos_embed[:, None, :].to(y.dtype)  # [N, M, V, T, C]; no fp32 promotion under autocast
        c = y.shape[-1]
        y = self.data_bn(y.transpose(-1, -2).reshape(n, m * v * c, t))
        return y.view(n, m, v, c, t).permute(0, 1, 3, 4, 2).reshape(n * m, c, t, v)

    def pool(self, f: torch.Tensor, num_person: int, mask: torch.Tensor | None = None) -> torch.Tensor:
        return torch.relu(self.fc(super().pool(f, num_person, mask)))

    def make_head(self, num_classes: int) -> nn.Module:
        cfg = self.cfg
        check_head(cfg)
        if not cfg.info_bottleneck:
            return classifier_head(self.embed_dim, num_classes, cfg)
        return InfoBottleneckHead(
            self.embed_dim, num_classes, cfg.dropout, cfg.z_prior_gain, cfg.lambda1, cfg.lambda2
        )
