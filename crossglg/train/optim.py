"""The SGD optimiser, with the text-side (L2G) parameters in a parameter group of their own.

The InfoGCN recipe's SGD at lr 0.1 suits the graph-convolution backbone, but the L2G module
is a small transformer (LayerNorm, attention, a linear output feeding the shared classifier
with no normalisation after it): at that step size its output grows until the cross-modal
logits explode (loss_c NaN within the warm-up on MSR Action3D, docs/TRAINING.md). Giving it
``lr × text_lr_mult`` keeps the backbone's recipe and slows only the module that diverges.
The JID stays in the backbone group: it belongs to the skeleton branch that runs at
inference, and its gradients are as small as the encoder's.

Both groups go through the same scheduler: ``LambdaLR`` multiplies each group's own initial
lr by the warm-up / step-decay factor, so the ratio holds at every step. The groups, their
lrs and the scheduler's base lrs are part of the optimiser and scheduler state dicts, so a
resumed run continues with exactly the same rates.
"""

from __future__ import annotations

from typing import Any

BACKBONE, TEXT = "backbone", "text"


def param_groups(model: Any, lr: float, text_lr_mult: float) -> list[dict[str, Any]]:
    """[backbone] or [backbone, text]: one group per distinct learning rate.

    A model without L2G (``--no-text``, or ``use_l2g = false``), or a multiplier of 1, keeps a
    single group: the optimiser is then exactly the one of runs made before the option existed.
    """
    text = [] if model.l2g is None or text_lr_mult == 1 else list(model.l2g.parameters())
    taken = {id(p) for p in text}
    groups = [{"name": BACKBONE, "params": [p for p in model.parameters() if id(p) not in taken], "lr": lr}]
    if text:
        groups.append({"name": TEXT, "params": text, "lr": lr * text_lr_mult})
    return groups


def build_optimizer(model: Any, cfg: Any):
    """SGD (Nesterov momentum, weight decay on every parameter as in InfoGCN) over :func:`param_groups`."""
    import torch

    return torch.optim.SGD(
        param_groups(model, cfg.lr, cfg.text_lr_mult),
        lr=cfg.lr,
        momentum=cfg.momentum,
        nesterov=cfg.nesterov,
        weight_decay=cfg.weight_decay,
    )
