"""Compare two training recipes from finished `crossglg train` runs (docs/TRAINING.md, "Choosing a recipe").

::

    # recipe search: held-out auxiliary folds only (runs trained with evaluate_novel=false)
    python bench/msr_recipe_compare.py holdout runs/search/A-f0 runs/search/B-f0 ...
    # final measurement: the novel classes, two recipes at the same seeds
    python bench/msr_recipe_compare.py novel --new runs/final/new-s{1..5} --old runs/final/old-s{1..5}

``holdout`` reads only ``metrics.json`` (the validation accuracy on the held-out auxiliary
classes per epoch), never ``eval/``, so a recipe search cannot see the novel classes.
``novel`` reads each run's ``eval/results.json``: accuracy per seed and classifier, the mean
per-class accuracy, and the paired difference new − old with a 95 % bootstrap interval.
Each bootstrap replicate draws seeds with replacement (the pair stays together) and, inside
each drawn seed, each class's queries with replacement for both recipes. results.json keeps
confusion matrices, not per-query predictions, so queries are resampled per recipe within
their class rather than as pairs; the interval is therefore a little wider than a
query-paired one would be.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def holdout_rows(runs: list[Path]) -> list[dict]:
    """Per run: its final-epoch validation accuracy, the mean of its last three epochs, its best epoch."""
    rows = []
    for run in runs:
        history = json.loads((run / "metrics.json").read_text())
        val = [row["val_cosine"] for row in history if "val_cosine" in row]
        if not val:
            raise SystemExit(f"{run}: no val_cosine in metrics.json (was holdout_classes set?)")
        best = int(np.argmax(val))
        rows.append(
            {
                "run": str(run),
                "epochs": len(val),
                "final": val[-1],
                "last3": float(np.mean(val[-3:])),
                "best": val[best],
                "best_epoch": best + 1,
            }
        )
    return rows


def _results(run: Path) -> dict:
    path = run / "eval" / "results.json"
    if not path.is_file():
        raise SystemExit(f"{run}: no eval/results.json (a finished run evaluated on the novel classes)")
    return json.loads(path.read_text())


def _correct_per_class(classifier: dict) -> list[np.ndarray]:
    """0/1 correctness of every query, grouped by true class, rebuilt from the confusion matrix."""
    conf = np.asarray(classifier["confusion"])
    return [np.r_[np.ones(conf[i, i]), np.zeros(conf[i].sum() - conf[i, i])] for i in range(len(conf))]


def bootstrap_difference(
    new: list[list[np.ndarray]], old: list[list[np.ndarray]], reps: int = 10000, seed: int = 0
) -> tuple[float, float]:
    """95 % interval of mean accuracy new − old over seeds × queries (see the module docstring)."""
    rng = np.random.default_rng(seed)
    n_seeds = len(new)
    diffs = np.empty(reps)
    for r in range(reps):
        picks = rng.integers(0, n_seeds, n_seeds)
        total = 0.0
        for s in picks:
            for side, sign in ((new[s], 1.0), (old[s], -1.0)):
                hits = sum(float(rng.choice(c, len(c)).sum()) for c in side if len(c))
                total += sign * hits / sum(len(c) for c in side)
        diffs[r] = total / n_seeds
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return float(lo), float(hi)


def novel_report(new: list[Path], old: list[Path], reps: int) -> dict:
    if len(new) != len(old):
        raise SystemExit("--new and --old need the same number of runs (one per seed, in the same order)")
    out: dict = {"seeds": len(new), "classifiers": {}}
    res_new, res_old = [_results(r) for r in new], [_results(r) for r in old]
    for name in res_new[0]["classifiers"]:
        acc_new = np.array([r["classifiers"][name]["accuracy"] for r in res_new])
        acc_old = np.array([r["classifiers"][name]["accuracy"] for r in res_old])
        per_class = {
            c: (
                float(np.mean([r["classifiers"][name]["per_class"][c] for r in res_new])),
                float(np.mean([r["classifiers"][name]["per_class"][c] for r in res_old])),
            )
            for c in res_new[0]["classifiers"][name]["per_class"]
        }
        lo, hi = bootstrap_difference(
            [_correct_per_class(r["classifiers"][name]) for r in res_new],
            [_correct_per_class(r["classifiers"][name]) for r in res_old],
            reps,
        )
        out["classifiers"][name] = {
            "new": acc_new.tolist(),
            "old": acc_old.tolist(),
            "new_mean": float(acc_new.mean()),
            "new_std": float(acc_new.std(ddof=1)) if len(acc_new) > 1 else 0.0,
            "old_mean": float(acc_old.mean()),
            "old_std": float(acc_old.std(ddof=1)) if len(acc_old) > 1 else 0.0,
            "difference": float((acc_new - acc_old).mean()),
            "difference_ci95": [lo, hi],
            "per_class_new_old": per_class,
        }
    out["class_names"] = res_new[0].get("classes", {})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="mode", required=True)
    h = sub.add_parser("holdout", help="validation accuracy on held-out auxiliary classes (recipe search)")
    h.add_argument("runs", nargs="+", type=Path)
    n = sub.add_parser("novel", help="final one-shot accuracy of two recipes at paired seeds")
    n.add_argument("--new", nargs="+", type=Path, required=True)
    n.add_argument("--old", nargs="+", type=Path, required=True)
    n.add_argument("--reps", type=int, default=10000)
    args = parser.parse_args(argv)
    if args.mode == "holdout":
        report = holdout_rows(args.runs)
    else:
        report = novel_report(args.new, args.old, args.reps)
    json.dump(report, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
