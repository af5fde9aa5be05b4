"""Metric-learning terms added to the classification loss (docs/TRAINING.md, "Training objective").

One-shot recognition compares embeddings of classes never trained on, so a term that pulls
same-class embeddings together and pushes the others apart within each batch shapes the
space the read-out uses more directly than cross-entropy on the training classes alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_OUTSIDE = 1e10  # the accumulated cost of a cell outside the matrix (see soft_dtw)


def supervised_contrastive(z: torch.Tensor, y: torch.Tensor, temperature: float) -> torch.Tensor:
    """SupCon loss (Khosla et al., NeurIPS 2020, L_out) over one batch of embeddings z [N, D]."""
    z = F.normalize(z.float(), dim=1)
    return _supcon(z @ z.t() / temperature, y)


def aligned_contrastive(
    frames: torch.Tensor,
    y: torch.Tensor,
    temperature: float,
    gamma: float,
    joint_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """SupCon where two samples are as alike as their per-joint feature sequences align.

    ``frames`` [N, T, V, C] are the last block's features with the joints kept apart. The
    similarity of two samples is minus their soft-DTW distance (frames centred on the batch mean,
    unit length, Euclidean frame cost, divided by 2T), the distance the ``jfdtw`` read-out uses
    with a hard minimum: training then shapes the space that read-out matches in
    (docs/TRAINING.md, "Training objective").

    ``joint_weights`` [N, V] (mean 1 per row) weight each joint's share of the frame cost by the
    anchor: row n compares sample n with every other on the joints n's class text names
    (``loss.align_text``, docs/MODELS.md). None weighs every joint alike.
    """
    f = frames.float()
    n, t, v, c = f.shape
    f = F.normalize((f - f.mean(dim=(0, 1), keepdim=True).detach()).flatten(2), dim=-1)
    joints = f.view(n, t, v, c)
    w = f.new_ones(n, v) if joint_weights is None else joint_weights.to(f)
    # sum_j w_nj |f_ntj - f_msj|^2, expanded so no [N, N, T, T, V] tensor is built
    f2 = joints.square().sum(-1)  # [N, T, V]
    own = torch.einsum("ntv,nv->nt", f2, w)
    other = torch.einsum("msv,nv->nms", f2, w)
    cross = torch.einsum("ntf,msf->nmts", (joints * w[:, None, :, None]).flatten(2), f)
    squared = own[:, None, :, None] + other[:, :, None, :] - 2 * cross
    cost = (squared.clamp(min=0) + 1e-8).sqrt()
    distance = soft_dtw(cost, gamma) / (2 * t)
    return _supcon(-distance / temperature, y)


def soft_dtw(cost: torch.Tensor, gamma: float) -> torch.Tensor:
    """Soft-DTW (Cuturi & Blondel, ICML 2017) of cost matrices [..., T1, T2] → [...].

    The minimum over the three predecessors becomes a soft minimum of temperature ``gamma``, so
    the alignment cost is differentiable; as gamma → 0 it is the DTW recurrence of
    ``crossglg.baselines.dtw`` (without its division by T1 + T2). The cells of one
    anti-diagonal (i + j constant) depend only on the two diagonals before it, so all pairs and
    all cells of a diagonal advance together: the Python loop runs T1 + T2 times, not T1·T2
    (``python -m bench --only soft-dtw`` measures the gain). Cells outside the matrix hold a large
    finite value, not infinity, so that their gradients stay 0 instead of NaN.
    """
    t1, t2 = cost.shape[-2:]
    lead = cost.shape[:-2]
    padded = F.pad(cost, (1, 0, 1, 0), value=_OUTSIDE)  # padded[i, j] = cost[i-1, j-1]
    rows = torch.arange(t1 + 1, device=cost.device)
    edge = cost.new_full((*lead, 1), _OUTSIDE)
    before = torch.cat([cost.new_zeros((*lead, 1)), cost.new_full((*lead, t1), _OUTSIDE)], -1)  # R[0, 0] = 0
    last = cost.new_full((*lead, t1 + 1), _OUTSIDE)
    for diagonal in range(2, t1 + t2 + 1):
        cols = diagonal - rows  # diagonal i + j: R[i, j] is entry i
        inside = (rows >= 1) & (cols >= 1) & (cols <= t2)
        up, left = torch.cat([edge, last[..., :-1]], -1), last  # R[i-1, j], R[i, j-1]
        corner = torch.cat([edge, before[..., :-1]], -1)  # R[i-1, j-1]
        soft_min = -gamma * torch.logsumexp(torch.stack([up, left, corner]) / -gamma, dim=0)
        step = (padded[..., rows, cols.clamp(0, t2)] + soft_min).masked_fill(~inside, _OUTSIDE)
        before, last = last, step
    return last[..., t1]


def _supcon(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """SupCon over pairwise logits [N, N] (similarity / temperature).

    Each sample's positives are the other samples of its class; anchors without a positive
    in the batch are skipped, and a batch without any positive pair gives 0 (with a graph,
    so backward still works).
    """
    n = logits.shape[0]
    self_pair = torch.eye(n, dtype=torch.bool, device=logits.device)
    sim = logits.masked_fill(self_pair, float("-inf"))
    log_prob = sim - sim.logsumexp(dim=1, keepdim=True)
    positive = (y[:, None] == y[None, :]) & ~self_pair
    count = positive.sum(1)
    anchors = count > 0
    if not bool(anchors.any()):
        return logits.sum() * 0.0
    per_anchor = log_prob.masked_fill(~positive, 0.0).sum(1)[anchors] / count[anchors]
    return -per_anchor.mean()


def text_relation_targets(
    similarity: torch.Tensor, y: torch.Tensor, share: float, temperature: float
) -> torch.Tensor:
    """Soft targets [N, K]: 1 − share on the label, share spread over the other classes by text.

    ``similarity`` [N, K] holds the cosine similarity of each sample's class text to every
    training class's. The other classes get softmax(similarity / temperature) over the K − 1
    non-label entries, so a class whose description reads like the label's takes more of the
    share: uniform label smoothing with the text deciding where the mass goes
    (docs/MODELS.md, "Text-relation targets").
    """
    label = F.one_hot(y, similarity.shape[1]).bool()
    others = (similarity.float() / temperature).masked_fill(label, float("-inf")).softmax(dim=1)
    return torch.where(label, 1.0 - share, share * others)


def text_margins(similarity: torch.Tensor, y: torch.Tensor, scale: float) -> torch.Tensor:
    """[N, K] additive margins: ``scale`` × text similarity to the label for every other class, 0 on the label.

    Added to the logits in training only, so a class must beat the classes described like it by
    a wider gap than unlike ones (class-pair margins from label semantics, as in Li et al.,
    CVPR 2020, "Boosting few-shot learning with adaptive margin loss"; docs/MODELS.md).
    """
    label = F.one_hot(y, similarity.shape[1]).bool()
    return (scale * similarity.float()).masked_fill(label, 0.0)


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against a target distribution per row, averaged over the batch."""
    return -(target * logits.float().log_softmax(dim=1)).sum(dim=1).mean()


def reconstruction_error(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error as a share of the target's variance: 1 for a constant guess, 0 for a
    perfect one, whatever the unit of the coordinates (``loss.w_recon``, docs/MODELS.md)."""
    t = target.float()
    return F.mse_loss(predicted.float(), t) / t.var(correction=0).clamp(min=1e-8)
