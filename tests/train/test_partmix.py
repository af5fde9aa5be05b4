"""Part mixing (crossglg/train/partmix.py): which joints move, how the target is shared, what the
config refuses, and a real run that trains with it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from crossglg.errors import UserError
from crossglg.train.config import load_config
from crossglg.train.partmix import limb_masks, part_mixer
from crossglg.vocab.layouts import get_layout

LAYOUT = get_layout("msr20")
ARMS = [0, 1, 7, 8, 9, 10, 11, 12]  # shoulders, elbows, wrists, hands
LEGS = [4, 5, 13, 14, 15, 16, 17, 18]  # hips, knees, ankles, feet


def test_the_limb_groups_are_both_arms_and_both_legs():
    masks = limb_masks(LAYOUT)
    assert [list(np.flatnonzero(m)) for m in masks] == [ARMS, LEGS]


def _batch(n: int) -> torch.Tensor:
    """[N, 3, T, V, 1] where every coordinate of sample i is i: a mixed joint shows whose it is."""
    return torch.arange(n, dtype=torch.float32)[:, None, None, None, None].expand(n, 3, 4, 20, 1).clone()


def test_a_mixed_sample_takes_one_limb_group_from_its_partner_and_keeps_the_rest():
    k_gt = torch.full((4, 20), 1 / 20)
    mixer = part_mixer(1.0, "area", LAYOUT, k_gt, 4, "cpu")
    x, y = _batch(8), torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    out, target = mixer(x, y, torch.Generator().manual_seed(0))
    for i in range(8):
        owner = out[i, 0, 0, :, 0]
        moved = np.flatnonzero(owner.numpy() != i)
        partner = {int(v) for v in owner[moved]}
        if moved.size:  # the permutation may pair a sample with itself
            assert list(moved) in (ARMS, LEGS) and len(partner) == 1
            assert torch.equal(out[i, :, :, moved], x[partner.pop(), :, :, moved])
        assert torch.allclose(target[i].sum(), torch.tensor(1.0))


def test_probability_zero_changes_nothing():
    mixer = part_mixer(0.0, "area", LAYOUT, None, 4, "cpu")
    x, y = _batch(6), torch.tensor([0, 1, 2, 3, 0, 1])
    out, target = mixer(x, y, torch.Generator().manual_seed(1))
    assert torch.equal(out, x) and torch.equal(target, torch.nn.functional.one_hot(y, 4).float())


def _shares(labels: str, k_gt: torch.Tensor, seed: int) -> list[tuple[int, int, float]]:
    """(own class, partner class, partner's share) of every mixed pair of two different classes."""
    mixer = part_mixer(1.0, labels, LAYOUT, k_gt, 2, "cpu")
    y = torch.tensor([0, 1] * 8)
    out, target = mixer(_batch(16), y, torch.Generator().manual_seed(seed))
    rows = []
    for i in range(16):
        moved = np.flatnonzero(out[i, 0, 0, :, 0].numpy() != i)
        if moved.size and int(y[int(out[i, 0, 0, moved[0], 0])]) != int(y[i]):
            rows.append((list(moved) == ARMS, int(y[i]), float(target[i, 1 - int(y[i])])))
    return rows


def test_the_text_share_follows_where_each_class_text_puts_its_importance():
    """Class 0's text names only the arms; class 1's spreads over every joint (8 of 20 in each limb
    group). Arms of a class-1 clip on class 0 leave 0 nothing of what its text names: mostly 1."""
    k_gt = torch.full((2, 20), 1 / 20)
    k_gt[0] = 0
    k_gt[0, ARMS] = 1 / len(ARMS)
    expected = {  # (own class, arms moved) -> the partner's share, (m_p + e) / (1 - m_own + m_p + 2e)
        (0, True): 0.9975,  # 0 loses all it is known by; 1's arms hold 0.4 of 1
        (0, False): 0.286,  # 0 keeps its arms (1.0); 1's legs hold 0.4 of 1: 0.4 / 1.4
        (1, True): 0.625,  # 1 keeps 0.6 of itself; 0's arms are all of 0: 1 / 1.6
        (1, False): 0.002,  # 0's legs carry nothing of 0
    }
    rows = [r for seed in range(4) for r in _shares("text", k_gt, seed)]
    assert {(own, arms) for arms, own, _ in rows} == set(expected)  # every case was drawn
    for arms, own, partner_share in rows:
        assert partner_share == pytest.approx(expected[(own, arms)], abs=2e-3)


def test_the_area_share_is_the_joint_count_whatever_the_text():
    k_gt = torch.zeros(2, 20)
    k_gt[0, ARMS] = 1.0
    share = len(ARMS) / 20  # as many leg joints: the same share for either group
    rows = [r for seed in range(2) for r in _shares("area", k_gt, seed)]
    assert rows and all(p == pytest.approx(share, abs=2e-3) for _, _, p in rows)


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["aug_partmix=1.5"], "aug_partmix must be >= 0 and <= 1, got 1.5"),
        (["aug_partmix=0.5", "partmix_labels=cutmix"], "partmix_labels='cutmix'; choose one of text, area"),
        (["aug_partmix=0.5"], "aug_partmix > 0 cannot be combined with model.use_jid, model.use_l2g"),
        (
            ["aug_partmix=0.5", "model.use_jid=false", "model.use_l2g=false", "model.loss.w_supcon=0.5"],
            "cannot be combined with model.loss.w_supcon",
        ),
    ],
)
def test_the_config_refuses_what_part_mixing_cannot_share(sets, message):
    cfg = load_config(None, {"data": "d", "protocol": "p", "text_cache": "c.db", "out": "o"}, sets)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        cfg.validate()


def test_text_labels_need_text_and_area_labels_do_not():
    sets = ["aug_partmix=0.5"]
    cfg = load_config(None, {"data": "d", "protocol": "p", "no_text": True, "out": "o"}, sets)
    with pytest.raises(UserError, match="partmix_labels='text' shares the mixed target by the classes' k_gt"):
        cfg.validate()
    load_config(
        None, {"data": "d", "protocol": "p", "no_text": True, "out": "o"}, [*sets, "partmix_labels=area"]
    )


def test_a_run_trains_with_text_labelled_part_mixing(tmp_path, run_cli, train_args):
    out = tmp_path / "run"
    off = ["--set", "model.use_jid=false", "--set", "model.use_l2g=false"]
    run_cli(train_args(out, *off, "--set", "aug_partmix=0.5", "--set", "epochs=2"))
    history = json.loads((out / "metrics.json").read_text())
    assert len(history) == 2 and all(np.isfinite(row["loss_s"]) for row in history)
    saved = json.loads(json.dumps(load_config(out / "config.toml", {}, []).to_dict()))
    assert saved["aug_partmix"] == 0.5 and saved["partmix_labels"] == "text"


def test_a_layout_without_limbs_is_refused_in_one_line():
    import dataclasses

    bare = dataclasses.replace(LAYOUT, name="bare", parts={})
    with pytest.raises(UserError, match=r"^aug_partmix: layout bare names no arm, hand, leg or foot joints"):
        part_mixer(0.5, "area", bare, None, 3, "cpu")
