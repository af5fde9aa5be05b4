"""Local-to-global interaction module (L2G, METHOD.md §5): training only, dropped at export.

Local texts are queries; they first exchange context (self-attention), then look at all
skeleton tokens (cross-attention), then pass an MLP; the mean over text tokens, projected to
the embedding width, goes through the *shared* classifier so the skeleton branch learns the
text's class space. Any number of text tokens works: the skeleton side is pooled to the
same tokens by a [P, V] matrix (parts → mean of their joints; joints → identity).
"""

from __future__ import annotations

import torch
from torch import nn

from crossglg.errors import UserError
from crossglg.models.config import L2GConfig
from crossglg.models.jid import person_average


class InteractionLayer(nn.Module):
    """Pre-LN: text self-attention, text→skeleton cross-attention, add, GELU MLP."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int, dropout: float) -> None:
        super().__init__()
        self.norm_self = nn.LayerNorm(dim)
        self.self_attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.cross_attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, mlp_ratio * dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(mlp_ratio * dim, dim),
            nn.Dropout(dropout),
        )

    def forward(self, text: torch.Tensor, skel: torch.Tensor) -> torch.Tensor:
        h = self.norm_self(text)
        text = text + self.self_attn(h, h, h, need_weights=False)[0]
        kv = self.norm_kv(skel)
        u = text + self.cross_attn(self.norm_q(text), kv, kv, need_weights=False)[0]
        return u + self.mlp(self.norm_mlp(u))


class CrossModalInteraction(nn.Module):
    """Text tokens [N, P, Dt] + last-block joint features [N·M, C, T, V] → z_c [N, out_dim]."""

    def __init__(self, skel_channels: int, pooling: torch.Tensor, cfg: L2GConfig, out_dim: int) -> None:
        super().__init__()
        tokens = pooling.shape[0]
        self.register_buffer("pooling", pooling)  # [P, V]
        self.text_proj = nn.Linear(cfg.text_dim, cfg.dim)
        self.skel_proj = nn.Linear(skel_channels, cfg.dim)
        self.token_embed = nn.Parameter(torch.zeros(tokens, cfg.dim))
        nn.init.trunc_normal_(self.token_embed, std=0.02)
        self.text_norm = nn.LayerNorm(cfg.dim)
        self.skel_norm = nn.LayerNorm(cfg.dim)
        self.layers = nn.ModuleList(
            InteractionLayer(cfg.dim, cfg.heads, cfg.mlp_ratio, cfg.dropout) for _ in range(cfg.layers)
        )
        self.out = nn.Linear(cfg.dim, out_dim)
        self.text_dim = cfg.text_dim

    def forward(self, text: torch.Tensor, feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        p = self.pooling.shape[0]
        if text.dim() != 3 or text.shape[1] != p or text.shape[2] != self.text_dim:
            raise UserError(
                f"text_local has shape {tuple(text.shape)}; this model expects [N, {p}, {self.text_dim}]"
                " (set model l2g.parts / l2g.text_dim to match the text bank)"
            )
        joints = person_average(feats.mean(2), mask).to(feats.dtype)  # [N, C, V]
        skel = torch.einsum("pv,ncv->npc", self.pooling.to(joints.dtype), joints)
        s = self.skel_norm(self.skel_proj(skel) + self.token_embed)
        t = self.text_norm(self.text_proj(text.to(s.dtype)) + self.token_embed)
        for layer in self.layers:
            t = layer(t, s)
        return self.out(t.mean(1))
