"""`crossglg transfer`: an export trained on NTU-25 data evaluated one-shot on real UTKinect (Kinect v1)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from crossglg.cli import app

pytestmark = pytest.mark.slow

READOUTS = ("cosine", "dc", "cl2n", "fdtw", "jfdtw", "dtw", "ndtw", "fused")


def _export_and_utkinect(run_cli, train_args, real_data, tmp_path: Path) -> tuple[Path, Path]:
    """An export of a one-epoch run on the small NTU-layout data, and UTKinect prepared (real files)."""
    run = tmp_path / "run"
    run_cli(train_args(run, "--epochs", "1", "--set", "dc_samples=20"))
    export = Path(json.loads(run_cli(["export", str(run), "--json"]))["export"])
    utk = tmp_path / "utk"
    run_cli(
        ["data", "prepare", str(real_data("utkinect_action3d")), "--format", "utkinect", "--out", str(utk)]
    )
    return export, utk


def test_transfer_maps_kinect_v1_joints_into_the_models_layout(
    small, run_cli, train_args, real_data, tmp_path
) -> None:
    export, utk = _export_and_utkinect(run_cli, train_args, real_data, tmp_path)

    doc = json.loads(
        run_cli(["transfer", str(export), "--data", str(utk), "--protocol", "utkinect-all10", "--json"])
    )
    assert (doc["data_layout"], doc["model_layout"], doc["queries"]) == ("kinect20", "ntu25", 189)
    # each NTU joint is fed from its Kinect v1 counterpart; neck, hand tips and thumbs copy their neighbours
    assert doc["mapping"] == [
        0,
        1,
        2,
        3,
        4,
        5,
        6,
        7,
        8,
        9,
        10,
        11,
        12,
        13,
        14,
        15,
        16,
        17,
        18,
        19,
        2,
        7,
        7,
        11,
        11,
    ]
    assert 0.0 <= doc["cosine"] <= 1.0 and 0.0 <= doc["dc"] <= 1.0
    # every read-out; joint DTW on UTKinect's own joints is the baseline's 69.3 %
    assert all(0.0 <= doc[r] <= 1.0 for r in ("cl2n", "fdtw", "fused")) and "unavailable" not in doc
    assert doc["dtw"] == pytest.approx(0.693, abs=0.001)
    # coordinate weights of the model's layout are re-indexed to UTKinect's joints, as the baseline does
    from crossglg.baselines.dtw_weights import LearnedWeights

    w = np.random.default_rng(0).uniform(0.0, 2.0, (25, 3))
    LearnedWeights("ntu25", tuple(map(tuple, w.tolist())), False, (1,), 1).save(tmp_path / "w.json")
    on_utk = ["--data", str(utk), "--protocol", "utkinect-all10", "--json"]
    weighted = json.loads(run_cli(["transfer", str(export), *on_utk, "--classifier", "ndtw",
                                   "--dtw-weights", str(tmp_path / "w.json")]))  # fmt: skip
    baseline = json.loads(
        run_cli(["baseline", "dtw", *on_utk, "--calibrated", "--weights", str(tmp_path / "w.json")])
    )
    assert weighted["ndtw"] == pytest.approx(baseline["accuracy"]) and weighted["dtw_weights"] == str(
        tmp_path / "w.json"
    )
    assert weighted["ndtw"] != pytest.approx(doc["ndtw"])
    # the same command twice gives the same accuracies (DC's sampling is seeded)
    again = json.loads(
        run_cli(["transfer", str(export), "--data", str(utk), "--protocol", "utkinect-all10", "--json"])
    )
    assert (again["cosine"], again["dc"]) == (doc["cosine"], doc["dc"])

    # an ensemble of a model with its own copy reads out as the model itself (standardising each
    # query's scores keeps their order); joint DTW involves no model and runs once
    twin = tmp_path / "twin"
    shutil.copytree(export, twin)
    pair = json.loads(
        run_cli(
            ["transfer", str(export), str(twin), "--data", str(utk), "--protocol", "utkinect-all10", "--json"]
        )
    )
    assert (pair["models"], doc["models"]) == (2, 1)
    assert {r: pair[r] for r in READOUTS} == {r: doc[r] for r in READOUTS}

    wrong = CliRunner().invoke(
        app, ["transfer", str(export), "--data", str(utk), "--protocol", "msr-action3d"]
    )
    assert wrong.exit_code != 0


def test_an_ensemble_of_exports_of_two_layouts_is_refused_in_one_line(
    small, run_cli, train_args, real_data, tmp_path
):
    """An NTU-25 export and an MSR-20 export read the same files differently: refused, naming the second."""
    from crossglg.data.prepare import prepare
    from crossglg.errors import UserError

    runs = {"ntu": tmp_path / "ntu", "msr": tmp_path / "msr"}
    run_cli(train_args(runs["ntu"], "--epochs", "1", text=False))
    msr = tmp_path / "msr-data"
    prepare(real_data("msr_action3d"), "msr-action3d", msr, workers=2)
    run_cli(["train", "--no-text", "--data", str(msr), "--protocol", "msr-action3d", "--device", "cpu",
             "--out", str(runs["msr"]), "--epochs", "1", "--set", "frames=12",
             "--set", "model.encoder.base_channels=8"])  # fmt: skip
    exports = [Path(json.loads(run_cli(["export", str(r), "--json"]))["export"]) for r in runs.values()]
    with pytest.raises(UserError) as err:
        run_cli(["transfer", *map(str, exports), "--data", str(msr), "--protocol", "msr-action3d"])
    assert str(err.value) == (
        f"{exports[1]}: layout msr20, but {exports[0]} has ntu25; an ensemble needs one layout"
    )


def test_transfer_out_writes_eval_results_that_compare_reads(small, run_cli, train_args, real_data, tmp_path):
    """`--out DIR`: results.json in `crossglg eval --out`'s shape (1-based class ids, every query's
    prediction), the printed accuracies unchanged, and `crossglg compare` takes the folder."""
    from crossglg.data.prepared import open_prepared
    from crossglg.errors import UserError

    export, utk = _export_and_utkinect(run_cli, train_args, real_data, tmp_path)
    on_utk = [str(export), "--data", str(utk), "--protocol", "utkinect-all10"]
    printed = json.loads(run_cli(["transfer", *on_utk, "--json"]))

    out = tmp_path / "utk-all"
    assert json.loads(run_cli(["transfer", *on_utk, "--out", str(out), "--json"])) == printed
    doc = json.loads((out / "results.json").read_text())
    assert (doc["protocol"], doc["data_layout"], doc["model_layout"]) == (
        "utkinect-all10",
        "kinect20",
        "ntu25",
    )
    assert (doc["models"], doc["exports"], doc["data"], doc["shots"]) == (1, [str(export)], str(utk), 1)
    assert doc["mapping"] == printed["mapping"] and doc["fusion_weight"] == printed["fusion_weight"]
    assert doc["n_query"] == len(doc["queries"]) == len(doc["truth"]) == printed["queries"] == 189
    assert doc["n_support"] == 10 and all(isinstance(q, str) and q for q in doc["queries"])
    assert len(set(doc["queries"])) == 189
    # eval's convention: class ids 1..10, the prepared data's class i as id i + 1, named in `classes`
    assert sorted(set(doc["truth"])) == list(range(1, 11)) and sorted(doc["classes"], key=int) == [
        str(c) for c in range(1, 11)
    ]
    assert [doc["classes"][str(c)] for c in range(1, 11)] == open_prepared(utk).class_names
    assert list(doc["classifiers"]) == list(READOUTS)
    truth = np.asarray(doc["truth"])
    for name in READOUTS:
        entry = doc["classifiers"][name]
        assert entry["accuracy"] == printed[name]
        assert len(entry["predictions"]) == len(doc["queries"])
        assert np.mean(np.asarray(entry["predictions"]) == truth) == entry["accuracy"]
        assert sorted(entry["per_class"], key=int) == [str(c) for c in range(1, 11)]
        assert np.asarray(entry["confusion"]).sum() == 189 and entry["classes"] == list(range(1, 11))
        assert (out / f"confusion_{name}.png").is_file()

    # the same folder against itself: a difference of 0 on every read-out
    same = json.loads(run_cli(["compare", str(out), "--against", str(out), "--json"]))
    assert list(same["readouts"]) == list(READOUTS)
    for name, r in same["readouts"].items():
        assert (r["difference"], r["interval"], r["level"]) == (0.0, [0.0, 0.0], 1)
        assert r["a"] == pytest.approx(100 * printed[name])

    # two transfers of the same queries, fused weighted otherwise: compare pairs them query by query
    learned = tmp_path / "utk-learned"
    other = json.loads(run_cli(["transfer", *on_utk, "--classifier", "fused", "--classifier", "cosine",
                                "--fusion-weight", "1.0", "--out", str(learned), "--json"]))  # fmt: skip
    pair = json.loads(run_cli(["compare", str(learned), "--against", str(out), "--json"]))
    assert list(pair["readouts"]) == ["fused", "cosine"]
    fused = pair["readouts"]["fused"]
    assert (fused["a"], fused["b"]) == (
        pytest.approx(100 * other["fused"]),
        pytest.approx(100 * printed["fused"]),
    )
    assert fused["difference"] == pytest.approx(100 * (other["fused"] - printed["fused"]))
    assert pair["readouts"]["cosine"]["difference"] == 0.0
    assert list(json.loads((learned / "results.json").read_text())["classifiers"]) == ["fused", "cosine"]

    # the folder is made only once the inputs are read: a protocol of another dataset leaves none
    missing = tmp_path / "never"
    with pytest.raises(UserError):
        run_cli(
            ["transfer", str(export), "--data", str(utk), "--protocol", "msr-action3d", "--out", str(missing)]
        )
    assert not missing.exists()
    empty = CliRunner().invoke(app, ["transfer", *on_utk, "--out", ""])
    assert empty.exit_code == 2 and "empty" in empty.output
