"""Soft-DTW and the aligned contrastive term ``loss.w_align`` (issue 12, docs/TRAINING.md)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crossglg.baselines.dtw import dtw_distances
from crossglg.errors import UserError
from crossglg.models import ModelConfig, build_model
from crossglg.models.losses import aligned_contrastive, soft_dtw
from tests.models.conftest import make_input


def _pair_costs(a: np.ndarray, b: np.ndarray) -> torch.Tensor:
    """[A, B, T1, T2] Euclidean frame costs, the frame cost of the DTW baseline."""
    return torch.cdist(torch.tensor(a)[:, None], torch.tensor(b)[None])


def test_soft_dtw_tends_to_the_dtw_baseline_and_stays_below_it() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 7, 5)), rng.normal(size=(4, 9, 5))
    hard = dtw_distances(a, b) * (7 + 9)  # the baseline divides by T1 + T2
    cost = _pair_costs(a, b)
    np.testing.assert_allclose(soft_dtw(cost, 1e-4).numpy(), hard, atol=1e-6)
    soft = soft_dtw(cost, 1.0).numpy()
    assert (soft < hard).all()  # a soft minimum lies below the minimum
    assert (hard - soft).max() < (7 + 9) * np.log(3)  # by at most gamma·log 3 per step of the path


def test_soft_dtw_of_a_stretched_copy_is_near_zero() -> None:
    seq = np.sin(np.linspace(0, 3, 6))[:, None] * np.ones((1, 4))
    stretched = np.repeat(seq, 2, axis=0)  # the same motion at half the speed
    shifted = np.roll(seq, 3, axis=0)
    assert abs(float(soft_dtw(_pair_costs(seq[None], stretched[None]), 1e-3))) < 0.02
    assert float(soft_dtw(_pair_costs(seq[None], shifted[None]), 1e-3)) > 0.5


def _soft_dtw_cell_by_cell(cost: np.ndarray, gamma: float) -> float:
    """The textbook recurrence, one cell at a time, for one [T1, T2] cost matrix."""
    t1, t2 = cost.shape
    r = np.full((t1 + 1, t2 + 1), np.inf)
    r[0, 0] = 0.0
    for i in range(1, t1 + 1):
        for j in range(1, t2 + 1):
            prev = np.array([r[i - 1, j], r[i, j - 1], r[i - 1, j - 1]])
            low = prev.min()
            r[i, j] = cost[i - 1, j - 1] + low - gamma * np.log(np.exp(-(prev - low) / gamma).sum())
    return float(r[t1, t2])


@pytest.mark.parametrize("shape", [(6, 6), (4, 9), (9, 3), (1, 5)])
def test_soft_dtw_by_diagonals_equals_the_cell_by_cell_recurrence(shape: tuple[int, int]) -> None:
    cost = torch.tensor(np.random.default_rng(1).uniform(0, 2, size=(2, 3, *shape)))
    got = soft_dtw(cost, 0.3).numpy()
    want = [[_soft_dtw_cell_by_cell(c, 0.3) for c in row] for row in cost.numpy()]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_soft_dtw_gradient_is_the_expected_alignment() -> None:
    """d softDTW / d cost is each cell's share of the alignment: the hard path's 0/1 cells as gamma → 0."""
    cost = torch.tensor([[0.0, 0.0, 5.0], [5.0, 5.0, 0.0]], requires_grad=True)  # one free path
    (grad,) = torch.autograd.grad(soft_dtw(cost[None], 1e-3).sum(), cost)
    path = torch.tensor([[1.0, 1, 0], [0, 0, 1]])
    torch.testing.assert_close(grad, path)
    wide = torch.rand(2, 7, 4, requires_grad=True)  # unequal lengths: every gradient finite, none negative
    (grad,) = torch.autograd.grad(soft_dtw(wide, 0.5).sum(), wide)
    assert torch.isfinite(grad).all() and (grad >= 0).all()
    assert (grad.sum(dim=(1, 2)) >= 7).all()  # a path visits at least max(T1, T2) cells


def _two_motions(n: int, t: int = 8) -> torch.Tensor:
    """[2n, T, V, C]: n copies of a motion played at random speeds, then n of another."""
    g = torch.Generator().manual_seed(0)
    out = []
    for phase in (0.0, 1.5):
        for _ in range(n):
            speed = 0.7 + 0.6 * float(torch.rand(1, generator=g))
            time = torch.linspace(0, 3, t) * speed + phase
            joints = torch.stack([torch.sin(time + v) for v in range(5)], dim=1)  # [T, V]
            out.append(joints[:, :, None] * torch.tensor([1.0, -0.5, 0.2]))
    return torch.stack(out)


def test_aligned_contrastive_is_low_when_the_labels_follow_the_motion() -> None:
    frames = _two_motions(4).requires_grad_(True)
    right = torch.tensor([0] * 4 + [1] * 4)
    crossed = torch.tensor([0, 1] * 4)
    low = aligned_contrastive(frames, right, 0.1, 0.1)
    high = aligned_contrastive(frames, crossed, 0.1, 0.1)
    assert low.item() + 1.0 < high.item()
    low.backward()
    assert frames.grad is not None and torch.isfinite(frames.grad).all() and frames.grad.abs().sum() > 0


def test_joint_weights_decide_which_joints_the_alignment_compares() -> None:
    motions = _two_motions(2)  # samples 0, 1 move one way, 2, 3 another
    crossed = motions[[0, 2, 1, 3]]
    frames = torch.cat([motions[:, :, :2], crossed[:, :, 2:]], dim=2)  # joints 2-4 group 0 with 2
    y = torch.tensor([0, 0, 1, 1])  # the grouping of joints 0 and 1
    on_first = torch.tensor([2.5, 2.5, 0.0, 0.0, 0.0]).expand(4, 5)
    on_rest = torch.tensor([0.0, 0.0, 5 / 3, 5 / 3, 5 / 3]).expand(4, 5)
    plain = aligned_contrastive(frames, y, 0.1, 0.1)
    low = aligned_contrastive(frames, y, 0.1, 0.1, on_first)
    high = aligned_contrastive(frames, y, 0.1, 0.1, on_rest)
    assert float(low) < float(plain) < float(high)
    ones = aligned_contrastive(frames, y, 0.1, 0.1, torch.ones(4, 5))
    torch.testing.assert_close(ones, plain)


def test_each_anchor_is_compared_on_its_own_joints() -> None:
    frames = torch.cat([_two_motions(2)[:, :, :2], _two_motions(2)[[0, 2, 1, 3]][:, :, 2:]], dim=2)
    y = torch.tensor([0, 0, 1, 1])
    first, rest = torch.tensor([2.5, 2.5, 0, 0, 0]), torch.tensor([0, 0, 5 / 3, 5 / 3, 5 / 3])
    mixed = torch.stack([first, first, rest, rest])  # anchors 2 and 3 look at the crossed joints
    both = [aligned_contrastive(frames, y, 0.1, 0.1, w.expand(4, 5)) for w in (first, rest)]
    assert float(both[0]) < float(aligned_contrastive(frames, y, 0.1, 0.1, mixed)) < float(both[1])


def test_align_text_weights_joints_by_the_label_k_gt() -> None:
    torch.manual_seed(0)
    cfg = {"use_text": False, "encoder": {"info_bottleneck": False}, "loss": {"w_align": 1.0}}
    model = build_model("infogcn", "ntu25", 5, cfg)
    out, y = model(make_input("ntu25", n=4, t=8)), torch.tensor([1, 1, 3, 3])
    uniform, focused = torch.full((4, 25), 1 / 25), torch.zeros(4, 25)
    focused[:, :3] = 1 / 3
    plain = model.loss(out, y)[1]["align"]
    model.cfg.loss.align_text = 0.5
    torch.testing.assert_close(model.loss(out, y, uniform)[1]["align"], plain)
    assert not torch.allclose(model.loss(out, y, focused)[1]["align"], plain)
    with pytest.raises(ValueError, match="k_gt_batch"):
        model.loss(out, y)


def test_align_text_needs_the_aligned_term() -> None:
    with pytest.raises(UserError, match=r"loss\.w_align > 0"):
        ModelConfig.from_dict({"loss": {"align_text": 0.5}})


def test_aligned_contrastive_without_positives_is_zero_and_differentiable() -> None:
    frames = _two_motions(2).requires_grad_(True)
    loss = aligned_contrastive(frames, torch.arange(4), 0.1, 0.1)
    loss.backward()
    assert loss.item() == 0.0 and frames.grad is not None


def test_the_align_weight_adds_its_term_to_the_loss() -> None:
    torch.manual_seed(0)
    cfg = {"use_text": False, "encoder": {"info_bottleneck": False}, "loss": {"w_align": 0.5}}
    model = build_model("infogcn", "ntu25", 5, cfg)
    out = model(make_input("ntu25", n=4, t=8))
    assert out.joint_frames is not None and out.joint_frames.shape[:1] == (4,)
    y = torch.tensor([1, 1, 3, 3])
    total, parts = model.loss(out, y)
    assert set(parts) == {"s", "align"}
    torch.testing.assert_close(total.detach(), parts["s"] + 0.5 * parts["align"])
    total.backward()
    assert next(model.encoder.blocks[0].parameters()).grad is not None


def test_without_the_align_weight_no_joint_frames_are_kept() -> None:
    model = build_model("infogcn", "ntu25", 5, {"use_text": False})
    assert model(make_input("ntu25", n=2, t=8)).joint_frames is None


@pytest.mark.parametrize(
    "key", ["w_align=-1.0", "align_temperature=0.0", "align_gamma=-0.1", "align_text=1.5", "align_text=-0.1"]
)
def test_align_settings_are_checked(key: str) -> None:
    name, value = key.split("=")
    with pytest.raises(UserError, match=name):
        ModelConfig.from_dict({"loss": {name: float(value)}})
