"""Weight averaging over a run's last epochs (``swa_epochs``; docs/TRAINING.md, "Weight averaging").

A one-shot read-out of one trained model swings by several points from seed to seed, and an
ensemble of seeds removes much of that (docs/RESULTS.md, "Seed ensembles"). The mean of one
run's end-of-epoch weights is the single-model version of the same idea: the run's model sits
in the middle of the region its last epochs wandered through, at the cost of one pass over the
training data to re-estimate BatchNorm statistics for the averaged weights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


class WeightAverage:
    """Running mean of a model's floating-point state over the epochs of a window.

    ``first`` is the 0-based epoch the window starts at; an update from a different window (a run
    resumed with another ``--epochs``) starts the mean again, since the snapshots of the old window
    are gone. Integer buffers (BatchNorm's batch counters) keep their latest value.
    """

    def __init__(self) -> None:
        self.mean: dict[str, Any] | None = None
        self.count = 0
        self.first = -1

    def update(self, model, first: int) -> None:
        state = model.state_dict()
        if self.mean is None or first != self.first:
            self.mean = {
                k: v.detach().double() if v.is_floating_point() else v.detach().clone()
                for k, v in state.items()
            }
            self.count, self.first = 1, first
            return
        self.count += 1
        for k, v in state.items():
            if v.is_floating_point():
                self.mean[k] += (v.detach().double() - self.mean[k]) / self.count
            else:
                self.mean[k] = v.detach().clone()

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "count": self.count, "first": self.first}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mean, self.count, self.first = state["mean"], int(state["count"]), int(state["first"])

    def averaged_state(self, model) -> dict[str, Any]:
        """The mean, in the dtypes and on the devices of ``model``'s own state."""
        if self.mean is None:
            raise ValueError("no epoch has been averaged yet")
        own = model.state_dict()
        return {k: v.to(dtype=own[k].dtype, device=own[k].device) for k, v in self.mean.items()}


def recompute_batchnorm(module, batches: Iterable[Any], forward: Callable[[Any], Any]) -> None:
    """Re-estimate every BatchNorm's running statistics in ``module`` from ``batches``.

    Averaged weights produce activations whose statistics none of the averaged epochs measured,
    so the stored ones would be wrong. Each layer's statistics are reset and accumulated as an
    exact mean over the batches (momentum None), as ``torch.optim.swa_utils.update_bn`` does.
    """
    import torch

    norms = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    was_training = module.training
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    module.train()
    with torch.no_grad():
        for x in batches:
            forward(x)
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    module.train(was_training)
