"""Configuration layering, checkpoint atomicity and the learning-rate schedule."""

from __future__ import annotations

import pytest

from crossglg.errors import UserError
from crossglg.train.config import TrainConfig, load_config
from crossglg.train.schedule import lr_factor


def test_defaults_follow_the_infogcn_recipe():
    cfg = TrainConfig()
    assert (cfg.lr, cfg.momentum, cfg.nesterov, cfg.weight_decay) == (0.1, 0.9, True, 5e-4)
    assert (cfg.warmup_epochs, cfg.lr_steps, cfg.lr_gamma, cfg.epochs) == (5, [90, 100], 0.1, 110)
    assert (cfg.dc_beta, cfg.dc_k, cfg.dc_alpha, cfg.dc_samples) == (0.5, 2, 0.21, 750)


def test_file_then_set_then_options(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('epochs = 7\nlr = 0.05\nprotocol = "msr-action3d"\n[model.jid]\nn_pre = 4\n')
    cfg = load_config(path, {"lr": 0.2, "data": "d"}, ["epochs=9", "lr_steps=[3, 6]", "model.loss.w_c=0.4"])
    assert cfg.epochs == 9 and cfg.lr == 0.2 and cfg.lr_steps == [3, 6]
    assert cfg.model == {"jid": {"n_pre": 4}, "loss": {"w_c": 0.4}}
    cfg.save(tmp_path / "saved.toml")
    again = load_config(tmp_path / "saved.toml", {}, [])
    assert again.to_dict() == cfg.to_dict()


def test_nested_model_override_reaches_the_table():
    cfg = load_config(None, {}, ["model.jid.n_pre=4", "model.use_l2g=false"])
    assert cfg.model == {"jid": {"n_pre": 4}, "use_l2g": False}


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["epochz=3"], "unknown config key"),
        (["epochs"], "expected KEY=VALUE"),
        (["lr=abc"], "not a TOML value"),
    ],
)
def test_bad_overrides_are_user_errors(sets, message):
    with pytest.raises(UserError, match=message):
        load_config(None, {}, sets)


def test_unknown_file_key_and_missing_text_are_user_errors(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("lrr = 1\n")
    with pytest.raises(UserError, match="unknown key 'lrr'"):
        load_config(path, {}, [])
    cfg = load_config(None, {"data": "d", "protocol": "p"}, [])
    with pytest.raises(UserError, match="--no-text"):
        cfg.validate()


def test_warmup_then_steps():
    f = [lr_factor(s, steps_per_epoch=2, warmup_epochs=2, lr_steps=[3, 5], gamma=0.1) for s in range(12)]
    assert f[:4] == [0.25, 0.5, 0.75, 1.0]
    assert f[4:6] == [1.0, 1.0]
    assert f[6:10] == pytest.approx([0.1, 0.1, 0.1, 0.1])
    assert f[10:] == pytest.approx([0.01, 0.01])
