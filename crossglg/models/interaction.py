"""Local-to-global interaction module (L2G, docs/MODELS.md, "Where CrossGLG attaches"): training only, dropped at export.

Local texts are queries; they first exchange context (self-attention), then look at all
skeleton tokens (cross-attention), then pass an MLP; the mean over text tokens, projected to
the embedding width, goes through the *shared* classifier so the skeleton branch learns the
text's class space. Any number of text tokens works: the skeleton side is pooled to the
same tokens by a [P, V] matrix (parts → mean of their joints; joints → identity).

Two forms (``l2g.form``, docs/MODELS.md "Corrections"): "text-residual" adds the attention
output to the (label-chosen) text, as the paper writes it (docs/MODELS.md, "Corrections"), so z_c can name the class from
the text alone; "gather" keeps only what the text queries gathered from the skeleton, and the
model scores every class's text against each sample (:meth:`CrossModalInteraction.gather`).
"""

from __future__ import annotations

import torch
from torch import nn

from crossglg.errors import UserError
from crossglg.models.config import L2GConfig
from crossglg.models.jid import person_average


class InteractionLayer(nn.Module):
    """Pre-LN: text self-attention, text→skeleton cross-attention, add, GELU MLP."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int, dropout: float, text_residual: bool) -> None:
        super().__init__()
        self.text_residual = text_residual
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
        u = self.cross_attn(self.norm_q(text), kv, kv, need_weights=False)[0]
        if self.text_residual:
            u = text + u
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
            InteractionLayer(cfg.dim, cfg.heads, cfg.mlp_ratio, cfg.dropout, cfg.form == "text-residual")
            for _ in range(cfg.layers)
        )
        self.out = nn.Linear(cfg.dim, out_dim)
        self.text_dim = cfg.text_dim

    def forward(self, text: torch.Tensor, feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """text [N, P, Dt] (one row per sample) → z_c [N, out_dim]."""
        self._check_text(text, "text_local", "N")
        t, s = self._tokens(text, feats, mask)
        return self._interact(t, s)

    def gather(self, bank: torch.Tensor, feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """bank [K, P, Dt] (one row per class) → z_c [N, K, out_dim]: every class's text queries every sample."""
        self._check_text(bank, "text_bank", "K")
        t, s = self._tokens(bank, feats, mask)
        n, k = s.shape[0], t.shape[0]
        pairs_t = t.unsqueeze(0).expand(n, -1, -1, -1).reshape(n * k, *t.shape[1:])
        pairs_s = s.unsqueeze(1).expand(-1, k, -1, -1).reshape(n * k, *s.shape[1:])
        return self._interact(pairs_t, pairs_s).reshape(n, k, -1)

    def _check_text(self, text: torch.Tensor, name: str, rows: str) -> None:
        p = self.pooling.shape[0]
        if text.dim() != 3 or text.shape[1] != p or text.shape[2] != self.text_dim:
            raise UserError(
                f"{name} has shape {tuple(text.shape)}; this model expects [{rows}, {p}, {self.text_dim}]"
                " (set model l2g.parts / l2g.text_dim to match the text bank)"
            )

    def _tokens(
        self, text: torch.Tensor, feats: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        joints = person_average(feats.mean(2), mask).to(feats.dtype)  # [N, C, V]
        skel = torch.einsum("pv,ncv->npc", self.pooling.to(joints.dtype), joints)
        s = self.skel_norm(self.skel_proj(skel) + self.token_embed)
        t = self.text_norm(self.text_proj(text.to(s.dtype)) + self.token_embed)
        return t, s

    def _interact(self, t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            t = layer(t, s)
        return self.out(t.mean(1))
