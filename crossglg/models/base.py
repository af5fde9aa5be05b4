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

from crossglg.errors import UserError
from crossglg.models.config import EncoderConfig
from crossglg.models.jid import person_average, person_mask
from crossglg.vocab.layouts import Layout


def kept_blocks(plan: list[tuple], cfg: EncoderConfig, encoder: str) -> list[tuple]:
    """The first ``encoder.depth`` entries of an encoder's block plan (all when unset)."""
    if cfg.depth is not None and cfg.depth > len(plan):
        raise UserError(f"model config: encoder.depth={cfg.depth}; {encoder} has {len(plan)} blocks")
    return plan[: cfg.depth]


class SkeletonEncoder(nn.Module):
    """Base class: subclasses fill ``blocks``, ``channels`` and implement ``stem`` / ``pool``."""

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

    def pool(self, f: torch.Tensor, num_person: int, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Mean over time and joints, then over the persons present: the reference encoders' pooling.

        ``mask`` [N, M] (``person_mask`` of the input) leaves empty person slots out of the
        mean; the reference encoders average them in, so a single actor padded to two slots
        got half its embedding from a constant dummy (docs/MODELS.md, "Persons"). Without a
        mask, or with ``encoder.mask_empty_persons = false``, every slot counts, as in the reference.
        """
        nm, c = f.shape[:2]
        per_person = f.reshape(nm, c, -1).mean(-1)  # [N·M, C]
        if mask is None or not self.cfg.mask_empty_persons:
            return per_person.reshape(nm // num_person, num_person, c).mean(1)
        return person_average(per_person, mask).to(f.dtype)

    def make_head(self, num_classes: int) -> nn.Module:
        return classifier_head(self.embed_dim, num_classes, self.cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The plain encoder's embedding (no JID)."""
        f = self.stem(x)
        for block in self.blocks:
            f = block(f, None)
        return self.pool(f, x.shape[-1], person_mask(x))


def classifier_head(dim: int, num_classes: int, cfg: EncoderConfig) -> nn.Module:
    """The plain classifier ``cfg.head`` names: a linear layer, or cosine logits at a fixed scale."""
    if cfg.head == "cosine":
        return CosineHead(dim, num_classes, cfg.dropout, cfg.head_scale)
    return LinearHead(dim, num_classes, cfg.dropout)


class LinearHead(nn.Module):
    """Dropout + one linear layer (ST-GCN, CTR-GCN, InfoGCN without its bottleneck)."""

    def __init__(self, dim: int, num_classes: int, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(dim, num_classes, bias=bias)
        nn.init.normal_(self.fc.weight, 0, (2.0 / num_classes) ** 0.5)
        if bias:
            nn.init.zeros_(self.fc.bias)

    def forward(self, z: torch.Tensor, sample: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.fc(self.drop(z)), None

    def aux_losses(
        self, latent: torch.Tensor | None, y: torch.Tensor
    ) -> dict[str, tuple[float, torch.Tensor]]:
        """(weight, value) of the head's own loss terms: none for a plain linear classifier."""
        return {}


class CosineHead(LinearHead):
    """Normalised classifier: logits = scale · cos(z, w_k), no bias (Wang et al., CosFace; Chen et al. 2019).

    Training then shapes the directions of z, which is all a cosine nearest-exemplar read-out
    uses; a linear head can also lower its loss by growing ||z|| and class biases, which
    one-shot matching on new classes cannot use (docs/TRAINING.md, "Training objective").
    The scale is fixed: with unit vectors the logits lie in [-scale, scale], and a scale near
    16 lets softmax reach the label-smoothing floor.
    """

    def __init__(self, dim: int, num_classes: int, dropout: float, scale: float) -> None:
        super().__init__(dim, num_classes, dropout, bias=False)
        self.scale = scale

    def forward(self, z: torch.Tensor, sample: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        w = F.normalize(self.fc.weight, dim=1)
        return self.scale * F.normalize(self.drop(z), dim=1) @ w.t().to(z.dtype), None


def check_head(cfg: EncoderConfig) -> None:
    """InfoGCN's bottleneck head and the cosine head are two heads; a config may ask for one."""
    if cfg.info_bottleneck and cfg.head == "cosine":
        raise UserError("model config: encoder.head='cosine' needs encoder.info_bottleneck=false")


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
