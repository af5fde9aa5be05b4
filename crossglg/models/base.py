"""The one interface every skeleton encoder offers, and the classifier heads.

An encoder is: a ``stem`` turning the input [N, C, T, V, M] into per-joint features
[N·M, C, T, V]; an ordered ``blocks`` list, each called as ``block(f, joint_weight)`` where
``joint_weight`` [N·M, V] (or None) multiplies the block's spatial-aggregation output (the
JID hook); and ``pool`` giving the embedding z [N, embed_dim]. The CrossGLG wrapper only
talks to this interface, so a new encoder plugs in by implementing it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from crossglg.data.layouts import Layout
from crossglg.models.config import EncoderConfig


class SkeletonEncoder(nn.Module):
    """Base class: subclasses fill ``blocks``, ``channels`` and implement ``stem`` / ``pool``."""

    name: str = ""
    default_n_pre: int = 5
    embed_dim: int = 256
    blocks: nn.ModuleList
    channels: tuple[int, ...]  # output channels of each block

    def __init__(self, layout: Layout, cfg: EncoderConfig) -> None:
        super().__init__()
        self.layout = layout
        self.cfg = cfg

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def pool(self, f: torch.Tensor, num_person: int) -> torch.Tensor:
        """Mean over time, joints and persons: the reference encoders' global pooling."""
        nm, c = f.shape[:2]
        return f.reshape(nm // num_person, num_person, c, -1).mean(dim=(1, 3))

    def make_head(self, num_classes: int) -> nn.Module:
        return LinearHead(self.embed_dim, num_classes, self.cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The plain encoder's embedding (no JID)."""
        f = self.stem(x)
        for block in self.blocks:
            f = block(f, None)
        return self.pool(f, x.shape[-1])


class LinearHead(nn.Module):
    """Dropout + one linear layer (ST-GCN, CTR-GCN, InfoGCN without its bottleneck)."""

    def __init__(self, dim: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(dim, num_classes)
        nn.init.normal_(self.fc.weight, 0, (2.0 / num_classes) ** 0.5)
        nn.init.zeros_(self.fc.bias)

    def forward(self, z: torch.Tensor, sample: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.fc(self.drop(z)), None

    def aux_losses(
        self, latent: torch.Tensor | None, y: torch.Tensor
    ) -> dict[str, tuple[float, torch.Tensor]]:
        """(weight, value) of the head's own loss terms: none for a plain linear classifier."""
        return {}


class InfoBottleneckHead(nn.Module):
    """InfoGCN's head: z → (μ, log σ²) → sampled latent (training) or μ → linear decoder.

    The class prior is a fixed orthogonal matrix; it is a buffer so a checkpoint restores the
    same prior the MMD term was trained against.
    """

    def __init__(
        self, dim: int, num_classes: int, dropout: float, gain: float, lambda1: float, lambda2: float
    ) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.fc_mu = nn.Linear(dim, dim)
        self.fc_logvar = nn.Linear(dim, dim)
        self.decoder = nn.Linear(dim, num_classes)
        nn.init.normal_(self.decoder.weight, 0, (2.0 / num_classes) ** 0.5)
        prior = torch.empty(num_classes, dim)
        nn.init.orthogonal_(prior, gain=gain)
        self.register_buffer("z_prior", prior)
        self.lambda1 = lambda1
        self.lambda2 = lambda2

    def forward(self, z: torch.Tensor, sample: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.drop(z)
        mu = self.fc_mu(h)
        latent = mu
        if sample and self.training:
            std = torch.exp(0.5 * self.fc_logvar(h))
            latent = mu + std * torch.randn_like(std)
        return self.decoder(latent), latent

    def aux_losses(
        self, latent: torch.Tensor | None, y: torch.Tensor
    ) -> dict[str, tuple[float, torch.Tensor]]:
        """(weight, value) of the MMD to the class prior and of ||mean latent||₂, over classes present."""
        assert latent is not None
        latent = latent.float()
        onehot = F.one_hot(y, self.z_prior.shape[0]).to(latent.dtype)  # [N, K]
        counts = onehot.sum(0)
        present = (counts > 0).to(latent.dtype)
        means = (onehot.t() @ latent) / counts.clamp(min=1)[:, None]
        sq = ((means - self.z_prior.to(latent.dtype)) ** 2).sum(1) * present
        mmd = sq.sum() / (present.sum() * latent.shape[1])
        l2 = torch.linalg.vector_norm(latent.mean(0))
        return {"mmd": (self.lambda2, mmd), "l2_z_mean": (self.lambda1, l2)}
