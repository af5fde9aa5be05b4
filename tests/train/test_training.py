"""`crossglg train` end to end on small synthetic actions with a real text cache.

Each run trains a 16-channel InfoGCN-style encoder on CPU: 8 training classes, 2 validation
classes for model selection, 5 novel classes evaluated one-shot.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from crossglg.errors import UserError
from crossglg.text_cli import app as text_app
from crossglg.train.config import TrainConfig
from tests.helpers import run_script

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def text_run(small, run_cli, train_args, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("text-run") / "run"
    run_cli(train_args(out, "--json"))
    return out


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def _check_learned(out: Path) -> None:
    history = json.loads((out / "metrics.json").read_text())
    assert len(history) == 16
    # 8 training classes: chance is 0.125
    assert history[-1]["train_acc"] >= 0.5, history[-1]
    assert history[-1]["loss"] < history[0]["loss"]
    results = json.loads((out / "eval" / "results.json").read_text())
    assert results["n_query"] == 35 and results["n_support"] == 5
    # 5-way one-shot: chance is 0.2
    for name in ("cosine", "dc"):
        assert results["classifiers"][name]["accuracy"] >= 0.4, (name, results["classifiers"][name])


def test_training_with_text_learns_and_writes_its_outputs(text_run):
    _check_learned(text_run)
    for name in ("config.toml", "last.pt", "best.pt", "metrics.csv", "curves.png", "summary.json"):
        assert (text_run / name).is_file(), name
    for name in ("results.json", "confusion_cosine.png", "confusion_dc.png", "joint_importance.png"):
        assert (text_run / "eval" / name).is_file(), name
    assert any((text_run / "tensorboard").iterdir())
    header = (text_run / "metrics.csv").read_text().splitlines()[0].split(",")
    for column in (
        "epoch",
        "loss",
        "loss_s",
        "loss_cal",
        "loss_c",
        "jid_max",
        "train_acc",
        "val_cosine",
        "lr",
        "data_wait_share",
    ):
        assert column in header
    history = json.loads((text_run / "metrics.json").read_text())
    assert all(1 / 25 <= row["jid_max"] <= 1 for row in history)  # a softmax over NTU-25's joints
    # the best checkpoint is the epoch with the best validation accuracy (later epoch on ties)
    best = max(range(len(history)), key=lambda i: (history[i]["val_cosine"], i))
    assert _summary(text_run)["best_epoch"] == best + 1
    state = torch.load(text_run / "best.pt", weights_only=False)
    assert state["epoch"] == best
    assert state["meta"]["train_class_ids"] == [1, 4, 9, 19, 25, 33, 37, 40]


def test_training_without_text_learns(small, run_cli, train_args, tmp_path):
    out = tmp_path / "run"
    run_cli(train_args(out, text=False))
    _check_learned(out)
    state = torch.load(out / "last.pt", weights_only=False)
    assert not any(k.startswith(("l2g.", "skeleton.jid.")) for k in state["model"])
    assert not (out / "eval" / "joint_importance.png").exists()
    assert not any("jid_max" in row for row in json.loads((out / "metrics.json").read_text()))


def test_resume_equals_an_uninterrupted_run(small, run_cli, train_args, tmp_path):
    fast = ("--deterministic", "--set", "dc_samples=20", "--set", "eval_every=2")
    run_cli(train_args(tmp_path / "straight", "--epochs", "3", *fast))
    run_cli(train_args(tmp_path / "resumed", "--epochs", "2", *fast))
    run_cli(["train", "--out", str(tmp_path / "resumed"), "--resume", "--epochs", "3"])
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=False)
    b = torch.load(tmp_path / "resumed" / "last.pt", weights_only=False)
    assert a["epoch"] == b["epoch"] == 2
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values(), strict=True):
        assert torch.equal(sa["momentum_buffer"], sb["momentum_buffer"])
    assert a["scheduler"] == b["scheduler"]
    # the L2G module's own, smaller learning rate (text_lr_mult) survives the restart
    groups = [(g["name"], g["lr"], g["initial_lr"]) for g in a["optimizer"]["param_groups"]]
    assert groups == [(g["name"], g["lr"], g["initial_lr"]) for g in b["optimizer"]["param_groups"]]
    assert [name for name, *_ in groups] == ["backbone", "text"]
    assert groups[1][2] == pytest.approx(groups[0][2] * TrainConfig().text_lr_mult)
    drop = ("epoch_s", "samples_per_s", "data_wait_share")
    assert [{k: v for k, v in r.items() if k not in drop} for r in a["history"]] == [
        {k: v for k, v in r.items() if k not in drop} for r in b["history"]
    ]


def test_a_finished_run_is_not_overwritten_and_resume_checks_the_config(small, run_cli, train_args, tmp_path):
    out = tmp_path / "run"
    run_cli(train_args(out, "--epochs", "1", "--set", "dc_samples=20"))
    with pytest.raises(UserError, match="already holds a run"):
        run_cli(train_args(out, "--epochs", "1"))
    with pytest.raises(UserError, match="differs from the checkpoint's in lr"):
        run_cli(["train", "--out", str(out), "--resume", "--lr", "0.5"])


def test_dry_run_reports_counts_and_trains_nothing(small, run_cli, train_args, tmp_path):
    out = tmp_path / "run"
    report = json.loads(run_cli(train_args(out, "--dry-run", "--json")))
    assert report["data"] == {
        "samples": 120,
        "train_samples": 64,
        "train_classes": 8,
        "validation_classes": 2,
        "validation_queries": 14,
        "holdout_classes": [],
        "novel_classes": 5,
        "exemplars": 5,
        "queries": 35,
    }
    assert report["steps_per_epoch"] == 4 and report["total_steps"] == 64
    assert report["text"]["parts"] == ["head", "hand", "arm", "hip", "leg", "foot"]
    assert 0 < report["inference_parameters"] < report["parameters"]
    assert not out.exists()
    # paper-style runs train on every auxiliary class and keep the last epoch
    report = json.loads(run_cli(train_args(out, "--dry-run", "--json", "--set", "validation=false")))
    assert report["data"]["train_samples"] == 80 and report["data"]["validation_classes"] == 0


def test_eval_agrees_with_a_direct_computation(small, text_run, run_cli):
    """Embed exemplars and queries by hand with the model and compare to `crossglg eval`."""
    from crossglg.data.prepared import open_prepared
    from crossglg.data.splits import split_prepared
    from crossglg.vocab.protocols import load_protocol

    summary = json.loads(run_cli(["eval", str(text_run), "--json", "--out", str(text_run / "eval-again")]))
    pred = _cosine_predictions(small, text_run, mirrored=False)
    data = open_prepared(small["data"])
    split = split_prepared(data, load_protocol(small["protocol"], data.dataset))
    truth = np.asarray(data.labels)[split.query] + 1
    assert summary["cosine"] == pytest.approx(float((pred == truth).mean()))
    results = json.loads((text_run / "eval-again" / "results.json").read_text())
    classes = results["classifiers"]["cosine"]["classes"]
    confusion = np.zeros((5, 5), int)
    for t, p in zip(truth, pred, strict=True):
        confusion[classes.index(t), classes.index(p)] += 1
    assert results["classifiers"]["cosine"]["confusion"] == confusion.tolist()
    # the same checkpoint evaluated twice gives the same DC accuracy (seeded sampling)
    assert summary["dc"] == _summary(text_run)["dc"]
    # every read-out side by side; joint-space DTW is exactly the baseline command
    from crossglg.train.oneshot import CLASSIFIERS

    assert all(0.0 <= summary[name] <= 1.0 for name in CLASSIFIERS)
    assert set(results["classifiers"]) == set(CLASSIFIERS)
    assert len(results["classifiers"]["fdtw"]["predictions"]) == len(results["truth"]) == 35
    dtw = json.loads(
        run_cli(
            ["baseline", "dtw", "--data", str(small["data"]), "--protocol", str(small["protocol"]), "--json"]
        )
    )
    assert summary["dtw"] == pytest.approx(dtw["accuracy"])
    two = json.loads(run_cli(["eval", str(text_run), "--classifier", "fdtw", "--classifier", "cl2n", "--json",
                              "--out", str(text_run / "eval-two")]))  # fmt: skip
    assert (two["fdtw"], two["cl2n"]) == (summary["fdtw"], summary["cl2n"]) and "cosine" not in two
    with pytest.raises(UserError, match="'knn'"):
        run_cli(["eval", str(text_run), "--classifier", "knn"])
    with pytest.raises(UserError, match="fusion-weight 2"):
        run_cli(["eval", str(text_run), "--fusion-weight", "2"])


def test_eval_reads_out_joint_dtw_under_learned_weights(small, text_run, run_cli, tmp_path):
    """`--dtw-weights` gives the baseline's accuracy under the same file, and refuses weights that
    were learned on a class the protocol tests (tests/train/conftest.py: NOVEL)."""
    from crossglg.baselines.dtw_weights import LearnedWeights

    where = ["--data", str(small["data"]), "--protocol", str(small["protocol"])]
    saved = tmp_path / "weights.json"
    learned = json.loads(run_cli(["baseline", "dtw", *where, "--calibrated", "--learn-weights",
                                  "--save-weights", str(saved), "--json"]))  # fmt: skip
    weights = LearnedWeights.load(saved)
    assert weights.dataset == "synthetic" and not set(weights.classes) & {2, 10, 20, 34, 38}
    summary = json.loads(run_cli(["eval", str(text_run), "--classifier", "ndtw", "--classifier", "fused",
                                  "--dtw-weights", str(saved), "--json", "--out", str(tmp_path / "ev")]))  # fmt: skip
    assert summary["ndtw"] == pytest.approx(learned["accuracy"]) and summary["dtw_weights"] == str(saved)
    assert json.loads((tmp_path / "ev" / "results.json").read_text())["dtw_weights"] == str(saved)
    # a hand-made file that keeps only the right hand: the read-out follows the file, not the learner
    hand = LearnedWeights(
        "ntu25", tuple((3.0,) * 3 if j == 11 else (0.0,) * 3 for j in range(25)), False, (1,), 1
    )
    hand.save(tmp_path / "hand.json")
    alone = json.loads(run_cli(["baseline", "dtw", *where, "--calibrated", "--weights", str(tmp_path / "hand.json"),
                                "--json"]))  # fmt: skip
    plain = json.loads(run_cli(["baseline", "dtw", *where, "--calibrated", "--json"]))
    assert alone["accuracy"] != plain["accuracy"]
    summary = json.loads(run_cli(["eval", str(text_run), "--classifier", "ndtw", "--dtw-weights",
                                  str(tmp_path / "hand.json"), "--json", "--out", str(tmp_path / "ev2")]))  # fmt: skip
    assert summary["ndtw"] == pytest.approx(alone["accuracy"])
    leaked = LearnedWeights("ntu25", hand.weights, False, (1, 20), 1, "synthetic")  # 20: kick left leg, novel
    leaked.save(tmp_path / "leaked.json")
    with pytest.raises(
        UserError, match=r"leaked\.json: learned on synthetic class 20, novel in this protocol"
    ):
        run_cli(
            [
                "eval",
                str(text_run),
                "--dtw-weights",
                str(tmp_path / "leaked.json"),
                "--out",
                str(tmp_path / "x"),
            ]
        )
    assert not (tmp_path / "x").exists()


def test_k_shot_eval_moves_queries_into_the_support(text_run, run_cli):
    summary = json.loads(run_cli(["eval", str(text_run), "--shots", "3", "--json"]))
    assert summary["shots"] == 3 and summary["n_query"] == 35 - 2 * 5
    results = json.loads((text_run / "eval-3shot" / "results.json").read_text())
    assert results["n_support"] == 15
    with pytest.raises(UserError, match="too few for 9 shots"):
        run_cli(["eval", str(text_run), "--shots", "9"])


def test_a_diverging_loss_stops_the_run_and_names_the_remedies(small, run_cli, train_args, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(
        UserError, match=r"loss became (nan|-?inf);.*text_lr_mult=\.\.\., now 0\.5.*grad_clip"
    ):
        run_cli(train_args(out, "--epochs", "1", "--lr", "1e6", "--set", "text_lr_mult=0.5"))
    assert not (out / "last.pt").exists()


def test_missing_text_or_bad_input_is_a_one_line_error(small, train_args, tmp_path):
    """Through the real console script: exit code 2, one line naming the gap and the fix."""

    protocol = tmp_path / "needs-more-text.toml"
    # class 2 is in the data, but the cache has text only for the usual base classes
    text = small["protocol"].read_text().replace("novel_classes = [2, ", "novel_classes = [")
    protocol.write_text(text.replace("base_classes = [", "base_classes = [2, "))
    args = train_args(tmp_path / "run", "--dry-run")
    args[args.index("--protocol") + 1] = str(protocol)
    proc = run_script("crossglg", *args)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert (
        "no text for class 2" in proc.stderr
        and f"crossglg-text generate --data {small['data']} --protocol {protocol}" in proc.stderr
    )
    proc = run_script("crossglg", "train", "--data", small["data"], "--protocol", "msr-action3d", "--no-text")
    assert proc.returncode == 2 and "protocol msr-action3d is for dataset msr-action3d" in proc.stderr


def test_a_killed_run_resumes_from_its_last_complete_epoch(small, train_args, run_cli, tmp_path):
    import os
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    exe = str(Path(sys.executable).parent / "crossglg")
    args = train_args(out, "--epochs", "4", "--set", "dc_samples=20")
    proc = subprocess.Popen([exe, *args], env=dict(os.environ, OMP_NUM_THREADS="1"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not (out / "last.pt").exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
    finally:
        proc.kill()  # SIGKILL: no clean-up runs, whatever the run was doing
        proc.wait()
    done = torch.load(out / "last.pt", weights_only=False)["epoch"] + 1
    assert 1 <= done < 4
    run_cli(["train", "--out", str(out), "--resume"])
    history = json.loads((out / "metrics.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert (out / "eval" / "results.json").is_file()


def test_training_reads_the_per_joint_pack_as_25_text_tokens(small, run_cli, tmp_path):
    """`--parts joints`: each class's 25 joint sentences become the L2G module's 25 text tokens.

    The synthetic data is on NTU's ntu25 skeleton and its training classes all lie in 1-40, so
    the ntu120-joints pack's texts for those ids stand in (read with --text-dataset ntu120).
    This checks the path from pack to model, not what the words mean for synthetic actions.
    """
    from crossglg.textgen.packs import PACKS
    from crossglg.vocab.layouts import get_layout

    train_ids = {1, 4, 9, 19, 25, 33, 37, 40}
    lines = PACKS["ntu120-joints"].path.read_text(encoding="utf-8").splitlines()
    subset = tmp_path / "joints.jsonl"  # the training classes only: all 120 take minutes to embed
    subset.write_text("".join(x + "\n" for x in lines if json.loads(x)["class_id"] in train_ids))
    cache = tmp_path / "cache.db"
    for args in (["import", str(subset), "--label", "ntu-joints"], ["embed", "-d", "ntu120"]):
        result = CliRunner().invoke(text_app, [*args, "--cache", str(cache)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    out = tmp_path / "run"
    args = ["train", "--data", str(small["data"]), "--protocol", str(small["protocol"])]
    args += ["--config", str(small["recipe"]), "--out", str(out), "--device", "cpu"]
    args += ["--text-cache", str(cache), "--text-dataset", "ntu120", "--set", "dc_samples=20"]
    with pytest.raises(
        UserError, match="holds per-joint texts for ntu120 and no parts6 texts; read them with --parts joints"
    ):
        run_cli(args)
    joints = list(get_layout("ntu25").joints)
    report = json.loads(run_cli([*args, "--parts", "joints", "--dry-run", "--json"]))
    assert report["text"] == {"parts": joints, "dim": 384}
    run_cli([*args, "--parts", "joints", "--epochs", "1"])
    state = torch.load(out / "last.pt", weights_only=False)
    np.testing.assert_array_equal(state["model"]["l2g.pooling"].numpy(), np.eye(25))  # joints → identity
    assert state["config"]["parts"] == "joints"
    assert np.isfinite(json.loads((out / "metrics.json").read_text())[0]["loss"])


def test_several_checkpoints_are_evaluated_as_one_ensemble(small, text_run, run_cli, train_args, tmp_path):
    other = tmp_path / "other"
    run_cli(train_args(other, "--seed", "2", text=False))
    ens = json.loads(run_cli(["eval", str(text_run), str(other), "--out", str(tmp_path / "ens"), "--json"]))
    assert ens["models"] == 2 and ens["n_query"] == 35
    doc = json.loads((tmp_path / "ens" / "results.json").read_text())
    assert doc["checkpoints"] == [str(text_run / "best.pt"), str(other / "best.pt")]
    singles = [
        json.loads((run / "eval" / "results.json").read_text())["classifiers"] for run in (text_run, other)
    ]
    for name, got in doc["classifiers"].items():
        one, two = (np.array(s[name]["predictions"]) for s in singles)
        both = np.array(got["predictions"])
        if name in ("dtw", "ndtw"):  # no model in them: the ensemble is each member
            assert (both == one).all() and (both == two).all()
        # where both members pick one class, the mean of their standardised scores picks it too
        assert (both[one == two] == one[one == two]).all(), name
        assert got["accuracy"] == ens[name]
    # a test-time view is one more member: the mirror view averaged in, per model
    tta = json.loads(run_cli(["eval", str(text_run), "--tta", "mirror", "--classifier", "cosine",
                              "--classifier", "ndtw", "--out", str(tmp_path / "tta"), "--json"]))  # fmt: skip
    tta_doc = json.loads((tmp_path / "tta" / "results.json").read_text())
    assert tta_doc["tta"] == ["mirror"] and tta["ndtw"] == singles[0]["ndtw"]["accuracy"]
    mirror_only = _cosine_predictions(small, text_run, mirrored=True)
    plain = np.array(singles[0]["cosine"]["predictions"])
    agree = plain == mirror_only
    assert (np.array(tta_doc["classifiers"]["cosine"]["predictions"])[agree] == plain[agree]).all()
    with pytest.raises(UserError, match="--tta 'flip'"):
        run_cli(["eval", str(text_run), "--tta", "flip"])
    with pytest.raises(UserError, match=r"differs from .*models of one split"):
        run_cli(["eval", str(text_run), str(_other_split(text_run, tmp_path)), "--out", str(tmp_path / "x")])
    with pytest.raises(UserError, match="named twice"):
        run_cli(["eval", str(text_run), str(text_run / "best.pt"), "--out", str(tmp_path / "x")])
    with pytest.raises(UserError, match="--out"):
        run_cli(["eval", str(text_run), str(other)])
    with pytest.raises(UserError, match="--picture"):
        run_cli(["eval", str(text_run), str(other), "--out", str(tmp_path / "x"), "--picture", "a"])
    assert not (tmp_path / "x").exists()


def _cosine_predictions(small, run: Path, mirrored: bool) -> np.ndarray:
    """The run's cosine predictions computed by hand, on mirrored inputs when asked."""
    from crossglg.data.prepared import open_prepared
    from crossglg.data.preprocess import PreprocessConfig, mirror_input, preprocess
    from crossglg.data.splits import split_prepared
    from crossglg.models import build_model
    from crossglg.vocab.layouts import get_layout
    from crossglg.vocab.protocols import load_protocol

    state = torch.load(run / "best.pt", weights_only=False)
    cfg = state["config"]
    data = open_prepared(small["data"])
    split = split_prepared(data, load_protocol(small["protocol"], data.dataset))
    model_cfg = dict(cfg["model"], use_text=True, l2g={**cfg["model"]["l2g"], "text_dim": 384})
    model = build_model("infogcn", data.layout, 8, model_cfg)
    model.load_state_dict(state["model"])
    model.eval()
    pre = PreprocessConfig(frames=cfg["frames"], persons=cfg["persons"])

    def z(indices):
        x = preprocess([data.sequence(i) for i in indices], layout=data.layout, config=pre).x
        with torch.no_grad():
            return model.embed(mirror_input(x, get_layout(data.layout)) if mirrored else x).numpy()

    zs, zq = z(split.exemplar), z(split.query)
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    return (np.asarray(data.labels)[split.exemplar] + 1)[np.argmax(unit(zq) @ unit(zs).T, axis=1)]


def _other_split(run: Path, tmp_path: Path) -> Path:
    """A copy of the run's checkpoint whose protocol leaves its first novel class out: another split."""
    state = torch.load(run / "best.pt", weights_only=False)
    text = Path(state["config"]["protocol"]).read_text()
    protocol = tmp_path / "fewer.toml"
    protocol.write_text(re.sub(r"novel_classes = \[\d+, ", "novel_classes = [", text, count=1))
    assert protocol.read_text() != text
    state["config"]["protocol"] = str(protocol)
    out = tmp_path / "fewer.pt"
    torch.save(state, out)
    return out
