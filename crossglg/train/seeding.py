"""Random streams and deterministic kernels of a training run.

:func:`epoch_seed` re-seeds every stream at the start of each epoch from (seed, epoch, rank),
the rule exact resume rests on (loop.py; docs/TRAINING.md, "Resume").
"""

from __future__ import annotations

import os
import random

import numpy as np


def seed_all(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    return (seed * 1_000_003 + epoch * 9_973 + rank * 101) % 2**63


def set_deterministic(on: bool) -> None:
    """Bitwise-repeatable kernels; on CUDA this also needs a fixed cuBLAS workspace."""
    import torch

    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(on)
    torch.backends.cudnn.deterministic = on
    torch.backends.cudnn.benchmark = not on
