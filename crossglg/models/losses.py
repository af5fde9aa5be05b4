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
