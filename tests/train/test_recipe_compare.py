"""bench/msr_recipe_compare.py: held-out fold summaries read no novel results; the paired bootstrap."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.msr_recipe_compare import bootstrap_difference, holdout_rows, novel_report


def _run(root: Path, name: str, val: list[float] | None, confusion: list[list[int]] | None = None) -> Path:
    run = root / name
    run.mkdir()
    rows = [
        {"epoch": i + 1, "train_acc": 0.5, **({"val_cosine": v} if val else {})}
        for i, v in enumerate(val or [0])
    ]
    (run / "metrics.json").write_text(json.dumps(rows))
    if confusion is not None:
        conf = np.asarray(confusion)
        acc = float(np.trace(conf) / conf.sum())
        per_class = {str(c + 1): float(conf[c, c] / conf[c].sum()) for c in range(len(conf))}
        doc = {"classes": {"1": "a", "2": "b"}, "classifiers": {"cosine": {"accuracy": acc, "per_class": per_class,
                                                                          "confusion": conf.tolist()}}}  # fmt: skip
        (run / "eval").mkdir()
        (run / "eval" / "results.json").write_text(json.dumps(doc))
    return run


def test_holdout_summary_uses_the_validation_curve_only(tmp_path: Path) -> None:
    run = _run(tmp_path, "a", [0.2, 0.6, 0.4, 0.5, 0.3])
    (row,) = holdout_rows([run])  # no eval/ directory needed: the novel classes are never read
    assert row["final"] == 0.3 and row["best"] == 0.6 and row["best_epoch"] == 2
    assert row["last3"] == pytest.approx(0.4)
    with pytest.raises(SystemExit, match="holdout_classes"):
        holdout_rows([_run(tmp_path, "b", None)])


def test_novel_report_pairs_seeds_and_brackets_the_difference(tmp_path: Path) -> None:
    new = [_run(tmp_path, f"new{s}", None, [[18, 2], [3, 17]]) for s in range(2)]  # 87.5 %
    old = [_run(tmp_path, f"old{s}", None, [[10, 10], [10, 10]]) for s in range(2)]  # 50 %
    rep = novel_report(new, old, reps=300)["classifiers"]["cosine"]
    assert rep["difference"] == pytest.approx(0.375)
    lo, hi = rep["difference_ci95"]
    assert 0.15 < lo < 0.375 < hi < 0.6
    assert rep["per_class_new_old"]["1"] == (0.9, 0.5)
    with pytest.raises(SystemExit, match="same number"):
        novel_report(new, old[:1], reps=10)


def test_bootstrap_of_identical_recipes_straddles_zero() -> None:
    side = [[np.r_[np.ones(15), np.zeros(5)], np.r_[np.ones(10), np.zeros(10)]] for _ in range(3)]
    lo, hi = bootstrap_difference(side, side, reps=400)
    assert lo < 0 < hi
