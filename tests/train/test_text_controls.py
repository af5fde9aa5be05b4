"""Controls for text guidance (crossglg/train/text_controls.py) and the shipped `paper` config."""

from __future__ import annotations

import numpy as np
import pytest

from crossglg.errors import UserError
from crossglg.models import ModelConfig
from crossglg.train.config import load_config
from crossglg.train.text_controls import apply_text_control, derangement
from tests.helpers import run_script


@pytest.mark.parametrize("n", [2, 3, 10, 100])
def test_derangement_moves_every_class_and_is_fixed(n):
    perm = derangement(n)
    assert sorted(perm) == list(range(n))
    assert (perm != np.arange(n)).all()
    assert (perm == derangement(n)).all()  # the same pairing in every run and seed


def _targets(small, control: str):
    from crossglg.train.data import TextTargets, load_run_data

    cfg = load_config(
        small["recipe"],
        {"data": str(small["data"]), "protocol": str(small["protocol"]), "text_cache": str(small["cache"])},
        [f"text_control={control}"],
    )
    cfg.validate()
    return TextTargets.load(cfg, load_run_data(cfg, "cpu"), "cpu")


def test_shuffled_text_gives_each_class_another_class_bank_rows(small):
    real, shuffled = _targets(small, "none"), _targets(small, "shuffled")
    local, k_gt = real.local.numpy(), real.k_gt.numpy()
    for c in range(len(local)):
        source = [j for j in range(len(local)) if np.array_equal(shuffled.local[c].numpy(), local[j])]
        assert source and c not in source  # another class's local texts...
        assert np.array_equal(shuffled.k_gt[c].numpy(), k_gt[source[0]])  # ...and the same class's k_gt
    assert sorted(map(tuple, shuffled.k_gt.numpy().round(6))) == sorted(map(tuple, k_gt.round(6)))


def test_uniform_kgt_keeps_the_local_text_and_flattens_the_target(small):
    real, flat = _targets(small, "none"), _targets(small, "uniform-kgt")
    assert np.array_equal(flat.local.numpy(), real.local.numpy())
    v = real.k_gt.shape[1]
    np.testing.assert_allclose(flat.k_gt.numpy(), np.full_like(real.k_gt.numpy(), 1 / v))
    assert not np.allclose(real.k_gt.numpy(), 1 / v)  # the real target was not uniform already


def test_apply_text_control_none_is_the_identity():
    local, k_gt, glob = np.random.rand(4, 6, 8), np.random.rand(4, 20), np.random.rand(4, 8)
    same = apply_text_control(local, k_gt, glob, "none")
    assert same[0] is local and same[1] is k_gt and same[2] is glob


def test_text_similarity_is_the_cosine_of_global_texts_and_shuffles_with_them(small):
    real, shuffled = _targets(small, "none"), _targets(small, "shuffled")
    sim = real.similarity.numpy()
    np.testing.assert_allclose(np.diag(sim), 1.0, rtol=1e-5)
    np.testing.assert_allclose(sim, sim.T, rtol=1e-5)
    assert (sim[~np.eye(len(sim), dtype=bool)] < 0.999).all()  # the classes' texts differ
    perm = derangement(len(sim))
    np.testing.assert_allclose(shuffled.similarity.numpy(), sim[perm][:, perm], rtol=1e-5)
    assert not np.allclose(shuffled.similarity.numpy(), sim)


@pytest.mark.parametrize(
    "sets", [("model.loss.text_relation=0.3",), ("model.loss.w_align=1", "model.loss.align_text=0.5")]
)
def test_text_terms_without_text_stop_before_training(sets, small, train_args, tmp_path):
    args = train_args(tmp_path / "run", *(a for s in sets for a in ("--set", s)), text=False)
    proc = run_script("crossglg", *args)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "text_relation / text_margin / align_text > 0" in proc.stderr and "--no-text" in proc.stderr
    assert not (tmp_path / "run").exists()


def test_unknown_text_control_is_a_user_error():
    cfg = load_config(None, {"data": "d", "protocol": "p", "no_text": True}, ["text_control=reversed"])
    with pytest.raises(UserError, match="text_control"):
        cfg.validate()


def test_paper_config_is_the_published_form():
    cfg = load_config("paper", {}, [])
    model = ModelConfig.from_dict(cfg.model)
    assert cfg.text_lr_mult == 1.0 and (cfg.epochs, cfg.lr, cfg.batch_size) == (110, 0.1, 128)
    assert (model.jid.reweight, model.jid.detach, model.jid.hidden_mult) == ("scale", False, 8)
    assert model.jid.target_smoothing == 0.0 and model.l2g.form == "text-residual"
    assert model.head_input == "raw"


@pytest.mark.slow
def test_training_runs_the_corrected_form_with_the_shuffled_control(small, run_cli, train_args, tmp_path):
    """The trainer hands the whole bank to the gather L2G; L_c is logged and finite."""
    import json

    out = tmp_path / "run"
    corrected = ['model.l2g.form="gather"', 'model.jid.reweight="bounded"', 'model.head_input="l2"']
    sets = [arg for s in [*corrected, "text_control=shuffled", "epochs=2"] for arg in ("--set", s)]
    run_cli(train_args(out, *sets))
    history = json.loads((out / "metrics.json").read_text())
    assert len(history) == 2 and all(np.isfinite(row["loss_c"]) for row in history)
    saved = load_config(out / "config.toml", {}, [])
    assert saved.text_control == "shuffled" and saved.model["l2g"]["form"] == "gather"


@pytest.mark.slow
@pytest.mark.parametrize(
    "terms, logged",
    [
        (["model.loss.text_relation=0.3"], "loss_s"),
        (["model.loss.w_align=1.0", "model.loss.align_text=0.5"], "loss_align"),
    ],
)
def test_text_terms_train_the_base_model(terms, logged, small, run_cli, train_args, tmp_path):
    """use_jid/use_l2g off: the model is the base encoder, the text reaches only the named term.

    Text-relation targets read the class similarities, the text-weighted alignment the label's
    k_gt: the trainer hands both over even though no JID asks for k_gt.
    """
    import json

    out = tmp_path / "run"
    sets = ["model.use_jid=false", "model.use_l2g=false", *terms, "epochs=2"]
    run_cli(train_args(out, *[arg for s in sets for arg in ("--set", s)]))
    history = json.loads((out / "metrics.json").read_text())
    assert len(history) == 2 and all(np.isfinite(row[logged]) for row in history)
    assert not any("loss_cal" in row or "loss_c" in row for row in history)
    saved = load_config(out / "config.toml", {}, [])
    for term in terms:
        key, value = term.removeprefix("model.loss.").split("=")
        assert saved.model["loss"][key] == float(value)
