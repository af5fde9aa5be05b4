"""The text-side (L2G) parameter group: its members, its lr through the schedule, and resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from crossglg.errors import UserError
from crossglg.models import build_model
from crossglg.train.config import TrainConfig
from crossglg.train.optim import build_optimizer
from crossglg.train.resume import check_resumable
from crossglg.train.schedule import make_scheduler

STEPS_PER_EPOCH, WARMUP, LR_STEPS = 2, 2, [3, 5]


def _model(text: bool = True):
    torch.manual_seed(0)
    cfg = {"use_text": text, "encoder": {"base_channels": 8}, "l2g": {"text_dim": 12, "dim": 16, "heads": 2}}
    return build_model("stgcn", "msr20", 4, cfg)


def _optimiser(model, mult: float):
    cfg = TrainConfig(lr=0.1, text_lr_mult=mult, warmup_epochs=WARMUP, lr_steps=LR_STEPS)
    opt = build_optimizer(model, cfg)
    return opt, make_scheduler(opt, STEPS_PER_EPOCH, WARMUP, LR_STEPS, 0.1)


def _lrs(opt, sched, steps: int) -> list[list[float]]:
    """Each step's [backbone lr, text lr], as the optimiser sees them when it steps."""
    seen = []
    for _ in range(steps):
        seen.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    return seen


def test_l2g_parameters_and_only_they_form_the_text_group():
    model = _model()
    opt, _ = _optimiser(model, 0.25)
    backbone, text = opt.param_groups
    assert (backbone["name"], text["name"]) == ("backbone", "text")
    assert {id(p) for p in text["params"]} == {id(p) for p in model.l2g.parameters()}
    assert {id(p) for p in model.skeleton.jid.parameters()} <= {id(p) for p in backbone["params"]}
    assert len(backbone["params"]) + len(text["params"]) == len(list(model.parameters()))
    assert backbone["weight_decay"] == text["weight_decay"] == TrainConfig().weight_decay


@pytest.mark.parametrize("text", [True, False])
def test_one_group_without_l2g_or_with_a_multiplier_of_one(text):
    opt, _ = _optimiser(_model(text), 1.0 if text else 0.25)
    assert [g["name"] for g in opt.param_groups] == ["backbone"]


def test_text_lr_follows_warmup_and_decay_at_its_own_scale():
    opt, sched = _optimiser(_model(), 0.25)
    seen = _lrs(opt, sched, 12)
    factors = [0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 0.1, 0.1, 0.1, 0.1, 0.01, 0.01]
    assert [b for b, _ in seen] == pytest.approx([0.1 * f for f in factors])
    assert [t for _, t in seen] == pytest.approx([0.025 * f for f in factors])


def test_resume_from_state_dicts_keeps_both_groups_lrs():
    straight = _lrs(*_optimiser(_model(), 0.25), 12)
    model = _model()
    opt, sched = _optimiser(model, 0.25)
    first = _lrs(opt, sched, 5)
    state = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}
    opt, sched = _optimiser(model, 0.25)  # a fresh process: built from the config, then restored
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    assert first + _lrs(opt, sched, 7) == straight


def test_runs_saved_before_the_option_resume_only_with_a_multiplier_of_one():
    old = {"config": {k: v for k, v in TrainConfig().to_dict().items() if k != "text_lr_mult"}}
    check_resumable(TrainConfig(text_lr_mult=1.0), old, Path("run/last.pt"))
    with pytest.raises(UserError, match=r"text_lr_mult \(checkpoint 1.0, now 0.1\)"):
        check_resumable(TrainConfig(text_lr_mult=0.1), old, Path("run/last.pt"))


def test_a_non_positive_multiplier_is_a_user_error():
    with pytest.raises(UserError, match="text_lr_mult must be > 0"):
        TrainConfig(data="d", protocol="p", no_text=True, text_lr_mult=0).validate()
