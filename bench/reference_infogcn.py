"""The reference InfoGCN's computation layout, for side-by-side speed and memory comparisons.

The speed bar of issue #6 is the public InfoGCN code (stnoah1/infogcn) timed on one H200. A
figure measured on another card, or on a CPU, cannot be held against that number, but a model
laid out the way that code computes can be timed in the same run as ours. This module is that
model, written here from the paper and the structure of the public code (no code copied):

- the joint embedding multiplies every frame of every person by the (I - A^k) matrix with an
  expanded batched matmul over N·M·T;
- SA-GC computes a [N·T, H, V, V] attention per frame, then loops over the H heads: each head
  rearranges the features to [N·T, V, C], multiplies, rearranges back to a contiguous
  [N, C, T, V] copy and applies its own 1×1 conv; the head outputs are summed;
- the multi-scale TCN has four branches with their own 1×1 entry convs;
- the head is InfoGCN's: fc, ReLU, (μ, log σ²), sampled latent, decoder.

Same channels (64/128/256), strides, kernels and parameter count (to within the redundant
per-head biases) as ``crossglg.models.infogcn.InfoGCN``. Only benchmarks use it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from crossglg.models.graph import relative_position, three_subsets
from crossglg.vocab.layouts import Layout, get_layout


def _conv_bn(cin: int, cout: int, kernel: int = 1, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    pad = (kernel - 1) * dilation // 2
    return nn.Sequential(
        nn.Conv2d(cin, cout, (kernel, 1), (stride, 1), (pad, 0), (dilation, 1)), nn.BatchNorm2d(cout)
    )


class ReferenceSAGC(nn.Module):
    """Per-frame self-attention topology, one matmul and one 1×1 conv per head."""

    def __init__(self, cin: int, cout: int, topology: torch.Tensor) -> None:
        super().__init__()
        self.heads = topology.shape[0]
        self.rel = max(cin // 8, 1)
        self.topology = nn.Parameter(topology.clone())
        self.norm = nn.LayerNorm(cin)
        self.to_qk = nn.Linear(cin, 2 * self.heads * self.rel)
        self.convs = nn.ModuleList(nn.Conv2d(cin, cout, 1) for _ in range(self.heads))
        self.bn = nn.BatchNorm2d(cout)
        self.down = _conv_bn(cin, cout) if cin != cout else nn.Identity()

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        n, _, t, v = x.shape
        y = self.to_qk(self.norm(x.permute(0, 2, 3, 1).contiguous()))  # [N, T, V, 2·H·d]
        q, k = (part.reshape(n * t, v, self.heads, self.rel).transpose(1, 2) for part in y.chunk(2, dim=-1))
        return (q @ k.transpose(-1, -2) * self.rel**-0.5).softmax(-1).float()  # [N·T, H, V, V]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, v = x.shape
        adj = self.attention(x) * self.topology[None]
        frames = x.permute(0, 2, 3, 1).reshape(n * t, v, c)
        out = 0
        for h, conv in enumerate(self.convs):
            z = (adj[:, h].to(frames.dtype) @ frames).view(n, t, v, c).permute(0, 3, 1, 2).contiguous()
            out = out + conv(z)
        return F.relu(self.bn(out) + self.down(x))


class ReferenceMSTCN(nn.Module):
    """Two dilated temporal branches, a max-pool branch and a 1×1 branch, each with its own entry."""

    def __init__(self, cin: int, cout: int, stride: int, kernel: int = 5) -> None:
        super().__init__()
        bc = cout // 4

        def entry() -> nn.Sequential:
            return nn.Sequential(*_conv_bn(cin, bc), nn.ReLU(inplace=True))

        self.branches = nn.ModuleList(
            [nn.Sequential(entry(), _conv_bn(bc, bc, kernel, stride, d)) for d in (1, 2)]
            + [nn.Sequential(entry(), nn.MaxPool2d((3, 1), (stride, 1), (1, 0)), nn.BatchNorm2d(bc))]
            + [_conv_bn(cin, bc, 1, stride)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.branches], dim=1)


class ReferenceBlock(nn.Module):
    def __init__(self, cin: int, cout: int, topology: torch.Tensor, stride: int) -> None:
        super().__init__()
        self.gcn = ReferenceSAGC(cin, cout, topology)
        self.tcn = ReferenceMSTCN(cout, cout, stride)
        self.res = nn.Identity() if cin == cout and stride == 1 else _conv_bn(cin, cout, 1, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.tcn(self.gcn(x)) + self.res(x))


class ReferenceInfoGCN(nn.Module):
    """The whole network with the trainer-facing calls the benchmarks use (forward, loss, inference)."""

    def __init__(self, layout: Layout | str, num_classes: int, channels: int = 64, persons: int = 2) -> None:
        super().__init__()
        layout = get_layout(layout) if isinstance(layout, str) else layout
        v, c = layout.num_joints, channels
        self.register_buffer("rel_pos", torch.from_numpy(relative_position(layout, 1)))
        self.to_joint = nn.Linear(3, c)
        self.pos_embed = nn.Parameter(torch.randn(1, v, c))
        self.data_bn = nn.BatchNorm1d(persons * v * c)
        topology = torch.from_numpy(three_subsets(layout))
        plan = [(c, c, 1), (c, c, 1), (c, c, 1), (c, 2 * c, 2), (2 * c, 2 * c, 1), (2 * c, 2 * c, 1),
                (2 * c, 4 * c, 2), (4 * c, 4 * c, 1), (4 * c, 4 * c, 1)]  # fmt: skip
        self.blocks = nn.Sequential(*(ReferenceBlock(i, o, topology, s) for i, o, s in plan))
        d = 4 * c
        self.fc, self.fc_mu, self.fc_logvar = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.decoder = nn.Linear(d, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, v, m = x.shape
        frames = x.permute(0, 4, 2, 3, 1).reshape(n * m * t, v, c)
        frames = self.rel_pos.to(x.dtype).expand(n * m * t, v, v) @ frames
        y = self.to_joint(frames) + self.pos_embed
        y = self.data_bn(y.view(n, m, t, v, -1).permute(0, 1, 3, 4, 2).reshape(n, -1, t))
        y = y.view(n, m, v, -1, t).permute(0, 1, 3, 4, 2).reshape(n * m, -1, t, v)
        f = self.blocks(y)
        return F.relu(self.fc(f.view(n, m, f.shape[1], -1).mean(3).mean(1)))

    def forward(self, x: torch.Tensor, text: torch.Tensor | None = None) -> torch.Tensor:
        h = self.embed(x)
        mu = self.fc_mu(h)
        if self.training:
            mu = mu + torch.exp(0.5 * self.fc_logvar(h)) * torch.randn_like(mu)
        return self.decoder(mu)

    def loss(self, logits: torch.Tensor, y: torch.Tensor, k_gt: torch.Tensor | None = None):
        value = F.cross_entropy(logits.float(), y, label_smoothing=0.1)
        return value, {"ce": value.detach()}

    def inference_model(self) -> nn.Module:
        return _Embedding(self)


class _Embedding(nn.Module):
    """What one-shot inference runs: the embedding, no classifier."""

    def __init__(self, net: ReferenceInfoGCN) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.embed(x)
