"""Learning-rate schedule of the InfoGCN recipe: linear warm-up, then ×gamma steps (docs/TRAINING.md, "Configuration")."""

from __future__ import annotations


def lr_factor(
    step: int, steps_per_epoch: int, warmup_epochs: int, lr_steps: list[int], gamma: float
) -> float:
    """Multiplier of the base learning rate at optimiser step ``step`` (0-based).

    Warm-up is per step rather than per epoch, so tiny datasets with one or two steps per
    epoch still ramp smoothly; the decay milestones are in epochs as in the recipe.
    """
    warm = warmup_epochs * steps_per_epoch
    if step < warm:
        return (step + 1) / warm
    epoch = step // steps_per_epoch
    return gamma ** sum(epoch >= m for m in lr_steps)


def make_scheduler(optimizer, steps_per_epoch: int, warmup_epochs: int, lr_steps: list[int], gamma: float):
    import torch

    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, steps_per_epoch, warmup_epochs, lr_steps, gamma)
    )
