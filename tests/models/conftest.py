"""Small inputs for the model tests: tiny T and batch so every test runs in well under a second."""

from __future__ import annotations

import pytest
import torch

from crossglg.vocab.layouts import get_layout

torch.set_num_threads(1)


def make_input(layout: str, n: int = 2, t: int = 8, m: int = 2, seed: int = 0) -> torch.Tensor:
    """[N, 3, T, V, M] random skeletons; the last sample's second person is zero-padded."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, t, get_layout(layout).num_joints, m, generator=g)
    x[-1, ..., 1] = 0
    return x


def make_k_gt(n: int, v: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(n, v, generator=g) * 3, dim=-1)


@pytest.fixture
def x_ntu() -> torch.Tensor:
    return make_input("ntu25")
