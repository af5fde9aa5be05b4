"""Metric-learning terms added to the classification loss (docs/TRAINING.md, "Training objective").

One-shot recognition compares embeddings of classes never trained on, so a term that pulls
same-class embeddings together and pushes the others apart within each batch shapes the
space the read-out uses more directly than cross-entropy on the training classes alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def supervised_contrastive(z: torch.Tensor, y: torch.Tensor, temperature: float) -> torch.Tensor:
    """SupCon loss (Khosla et al., NeurIPS 2020, L_out) over one batch of embeddings z [N, D].

    Each sample's positives are the other samples of its class; anchors without a positive
    in the batch are skipped, and a batch without any positive pair gives 0 (with a graph,
    so backward still works).
    """
    z = F.normalize(z.float(), dim=1)
    n = z.shape[0]
    self_pair = torch.eye(n, dtype=torch.bool, device=z.device)
    sim = (z @ z.t() / temperature).masked_fill(self_pair, float("-inf"))
    log_prob = sim - sim.logsumexp(dim=1, keepdim=True)
    positive = (y[:, None] == y[None, :]) & ~self_pair
    count = positive.sum(1)
    anchors = count > 0
    if not bool(anchors.any()):
        return z.sum() * 0.0
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
