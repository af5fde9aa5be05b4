"""The CrossGLG wrapper: any :class:`SkeletonEncoder` + JID + L2G + one shared classifier.

The skeleton branch (encoder + JID) is a module of its own, so the text-free inference model
is literally a copy of it: identical embeddings by construction, and no text tensor or
interaction weight can hide in an exported checkpoint.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from crossglg.errors import UserError
from crossglg.models.base import SkeletonEncoder
from crossglg.models.config import MAX_CLASSES, ModelConfig
from crossglg.models.graph import resolve_parts, token_pooling
from crossglg.models.interaction import CrossModalInteraction
from crossglg.models.jid import JointImportance, person_average, person_mask
from crossglg.models.losses import (
    aligned_contrastive,
    reconstruction_error,
    soft_cross_entropy,
    supervised_contrastive,
    text_margins,
    text_relation_targets,
)
from crossglg.vocab.layouts import Layout, get_layout


@dataclass
class ModelOutput:
    """What one forward pass returns; fields are None when their part is switched off."""

    logits_s: torch.Tensor  # [N, K] skeleton branch
    logits_c: torch.Tensor | None  # [N, K] cross-modal branch (training with text only)
    k_out: torch.Tensor | None  # [N, V] joint importance, person-averaged, rows sum to 1
    z_s: torch.Tensor  # [N, 256] skeleton embedding (what one-shot evaluation uses)
    latent: torch.Tensor | None  # InfoGCN's sampled IB latent (for its MMD loss), else None
    joint_frames: torch.Tensor | None = None  # [N, T', V, C], only when loss.w_align > 0
    # (read back, input) [N, T', V, C_in] each, only when loss.w_recon > 0
    recon: tuple[torch.Tensor, torch.Tensor] | None = None


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

    def joint_frames(self) -> torch.Tensor:
        """[N, T', V, C] the same features with the joints kept apart (``frames()`` is their mean over V).

        Averaging over joints makes a kick and an arm swing look alike; the ``jfdtw`` read-out
        (docs/TRAINING.md, "Read-outs") matches where in the body the features are, too.
        """
        return person_average(self.last, self.mask).permute(0, 2, 3, 1)


class SkeletonBranch(nn.Module):
    """Encoder blocks with the JID after block ``n_pre`` re-weighting every later block."""

    def __init__(self, encoder: SkeletonEncoder, cfg: ModelConfig) -> None:
        super().__init__()
        self.encoder = encoder
        n_blocks = len(encoder.blocks)
        self.n_pre = cfg.jid.n_pre or encoder.default_n_pre
        self.jid: JointImportance | None = None
        if cfg.jid_on:  # without a JID, n_pre names no block (a shallow encoder may lack it)
            if not 1 <= self.n_pre < n_blocks:
                raise UserError(
                    f"model config: jid.n_pre={self.n_pre}; {type(encoder).__name__} has blocks 1..{n_blocks - 1}"
                )
            c = encoder.channels[self.n_pre - 1]
            self.jid = JointImportance(c, cfg.jid.hidden_mult * c)
        self.jid_cfg = cfg.jid

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
        mask = person_mask(x)
        return SkeletonFeatures(self.encoder.pool(f, x.shape[-1], mask), f, k, mask)

    def _joint_weight(self, k: torch.Tensor) -> torch.Tensor:
        """Per-joint multiplier from k (rows sum to 1); V·k has mean 1 over joints."""
        c = self.jid_cfg
        w = (k.detach() if c.detach else k) * k.shape[-1]
        if c.reweight == "residual":
            return w + 1
        if c.reweight == "bounded":
            return (1 + c.strength * (w - 1)).clamp(min=c.floor)
        return w

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
        self.read_back: nn.Linear | None = None
        if cfg.loss.w_recon > 0:  # training only: the exported skeleton branch never holds it
            self.read_back = nn.Linear(encoder.channels[-1], encoder.cfg.in_channels)

    @property
    def encoder(self) -> SkeletonEncoder:
        return self.skeleton.encoder

    def forward(
        self, x: torch.Tensor, text_local: torch.Tensor | None = None, text_bank: torch.Tensor | None = None
    ) -> ModelOutput:
        """``text_local`` [N, P, Dt]: each sample's class text; ``text_bank`` [K, P, Dt]: every class's.

        The "text-residual" L2G reads ``text_local``; the "gather" form reads ``text_bank``.
        """
        feats = self.skeleton.features(x)
        logits_s, latent = self.head(self._head_input(feats.z), sample=True)
        k_out = None if feats.k_person is None else person_average(feats.k_person, feats.mask)
        logits_c = None
        if self.l2g is not None and self.cfg.l2g.form == "gather":
            if text_bank is not None:
                logits_c = self._gather_logits(text_bank, feats)
            elif text_local is not None:
                raise UserError('l2g.form="gather" scores every class\'s text: pass text_bank [K, P, Dt]')
        elif self.l2g is not None and text_local is not None:
            z_c = self.l2g(text_local, feats.last, feats.mask)
            logits_c, _ = self.head(self._head_input(z_c), sample=False)  # μ only on the cross-modal branch
        frames = feats.joint_frames() if self.cfg.loss.w_align > 0 else None
        recon = None if self.read_back is None else self._read_back(feats, x)
        return ModelOutput(logits_s, logits_c, k_out, feats.z, latent, frames, recon)

    def _read_back(self, feats: SkeletonFeatures, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The input [N, C_in, T, V, M] averaged over each feature frame's span of input frames and
        over present persons, beside what the linear map reads from the per-joint features."""
        joints = feats.joint_frames()  # [N, T', V, C]
        n, c_in, _, v, m = x.shape
        pooled = F.adaptive_avg_pool3d(x.float(), (joints.shape[1], v, m))  # [N, C_in, T', V, M]
        flat = pooled.permute(0, 4, 1, 2, 3).reshape(n * m, c_in, joints.shape[1], v)
        target = person_average(flat, feats.mask).permute(0, 2, 3, 1)
        return self.read_back(joints), target

    def _gather_logits(self, text_bank: torch.Tensor, feats: SkeletonFeatures) -> torch.Tensor:
        """logits_c[n, k] = class k's logit of the skeleton vector that class k's text gathered from n.

        Every class's text queries every sample, so the ground-truth label never chooses the
        input: a z_c that ignored the skeleton would score all samples alike.
        """
        if text_bank.shape[0] != self.num_classes:
            raise UserError(
                f"text_bank has {text_bank.shape[0]} class rows; this model has {self.num_classes} classes"
            )
        z_c = self.l2g.gather(text_bank, feats.last, feats.mask)  # [N, K, D]
        n, k, d = z_c.shape
        logits, _ = self.head(self._head_input(z_c.reshape(n * k, d)), sample=False)
        return logits.reshape(n, k, -1).diagonal(dim1=1, dim2=2)

    def _head_input(self, z: torch.Tensor) -> torch.Tensor:
        """z_s and z_c on one scale before the shared classifier (``head_input``, docs/MODELS.md)."""
        if self.cfg.head_input == "l2":
            return F.normalize(z, dim=-1) * z.shape[-1] ** 0.5
        if self.cfg.head_input == "layernorm":
            return F.layer_norm(z, z.shape[-1:])
        return z

    def loss(
        self,
        out: ModelOutput,
        y: torch.Tensor,
        k_gt_batch: torch.Tensor | None = None,
        text_similarity: torch.Tensor | None = None,
        soft_target: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """L = w_s·L_s + w_cal·L_cal + w_c·L_c + the encoder's own terms; parts are detached, unweighted.

        ``text_similarity`` [N, K]: each sample's class-text similarity to every training class,
        needed when ``loss.text_relation`` or ``loss.text_margin`` is on (docs/MODELS.md,
        "Text-relation targets"). ``soft_target`` [N, K]: L_s's target distribution in place of
        ``y`` (part mixing, docs/TRAINING.md; the config allows it only where nothing else reads
        the labels but the encoder's own terms).
        """
        lc = self.cfg.loss
        parts: dict[str, torch.Tensor] = {}
        parts["s"] = self._skeleton_loss(out.logits_s.float(), y, text_similarity, soft_target)
        total = lc.w_s * parts["s"]
        if out.k_out is not None:
            if k_gt_batch is None:
                raise ValueError("this model has a JID: pass k_gt_batch (TextBank.k_gt rows of the labels)")
            eps = self.cfg.jid.target_smoothing
            target = (1 - eps) * k_gt_batch.to(out.k_out) + eps / out.k_out.shape[-1]
            parts["cal"] = F.mse_loss(out.k_out, target)
            total = total + lc.w_cal * parts["cal"]
        if out.logits_c is not None:
            parts["c"] = F.cross_entropy(out.logits_c.float(), y, label_smoothing=lc.label_smoothing)
            total = total + lc.w_c * parts["c"]
        if lc.w_supcon > 0:
            parts["supcon"] = supervised_contrastive(out.z_s, y, lc.supcon_temperature)
            total = total + lc.w_supcon * parts["supcon"]
        if lc.w_align > 0:
            if out.joint_frames is None:
                raise ValueError(
                    "loss.w_align > 0: the output has no joint_frames (use this model's forward)"
                )
            weights = None
            if lc.align_text > 0:
                if k_gt_batch is None:
                    raise ValueError(
                        "loss.align_text > 0: pass k_gt_batch (TextBank.k_gt rows of the labels)"
                    )
                weights = (1 - lc.align_text) + lc.align_text * k_gt_batch.shape[-1] * k_gt_batch.float()
            parts["align"] = aligned_contrastive(
                out.joint_frames, y, lc.align_temperature, lc.align_gamma, weights
            )
            total = total + lc.w_align * parts["align"]
        if out.recon is not None:
            parts["recon"] = reconstruction_error(*out.recon)
            total = total + lc.w_recon * parts["recon"]
        for name, (weight, value) in self.head.aux_losses(out.latent, y).items():
            parts[name] = value
            total = total + weight * value
        return total, {k: v.detach() for k, v in parts.items()}

    def _skeleton_loss(
        self,
        logits: torch.Tensor,
        y: torch.Tensor,
        text_similarity: torch.Tensor | None,
        soft_target: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """L_s: cross-entropy with label smoothing, or with the text-relation targets and margins."""
        lc = self.cfg.loss
        if soft_target is not None:
            return F.cross_entropy(logits, soft_target.to(logits), label_smoothing=lc.label_smoothing)
        if not lc.uses_text_similarity:
            return F.cross_entropy(logits, y, label_smoothing=lc.label_smoothing)
        if text_similarity is None:
            raise ValueError(
                "loss.text_relation/text_margin: pass text_similarity (TextTargets.similarity rows)"
            )
        if lc.text_margin > 0:
            logits = logits + text_margins(text_similarity, y, lc.text_margin)
        if lc.text_relation > 0:
            target = text_relation_targets(text_similarity, y, lc.text_relation, lc.text_relation_temperature)
            return soft_cross_entropy(logits, target)
        return F.cross_entropy(logits, y, label_smoothing=lc.label_smoothing)

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
    if not 1 <= num_classes <= MAX_CLASSES:
        raise UserError(f"build_model: num_classes must be >= 1 and <= {MAX_CLASSES}, got {num_classes}")
    lay = get_layout(layout) if isinstance(layout, str) else layout
    try:
        return CrossGLG(make_encoder(encoder, lay, cfg.encoder), num_classes, cfg)
    except (MemoryError, RuntimeError) as err:
        if not _allocation_failure(err):
            raise
        wanted = re.search(r"allocate (\d+) bytes", str(err))
        size = f" ({int(wanted.group(1)) / 2**30:,.1f} GiB for one layer)" if wanted else ""
        raise UserError(
            f"{encoder} with {num_classes} classes does not fit in memory{size}; lower the model's widths "
            "(the model config's encoder, jid and l2g sizes)"
        ) from None


def _allocation_failure(err: BaseException) -> bool:
    """Whether ``err`` is the allocator refusing a size, not a bug: torch reports it on CPU as a bare
    RuntimeError ("DefaultCPUAllocator: can't allocate memory"), on CUDA as OutOfMemoryError."""
    oom = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)
    return isinstance(err, (MemoryError, oom)) or "can't allocate memory" in str(err)


def build_inference_model(
    encoder: str, layout: str | Layout, cfg: ModelConfig | dict[str, Any] | None = None
) -> SkeletonBranch:
    """An empty skeleton branch to load an exported ``inference_model().state_dict()`` into."""
    model = build_model(encoder, layout, 1, cfg)
    return model.skeleton.eval()
