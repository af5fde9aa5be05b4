"""bench/oneshot_eval.py: splits, conditions, paired bootstrap, the report and the held-out-fold curves.

Everything is built from hand-made result files and metrics.json files; nothing is trained.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from crossglg.vocab.protocols import read_protocol_file

RUNNER = Path(__file__).resolve().parents[2] / "bench" / "oneshot_eval.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("oneshot_eval", RUNNER)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["oneshot_eval"] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    yield mod
    del sys.modules["oneshot_eval"]


def fake_result(out: Path, split: str, cond: str, seed: int, right: dict[str, int], n: int = 10) -> None:
    """A result file whose read-out ``r`` gets the first ``right[r]`` of ``n`` queries right."""
    from crossglg.train.oneshot import CLASSIFIERS, FUSION_WEIGHT

    truth = [11 + i % 2 for i in range(n)]
    classifiers = {}
    for r in CLASSIFIERS:
        k = right.get(r, 5)
        pred = truth[:k] + [23 - t for t in truth[k:]]  # 11 <-> 12 swapped after the first k
        per = {
            str(c): float(np.mean([p == t for p, t in zip(pred, truth, strict=True) if t == c]))
            for c in (11, 12)
        }
        classifiers[r] = {"accuracy": k / n, "per_class": per, "predictions": pred}
    doc = {
        "split": split,
        "condition": cond,
        "seed": seed,
        "eval": {
            "truth": truth,
            "classes": {"11": "golf", "12": "kick"},
            "classifiers": classifiers,
            "fusion_weight": FUSION_WEIGHT,
        },
    }
    path = out / "results" / split / f"{cond}-s{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))


def test_random_splits_are_ten_of_twenty_reproducible_and_written_as_protocols(bench, tmp_path):
    a, b = bench.random_split(1, 0), bench.random_split(2, 0)
    assert len(a) == 10 and len(set(a)) == 10 and set(a) <= set(range(1, 21))
    assert a == bench.random_split(1, 0) and a != b
    rel = bench.protocol_of(tmp_path, "rand1", 0)
    text = (tmp_path / rel).read_text()
    assert f"novel_classes = {a}" in text and 'exemplar_pattern = "a{class_id:02d}_s01_e01"' in text
    assert bench.protocol_of(tmp_path, "jeanie", 0) == "msr-action3d"


def test_paired_bootstrap_interval_brackets_the_mean_and_excludes_zero_for_a_clear_gain(bench):
    rng = np.random.default_rng(0)
    gain = [(rng.random(279) < 0.7).astype(float) - (rng.random(279) < 0.5).astype(float) for _ in range(5)]
    point, lo, hi = bench.paired_bootstrap(gain, n_boot=500)
    assert lo < point < hi and lo > 0
    none = [np.zeros(279) for _ in range(5)]
    assert bench.paired_bootstrap(none, n_boot=50) == (0.0, 0.0, 0.0)


def test_report_pairs_runs_by_split_and_seed_and_pastes_into_the_docs(bench, tmp_path):
    for seed in (1, 2):
        fake_result(tmp_path, "jeanie", "base", seed, {"cosine": 5, "fused": 8})
        fake_result(tmp_path, "jeanie", "crossglg", seed, {"cosine": 7, "fused": 8})
    fake_result(tmp_path, "jeanie", "base", 3, {"cosine": 6})  # no partner: not in the paired rows
    docs = tmp_path / "RESULTS.md"
    docs.write_text(f"intro\n{bench.BEGIN}\nold table\n{bench.END}\noutro\n")
    text = bench.report(tmp_path, ["jeanie"], bench.CONDITIONS, docs)
    summary = json.loads((tmp_path / "report.json").read_text())
    assert summary["conditions"]["base"]["runs"] == ["jeanie-s1", "jeanie-s2", "jeanie-s3"]
    assert summary["paired"]["crossglg"]["pairs"] == ["jeanie-s1", "jeanie-s2"]
    cos = summary["paired"]["crossglg"]["cosine"]
    assert cos["mean"] == pytest.approx(0.2) and (cos["wins"], cos["losses"]) == (2, 0)
    assert summary["paired"]["crossglg"]["fused"]["mean"] == 0.0
    assert "| base encoder (`--no-text`) | 3 | 53.3 ± 5.8 |" in text
    assert "+20.0 [" in text and (tmp_path / "report.png").is_file()
    assert "| 11 golf |" in text and "Accuracy (%) on the novel queries, mean" in text
    pasted = docs.read_text()
    assert (
        pasted.startswith("intro\n")
        and pasted.endswith(f"{bench.END}\noutro\n")
        and "old table" not in pasted
    )


def test_extra_conditions_come_from_the_command_line(bench):
    conds = bench.parse_conditions(["shuffled=--text-cache cache.db --set 'x=\"y\"'"])
    assert conds["shuffled"].flags == ("--text-cache", "cache.db", "--set", 'x="y"')
    with pytest.raises(SystemExit):
        bench.parse_conditions(["no-equals-sign"])


def test_holdout_split_trains_seven_auxiliary_classes_and_never_names_a_novel_one(bench, tmp_path):
    rel = bench.protocol_of(tmp_path, "holdout", 0)
    proto = read_protocol_file(tmp_path / rel)  # the trainer's own reader accepts it
    assert proto.base_class_ids == (1, 3, 4, 5, 7, 8, 9)
    assert proto.novel_class_ids == (2, 6, 10)
    assert all(c <= 10 for c in proto.base_class_ids + proto.novel_class_ids)


def test_the_three_holdout_folds_hold_out_nine_auxiliary_classes_once_each(bench, tmp_path):
    held = []
    for split in bench.HOLDOUT_FOLDS:
        proto = read_protocol_file(tmp_path / bench.protocol_of(tmp_path, split, 0))
        assert len(proto.base_class_ids) == 7 and len(proto.novel_class_ids) == 3
        assert set(proto.base_class_ids) | set(proto.novel_class_ids) == set(range(1, 11))
        held += proto.novel_class_ids
    assert sorted(held) == [1, 2, 3, 4, 5, 6, 8, 9, 10]  # a07 is never held out


@pytest.mark.parametrize("index", range(1, 6))
def test_random_holdout_folds_hold_out_auxiliary_classes_of_their_split_only(bench, tmp_path, index):
    split = f"rand{index}-held"
    proto = read_protocol_file(tmp_path / bench.protocol_of(tmp_path, split, 0))
    novel = set(bench.random_split(index, 0))
    auxiliary = set(range(1, 21)) - novel
    assert len(proto.base_class_ids) == 7 and len(proto.novel_class_ids) == 3
    assert set(proto.base_class_ids) | set(proto.novel_class_ids) == auxiliary  # no novel class named
    again = read_protocol_file(tmp_path / "again" / bench.protocol_of(tmp_path / "again", split, 0))
    assert again.novel_class_ids == proto.novel_class_ids  # reproducible from the seeds
    other = bench.protocol_of(tmp_path / "seed1", split, 1)
    assert read_protocol_file(tmp_path / "seed1" / other).novel_class_ids != proto.novel_class_ids


def test_the_random_holdout_folds_reach_legs_and_whole_body_actions(bench):
    held = {c for i in range(1, 6) for c in bench.random_holdout(i, 0)[1]}
    assert held & {14, 15, 16} and held & {17, 18, 19}  # kicks or jogging; tennis or golf swings
    assert not held <= set(range(1, 11))  # unlike the JEANIE folds, all arm gestures


def test_random_holdout_runs_report_apart_and_exclude_the_jeanie_folds(bench, tmp_path):
    fake_result(tmp_path, "rand1", "base", 1, {"cosine": 5})
    fake_result(tmp_path, "rand1-held", "base", 1, {"cosine": 9})
    assert [d["split"] for d in bench.load_results(tmp_path)] == ["rand1"]
    assert [d["split"] for d in bench.load_results(tmp_path, holdout=True)] == ["rand1-held"]
    with pytest.raises(SystemExit, match="choose one set of folds"):
        bench.main(["--out", str(tmp_path), "--report-only", "--holdout", "--random-holdout", "2"])
    for empty in (["--no-jeanie"], ["--random-holdout", "-1"]):
        with pytest.raises(SystemExit, match="no splits to run"):
            bench.main(["--out", str(tmp_path), "--report-only", *empty])


def test_holdout_runs_and_novel_runs_never_share_a_report(bench, tmp_path):
    fake_result(tmp_path, "jeanie", "base", 1, {"cosine": 5})
    fake_result(tmp_path, "holdout", "base", 1, {"cosine": 9})
    fake_result(tmp_path, "holdout3", "base", 1, {"cosine": 7})
    assert [d["split"] for d in bench.load_results(tmp_path)] == ["jeanie"]
    assert [d["split"] for d in bench.load_results(tmp_path, holdout=True)] == ["holdout", "holdout3"]
    both = bench.report(tmp_path, ["holdout", "holdout3"], bench.CONDITIONS, None)
    assert "| base encoder (`--no-text`) | 2 | 80.0 ± 14.1 |" in both
    assert "on the held-out auxiliary queries" in both and "novel queries" not in both
    text = bench.report(tmp_path, ["holdout"], bench.CONDITIONS, None)
    assert "| base encoder (`--no-text`) | 1 | 90.0 |" in text


def test_against_pairs_every_condition_with_the_chosen_reference(bench, tmp_path):
    for seed in (1, 2):
        fake_result(tmp_path, "jeanie", "base", seed, {"cosine": 9})
        fake_result(tmp_path, "jeanie", "crossglg", seed, {"cosine": 4})
        fake_result(tmp_path, "jeanie", "corrected", seed, {"cosine": 6})
    text = bench.report(tmp_path, ["jeanie"], bench.CONDITIONS, None, against="crossglg")
    paired = json.loads((tmp_path / "report.json").read_text())["paired"]
    assert set(paired) == {"base", "corrected"}
    assert paired["corrected"]["cosine"]["mean"] == pytest.approx(0.2)
    assert paired["base"]["cosine"]["mean"] == pytest.approx(0.5)
    assert "| condition − crossglg | pairs |" in text


def test_correction_conditions_and_controls_differ_only_in_their_own_keys(bench):
    """Each condition's recipe file resolves to the corrected recipe plus its own change only."""
    from crossglg.train.config import load_config

    def cfg(name: str) -> dict:
        args = bench.CONDITIONS[name].train_args()
        return load_config(args[1] if args[:1] == ("--config",) else "cpu-small", {}).to_dict()

    small, corrected = cfg("base"), cfg("corrected")
    assert corrected["model"] == {
        **small["model"], "head_input": "l2", "jid": {"reweight": "bounded", "target_smoothing": 0.5},
        "l2g": {"form": "gather"},
    }  # fmt: skip
    assert {k: v for k, v in corrected.items() if k != "model"} == {
        k: v for k, v in small.items() if k != "model"
    }
    assert cfg("shuffled") == {**corrected, "text_control": "shuffled"}
    assert cfg("uniform-kgt") == {**corrected, "text_control": "uniform-kgt"}
    assert cfg("corrected-l2g") == {**corrected, "model": {**corrected["model"], "use_jid": False}}
    assert cfg("base-l2")["model"] == {**small["model"], "head_input": "l2"}
    c = bench.CONDITIONS
    assert c["cpu-msr"].train_args() == ("--config", "cpu-msr", "--no-text")
    assert "--no-text" in c["base-l2"].flags and "--no-text" not in c["corrected"].flags
    # the cache holds two sources, so every text condition names its own
    assert c["crossglg"].flags[-1] == c["corrected"].flags[-1] == "text_source=import:handwritten"
    assert c["pack"].flags[-1] == "text_source=pack:msr-action3d@1"


def test_unknown_reference_or_condition_is_a_one_line_error(bench, tmp_path):
    with pytest.raises(SystemExit, match="--against nope: choose from base"):
        bench.main(["--out", str(tmp_path), "--report-only", "--against", "nope"])
    with pytest.raises(SystemExit, match="--condition nope: choose from base"):
        bench.main(["--out", str(tmp_path), "--report-only", "--condition", "nope"])


def _run(root: Path, name: str, val: list[float] | None) -> Path:
    run = root / name
    run.mkdir()
    rows = [
        {"epoch": i + 1, "train_acc": 0.5, **({"val_cosine": v} if val else {})}
        for i, v in enumerate(val or [0])
    ]
    (run / "metrics.json").write_text(json.dumps(rows))
    return run


def test_curves_summarise_the_validation_curve_only(bench, tmp_path, capsys):
    run = _run(tmp_path, "a", [0.2, 0.6, 0.4, 0.5, 0.3])
    bench.main(["--curves", str(run)])  # no eval/ directory needed: the novel classes are never read
    (row,) = json.loads(capsys.readouterr().out)
    assert row["final"] == 0.3 and row["best"] == 0.6 and row["best_epoch"] == 2
    assert row["last3"] == pytest.approx(0.4)
    with pytest.raises(SystemExit, match="holdout_classes"):
        bench.curves([_run(tmp_path, "b", None)])
    with pytest.raises(SystemExit, match=r"missing/metrics\.json: no such file"):
        bench.curves([tmp_path / "missing"])


def test_a_report_holds_the_named_conditions_and_splits_only(bench, tmp_path):
    for split in ("jeanie", "rand1"):
        for cond in ("base", "crossglg", "corrected"):
            fake_result(tmp_path, split, cond, 1, {"cosine": 5})
    bench.report(tmp_path, ["rand1"], bench.CONDITIONS, None, only=["corrected"])
    summary = json.loads((tmp_path / "report.json").read_text())
    assert set(summary["conditions"]) == {"base", "corrected"}  # the reference stays for the pairing
    assert summary["conditions"]["corrected"]["runs"] == ["rand1-s1"]
    bench.report(tmp_path, ["jeanie", "rand1"], bench.CONDITIONS, None)
    summary = json.loads((tmp_path / "report.json").read_text())
    assert set(summary["conditions"]) == {"base", "crossglg", "corrected"}
    assert summary["conditions"]["base"]["runs"] == ["jeanie-s1", "rand1-s1"]


def test_a_result_of_older_read_outs_is_stale_and_is_evaluated_again(bench, tmp_path):
    from crossglg.train.oneshot import FUSION_WEIGHT

    fake_result(tmp_path, "jeanie", "base", 1, {})
    path = tmp_path / "results" / "jeanie" / "base-s1.json"
    doc = json.loads(path.read_text())
    assert not bench.stale(doc)
    older = json.loads(path.read_text())
    del older["eval"]["classifiers"]["ndtw"]  # measured before ndtw existed
    assert bench.stale(older)
    other_weight = dict(doc, eval=dict(doc["eval"], fusion_weight=FUSION_WEIGHT + 0.3))
    assert bench.stale(other_weight)
    transfer = {r: 0.5 for r in bench.READOUTS} | {"fusion_weight": FUSION_WEIGHT}
    assert not bench.stale(dict(doc, transfer_utk=transfer))
    assert bench.stale(dict(doc, transfer_utk={k: v for k, v in transfer.items() if k != "ndtw"}))
    # a stale result without its trained run is kept as it is: nothing can be evaluated again
    args = bench.argparse.Namespace(transfer=False, split_seed=0)
    path.write_text(json.dumps(older))
    assert bench.run_one(tmp_path, "jeanie", "base", 1, args, {}) == path
    assert json.loads(path.read_text()) == older


def test_ensembles_name_conditions_with_seed_offsets_and_bad_specs_are_one_line_errors(bench):
    conditions = bench.parse_conditions(["motion=--no-text --set input_stream=motion"])
    ens = bench.parse_ensembles(["jm=base,motion", "two=base, base+1"], conditions)
    assert ens["jm"].runs(3) == [("base", 3), ("motion", 3)]
    assert ens["two"].runs(3) == [("base", 3), ("base", 4)]
    for spec, message in (
        ("jm", "expected NAME=COND"),
        ("base=base,motion", "already the name of a condition"),
        ("x=base,bone", "'bone' is no condition"),
        ("x=base,base+one", "seed offset after '+' must be a whole number"),
        ("x=base", "two or more different members"),
        ("x=base,base+0", "two or more different members"),
    ):
        with pytest.raises(SystemExit, match=re.escape(message)):
            bench.parse_ensembles([spec], conditions)


def test_an_ensemble_waits_for_its_members_and_reports_like_a_condition(bench, tmp_path):
    import argparse

    conditions = bench.parse_conditions([])
    ens = bench.parse_ensembles(["pair=base,crossglg", "seeds=base,base+1"], conditions)
    fake_result(tmp_path, "rand1", "base", 1, {"jfdtw": 6})
    args = argparse.Namespace(transfer=False)
    # crossglg's run of seed 1 has not finished: nothing is evaluated, no command runs
    assert bench.run_ensemble(tmp_path, "rand1", "pair", ens["pair"], 1, args) is None
    assert not (tmp_path / "runs").exists()
    # finished ensemble results (as `crossglg eval RUN…` leaves them) pair by split and seed
    fake_result(tmp_path, "rand1", "pair", 1, {"jfdtw": 9})
    fake_result(tmp_path, "rand1", "seeds", 1, {"jfdtw": 7})
    rows = {**conditions, **ens}
    assert bench.run_ensemble(tmp_path, "rand1", "pair", ens["pair"], 1, args) == (
        tmp_path / "results" / "rand1" / "pair-s1.json"
    )
    text = bench.report(tmp_path, ["rand1"], rows, None, against="seeds", only=["pair", "seeds"])
    summary = json.loads((tmp_path / "report.json").read_text())
    assert summary["paired"]["pair"]["jfdtw"]["mean"] == pytest.approx(0.2)
    assert "ensemble of base, crossglg" in text
