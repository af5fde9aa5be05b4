"""The CrossGLG wrapper: any :class:`SkeletonEncoder` + JID + L2G + one shared classifier.

The skeleton branch (encoder + JID) is a module of its own, so the text-free inference model
is literally a copy of it: identical embeddings by construction, and no text tensor or
interaction weight can hide in an exported checkpoint.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from crossglg.data.layouts import Layout, get_layout
from crossglg.errors import UserError
from crossglg.models.base import SkeletonEncoder
from crossglg.models.config import ModelConfig
from crossglg.models.graph import resolve_parts, token_pooling
from crossglg.models.interaction import CrossModalInteraction
from crossglg.models.jid import JointImportance, person_average, person_mask


@dataclass
class ModelOutput:
    """What one forward pass returns; fields are None when their part is switched off."""

    logits_s: torch.Tensor  # [N, K] skeleton branch
    logits_c: torch.Tensor | None  # [N, K] cross-modal branch (training with text only)
    k_out: torch.Tensor | None  # [N, V] joint importance, person-averaged, rows sum to 1
    z_s: torch.Tensor  # [N, 256] skeleton embedding (what one-shot evaluation uses)
    latent: torch.Tensor | None  # InfoGCN's sampled IB latent (for its MMD loss), else None


@dataclass
class SkeletonFeatures:
    z: torch.Tensor  # [N, D]
    last: torch.Tensor  # [N·M, C, T, V] last-block features
    k_person: torch.Tensor | None  # [N·M, V]
    mask: torch.Tensor  # [N, M] present persons

    def frames(self) -> torch.Tensor:
        """[N, T', C] last-block features per frame, averaged over joints and present persons.

        The input of order-aware read-outs (DTW over learned features, docs/TRAINING.md): the
        same features the encoder's pooling averages over time, before that average.
        """
        return person_average(self.last.mean(3), self.mask).transpose(1, 2)


class SkeletonBranch(nn.Module):
    """Encoder blocks with the JID after block ``n_pre`` re-weighting every later block."""

    def __init__(self, encoder: SkeletonEncoder, cfg: ModelConfig) -> None:
        super().__init__()
        self.encoder = encoder
        n_blocks = len(encoder.blocks)
        self.n_pre = cfg.jid.n_pre or encoder.default_n_pre
        if not 1 <= self.n_pre < n_blocks:
            raise UserError(
                f"model config: jid.n_pre={self.n_pre}; {encoder.name} has blocks 1..{n_blocks - 1}"
            )
        self.jid: JointImportance | None = None
        if cfg.jid_on:
            c = encoder.channels[self.n_pre - 1]
            self.jid = JointImportance(c, cfg.jid.hidden_mult * c)
        self.residual_form = cfg.jid.reweight == "residual"
        self.detach = cfg.jid.detach

    def features(self, x: torch.Tensor) -> SkeletonFeatures:
        if not torch.jit.is_tracing() and (x.dim() != 5 or x.shape[3] != self.encoder.layout.num_joints):
            raise UserError(
                f"model input has shape {tuple(x.shape)}; expected [N, C, T, "
                f"{self.encoder.layout.num_joints}, M] for layout {self.encoder.layout.name}"
            )
        f = self.encoder.stem(x)
        k = w = None
        for i, block in enumerate(self.encoder.blocks, start=1):
            f = block(f, w)
            if self.jid is not None and i == self.n_pre:
                k = self.jid(f)
                w = self._joint_weight(k)
        return SkeletonFeatures(self.encoder.pool(f, x.shape[-1]), f, k, person_mask(x))

    def _joint_weight(self, k: torch.Tensor) -> torch.Tensor:
        w = (k.detach() if self.detach else k) * k.shape[-1]
        return w + 1 if self.residual_form else w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """z_s [N, D]: the text-free embedding."""
        return self.features(x).z

    @torch.no_grad()
    def joint_importance(self, x: torch.Tensor) -> torch.Tensor | None:
        """k_out [N, V] for visualising which joints the model attends to (None without a JID)."""
        feats = self.features(x)
        return None if feats.k_person is None else person_average(feats.k_person, feats.mask)


class CrossGLG(nn.Module):
    """Dual-branch model. See docs/MODELS.md for the contract the trainer relies on."""

    def __init__(self, encoder: SkeletonEncoder, num_classes: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.num_classes = num_classes
        # the head before the JID: under one seed, base and CrossGLG then start from the same
        # encoder *and* classifier weights, so a --no-text comparison differs only by CrossGLG
        self.head = encoder.make_head(num_classes)
        self.skeleton = SkeletonBranch(encoder, cfg)
        self.l2g: CrossModalInteraction | None = None
        self.part_names: tuple[str, ...] = ()
        if cfg.l2g_on:
            self.part_names = resolve_parts(encoder.layout, cfg.l2g.parts)
            pooling = torch.from_numpy(token_pooling(encoder.layout, self.part_names))
            self.l2g = CrossModalInteraction(encoder.channels[-1], pooling, cfg.l2g, encoder.embed_dim)

    @property
    def encoder(self) -> SkeletonEncoder:
        return self.skeleton.encoder

    def forward(self, x: torch.Tensor, text_local: torch.Tensor | None = None) -> ModelOutput:
        feats = self.skeleton.features(x)
        logits_s, latent = self.head(feats.z, sample=True)
        k_out = None if feats.k_person is None else person_average(feats.k_person, feats.mask)
        logits_c = None
        if self.l2g is not None and text_local is not None:
            z_c = self.l2g(text_local, feats.last, feats.mask)
            logits_c, _ = self.head(z_c, sample=False)  # μ only on the cross-modal branch
        return ModelOutput(logits_s, logits_c, k_out, feats.z, latent)

    def loss(
        self, out: ModelOutput, y: torch.Tensor, k_gt_batch: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """L = w_s·L_s + w_cal·L_cal + w_c·L_c + the encoder's own terms; parts are detached, unweighted."""
        lc = self.cfg.loss
        parts: dict[str, torch.Tensor] = {}
        parts["s"] = F.cross_entropy(out.logits_s.float(), y, label_smoothing=lc.label_smoothing)
        total = lc.w_s * parts["s"]
        if out.k_out is not None:
            if k_gt_batch is None:
                raise ValueError("this model has a JID: pass k_gt_batch (TextBank.k_gt rows of the labels)")
            parts["cal"] = F.mse_loss(out.k_out, k_gt_batch.to(out.k_out))
            total = total + lc.w_cal * parts["cal"]
        if out.logits_c is not None:
            parts["c"] = F.cross_entropy(out.logits_c.float(), y, label_smoothing=lc.label_smoothing)
            total = total + lc.w_c * parts["c"]
        for name, (weight, value) in self.head.aux_losses(out.latent, y).items():
            parts[name] = value
            total = total + weight * value
        return total, {k: v.detach() for k, v in parts.items()}

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """z_s with no text: what exemplars and queries go through at one-shot evaluation."""
        return self.skeleton(x)

    def inference_model(self) -> SkeletonBranch:
        """A standalone copy of the skeleton branch (encoder + JID), in eval mode: no head, no text, no L2G."""
        return copy.deepcopy(self.skeleton).eval()


def build_model(
    encoder: str,
    layout: str | Layout,
    num_classes: int,
    cfg: ModelConfig | dict[str, Any] | None = None,
) -> CrossGLG:
    """Build ``encoder`` on ``layout`` with ``num_classes`` training classes; cfg may be a TOML-style dict."""
    from crossglg.models.registry import make_encoder

    if not isinstance(cfg, ModelConfig):
        cfg = ModelConfig.from_dict(cfg)
    cfg.validate()
    if num_classes < 1:
        raise UserError(f"build_model: num_classes must be >= 1, got {num_classes}")
    lay = get_layout(layout) if isinstance(layout, str) else layout
    return CrossGLG(make_encoder(encoder, lay, cfg.encoder), num_classes, cfg)


def build_inference_model(
    encoder: str, layout: str | Layout, cfg: ModelConfig | dict[str, Any] | None = None
) -> SkeletonBranch:
    """An empty skeleton branch to load an exported ``inference_model().state_dict()`` into."""
    model = build_model(encoder, layout, 1, cfg)
    return model.skeleton.eval()
