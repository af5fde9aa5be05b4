"""``crossglg compare``: the paired comparison of two sets of runs (docs/TRAINING.md, "Comparing two sets of runs").

A claim that condition A (say, trained with text) beats condition B (without) rests on paired runs:
the same seeds and class splits on both sides, so that what differs within a pair is the condition
alone. One run swings by about ten points from seed to seed (docs/TRAINING.md, "Seed ensembles"),
so two means side by side say little; the paired difference, with an interval that lets both the
runs and the queries vary, says how sure the gain is, and the count of pairs up, level and down says
whether it holds run by run. Every figure comes from the per-query predictions that results.json
keeps (``crossglg train``, ``crossglg eval`` and ``crossglg transfer --out`` write it), never from the rounded accuracies.

bench/oneshot_eval.py computes the same numbers for its MSR conditions with :func:`paired_bootstrap`
and :func:`correct` from here, so a user's comparison and the bench's are one computation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from crossglg.cli_support import printable
from crossglg.errors import UserError
from crossglg.outputs import not_an_input, png_figure, writable_file

#: the file `crossglg eval`, `train` and `transfer --out` write (crossglg/train/evaluate.py) and compare reads
RESULTS_NAME = "results.json"
#: what a results file must hold for a paired comparison
FIELDS = ("queries", "truth", "classifiers")
#: the interval's coverage, percent
CONFIDENCE = 95
WHAT = "a run of `crossglg train`, a folder of `crossglg eval --out` or `crossglg transfer --out`, or their results.json"


def correct(doc: dict, readout: str) -> np.ndarray:
    """Per-query 0/1 of one read-out in one results document, in the order of ``doc['queries']``."""
    return (np.asarray(doc["classifiers"][readout]["predictions"]) == np.asarray(doc["truth"])).astype(float)


def paired_bootstrap(
    diffs: list[np.ndarray], n_boot: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean paired difference and its 95 % percentile interval, resampling runs, then queries.

    ``diffs`` holds one array per (split, seed) pair: condition minus reference, query by query.
    Resampling both levels lets seed-to-seed spread and query sampling both widen the interval.
    """
    rng = np.random.default_rng(seed)
    point = float(np.mean([d.mean() for d in diffs]))
    means = np.empty(n_boot)
    for b in range(n_boot):
        runs = rng.integers(0, len(diffs), len(diffs))
        means[b] = np.mean([diffs[r][rng.integers(0, len(diffs[r]), len(diffs[r]))].mean() for r in runs])
    lo, hi = np.percentile(means, [2.5, 97.5])
    return point, float(lo), float(hi)


def results_file(path: Path) -> Path:
    """The results file ``path`` names: itself, or the results.json in it or in its ``eval/``.

    A training run keeps its final evaluation in ``RUN/eval/results.json``; ``crossglg eval --out
    DIR`` (one checkpoint or an ensemble) writes ``DIR/results.json``.
    """
    if path.is_dir():
        for candidate in (path / RESULTS_NAME, path / "eval" / RESULTS_NAME):
            if candidate.is_file():
                return candidate
        raise UserError(f"{path}: no {RESULTS_NAME} in it or in its eval folder; name {WHAT}")
    if not path.exists():
        raise UserError(f"{path}: no such file or folder; name {WHAT}")
    if not path.is_file():
        raise UserError(f"{path}: not a regular file (a device, pipe or socket); name {WHAT}")
    return path


def _is_int(value: Any) -> bool:
    """A class id as JSON gives it: an integer (never a bool) that numpy holds as int64."""
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


@dataclass
class Results:
    """One results file, its fields checked: the queries, their true classes and the read-outs."""

    file: Path
    doc: dict

    @classmethod
    def load(cls, path: Path) -> Results:
        file = results_file(path)
        try:
            text = file.read_bytes().decode("utf-8")
        except OSError as err:
            raise UserError(f"{file}: cannot read it ({err.strerror or err})") from None
        except UnicodeDecodeError:
            raise UserError(f"{file}: not UTF-8 text; name {WHAT}") from None
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as err:
            raise UserError(f"{file}: not JSON ({err.msg}, line {err.lineno}); name {WHAT}") from None
        except (ValueError, RecursionError) as err:  # a 5000-digit number, a very deep nesting
            raise UserError(
                f"{file}: not a readable JSON document ({type(err).__name__}); name {WHAT}"
            ) from None
        if not isinstance(doc, dict):
            raise UserError(f"{file}: a JSON {type(doc).__name__}, not a results object; name {WHAT}")
        missing = [key for key in FIELDS if key not in doc]
        if missing:
            raise UserError(
                f"{file}: no {', '.join(missing)} field; a paired comparison needs every query's true class "
                f"and prediction (`crossglg transfer --json` holds neither; `crossglg transfer --out DIR` writes them); name {WHAT}"
            )
        truth, queries = doc["truth"], doc["queries"]
        if not isinstance(truth, list) or not truth or not all(_is_int(t) for t in truth):
            raise UserError(f"{file}: truth must be a non-empty list of class ids (integers)")
        if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
            raise UserError(f"{file}: queries must be a list of query names (strings)")
        if len(queries) != len(truth):
            raise UserError(f"{file}: queries names {len(queries)} queries, truth {len(truth)}")
        if not isinstance(doc["classifiers"], dict) or not doc["classifiers"]:
            raise UserError(f"{file}: classifiers must be an object of read-outs, one at least")
        return cls(file, doc)

    @property
    def readouts(self) -> list[str]:
        return list(self.doc["classifiers"])

    @property
    def truth(self) -> np.ndarray:
        return np.asarray(self.doc["truth"], dtype=np.int64)

    def class_name(self, class_id: int) -> str | None:
        names = self.doc.get("classes")
        name = names.get(str(class_id)) if isinstance(names, dict) else None
        return name if isinstance(name, str) else None

    def correct(self, readout: str) -> np.ndarray:
        """Per-query 0/1 of ``readout``, its predictions checked first (a one-line error naming the field)."""
        entry = self.doc["classifiers"].get(readout)
        field = f"classifiers.{printable(readout)}.predictions"
        if entry is None:
            raise UserError(
                f"{self.file}: no read-out {printable(readout)!r} (it has {printable(', '.join(self.readouts))})"
            )
        preds = entry.get("predictions") if isinstance(entry, dict) else None
        if not isinstance(preds, list) or not all(_is_int(p) for p in preds):
            raise UserError(f"{self.file}: {field} must be a list of class ids (integers)")
        if len(preds) != len(self.doc["truth"]):
            raise UserError(
                f"{self.file}: {field} has {len(preds)} entries for {len(self.doc['truth'])} queries"
            )
        return correct(self.doc, readout)


def check_pair(a: Results, b: Results) -> None:
    """Refuse a pair whose two results are not of the same queries: their difference would mean nothing."""
    qa, qb, ta, tb = a.doc["queries"], b.doc["queries"], a.doc["truth"], b.doc["truth"]
    if qa == qb and ta == tb:
        return
    if len(qa) != len(qb):
        why = f"{len(qa)} queries against {len(qb)}"
    else:
        i = next(i for i in range(len(qa)) if qa[i] != qb[i] or ta[i] != tb[i])
        what = "named" if qa[i] != qb[i] else "of true class"
        x, y = (qa[i], qb[i]) if qa[i] != qb[i] else (ta[i], tb[i])
        why = f"query {i + 1} is {what} {printable(x)!r} in one, {printable(y)!r} in the other"
    raise UserError(
        f"{a.file} and {b.file}: not the same queries ({why}); a pair must be evaluated on one split "
        "(same data, protocol and shots)"
    )


def choose_readouts(runs: Sequence[Results], asked: Sequence[str]) -> list[str]:
    """The read-outs asked for (each checked in every file), or every read-out all files hold."""
    if asked:
        chosen = list(dict.fromkeys(asked))
        for name in chosen:
            for run in runs:
                if name not in run.doc["classifiers"]:
                    raise UserError(
                        f"{run.file}: no read-out {printable(name)!r} (it has {printable(', '.join(run.readouts))})"
                    )
        return chosen
    common = [r for r in runs[0].readouts if all(r in run.doc["classifiers"] for run in runs)]
    if not common:
        raise UserError(
            f"no read-out is in every file ({runs[0].file} has {printable(', '.join(runs[0].readouts))}); "
            "evaluate them with the same --classifier"
        )
    return common


def same_length(a_paths: Sequence[Path], b_paths: Sequence[Path]) -> None:
    if len(a_paths) != len(b_paths):
        raise UserError(
            f"{len(a_paths)} runs against {len(b_paths)}: the two lists pair up in order (the same seed or "
            "class split at the same place), so they need the same length"
        )


def load_pairs(a_paths: Sequence[Path], b_paths: Sequence[Path]) -> list[tuple[Results, Results]]:
    """Each A result with the B result of the same position, both checked and of the same queries."""
    same_length(a_paths, b_paths)
    pairs = [(Results.load(a), Results.load(b)) for a, b in zip(a_paths, b_paths, strict=True)]
    for a, b in pairs:
        check_pair(a, b)
    return pairs


def _pct(value: float) -> float:
    return 100.0 * float(value) + 0.0  # + 0.0: never a -0.0 on screen


def summarise(
    pairs: Sequence[tuple[Results, Results]], readouts: Sequence[str], n_boot: int, seed: int
) -> dict:
    """Every number of the comparison, in percent and percentage points.

    Each read-out's interval is drawn with ``seed`` afresh, so asking for one read-out gives the
    interval it has among all of them. Per class, A and B are means over the runs whose split holds
    the class (different pairs may come from different class splits), the difference a mean over
    those pairs.
    """
    summary: dict[str, Any] = {
        "unit": "percent",
        "confidence": CONFIDENCE,
        "boot": n_boot,
        "seed": seed,
        "pairs": [{"a": str(a.file), "b": str(b.file), "queries": len(a.doc["truth"])} for a, b in pairs],
        "readouts": {},
    }
    for readout in readouts:
        ca = [a.correct(readout) for a, _ in pairs]
        cb = [b.correct(readout) for _, b in pairs]
        diffs = [x - y for x, y in zip(ca, cb, strict=True)]
        point, lo, hi = paired_bootstrap(diffs, n_boot=n_boot, seed=seed)
        per_pair = [float(d.mean()) for d in diffs]
        classes: dict[int, dict[str, Any]] = {}
        for (a, b), x, y in zip(pairs, ca, cb, strict=True):
            truth = a.truth
            for c in np.unique(truth):
                mask = truth == c
                row = classes.setdefault(
                    int(c), {"name": a.class_name(int(c)) or b.class_name(int(c)), "a": [], "b": []}
                )
                row["a"].append(x[mask].mean())
                row["b"].append(y[mask].mean())
        summary["readouts"][readout] = {
            "a": _pct(np.mean([x.mean() for x in ca])),
            "b": _pct(np.mean([y.mean() for y in cb])),
            "difference": _pct(point),
            "interval": [_pct(lo), _pct(hi)],
            "up": sum(m > 0 for m in per_pair),
            "level": sum(m == 0 for m in per_pair),
            "down": sum(m < 0 for m in per_pair),
            "runs_a": [_pct(x.mean()) for x in ca],
            "runs_b": [_pct(y.mean()) for y in cb],
            "per_class": {
                str(c): {
                    "name": row["name"] if row["name"] is not None else str(c),
                    "a": _pct(np.mean(row["a"])),
                    "b": _pct(np.mean(row["b"])),
                    "difference": _pct(np.mean(np.subtract(row["a"], row["b"]))),
                    "pairs": len(row["a"]),
                }
                for c, row in sorted(classes.items())
            },
        }
    return summary


def check_picture(png: Path, inputs: Sequence[Path]) -> None:
    """Refuse a picture path that is one of the inputs (its results would be replaced by a PNG) or
    that cannot be written; checked before anything is computed."""
    not_an_input(png, inputs, "file for the picture")
    writable_file(png, "picture")


def compare_runs(
    a_paths: Sequence[Path],
    b_paths: Sequence[Path],
    readouts: Sequence[str] = (),
    n_boot: int = 2000,
    seed: int = 0,
    png: Path | None = None,
) -> dict:
    """Load and check both lists, pair them in order, and summarise every chosen read-out.

    ``png`` is only checked here (against the inputs and its folder), before any file is read; the
    caller draws it with :func:`forest` once the numbers are shown, so a failed picture loses none.
    """
    same_length(a_paths, b_paths)
    if png is not None:
        inputs = [*a_paths, *b_paths]
        check_picture(png, [*inputs, *(results_file(p) for p in inputs)])
    pairs = load_pairs(a_paths, b_paths)
    chosen = choose_readouts([run for pair in pairs for run in pair], readouts)
    return summarise(pairs, chosen, n_boot, seed)


def table(summary: dict, per_class: bool = False) -> str:
    """The comparison as plain text: one row per read-out, then (``per_class``) one block per read-out."""
    n = len(summary["pairs"])
    lines = [
        f"A − B over {n} pair{'s' if n != 1 else ''}, accuracy % and points; {summary['confidence']} % interval from "
        f"{summary['boot']} resamples of the pairs, then of each pair's queries (seed {summary['seed']}):"
    ]
    lines += [
        f"  pair {i}: {printable(p['a'])} against {printable(p['b'])}"
        for i, p in enumerate(summary["pairs"], 1)
    ]
    width = max(8, *(len(printable(r)) for r in summary["readouts"]))
    lines.append(
        f"  {'read-out':<{width}}  {'A':>6}  {'B':>6}  {'A − B':>6}  {'interval':<16}  up/level/down"
    )
    for name, r in summary["readouts"].items():
        lo, hi = r["interval"]
        interval = f"[{lo:+.1f}, {hi:+.1f}]"
        lines.append(
            f"  {printable(name):<{width}}  {r['a']:6.1f}  {r['b']:6.1f}  {r['difference']:+6.1f}  {interval:<16}  "
            f"{r['up']}/{r['level']}/{r['down']}"
        )
    if n == 1:
        lines.append("  (one pair: the interval shows query sampling only, not how runs vary with the seed)")
    if per_class:
        for name, r in summary["readouts"].items():
            labels = {  # a name holding a line break (results.json is user data) stays on its row
                c: printable(f"{c} {row['name']}" if row["name"] != c else c).replace("\n", "\\n")
                for c, row in r["per_class"].items()
            }
            cw = max(5, *(len(label) for label in labels.values()))
            lines += [
                "",
                f"{printable(name)}, per class:",
                f"  {'class':<{cw}}  {'A':>6}  {'B':>6}  {'A − B':>6}  pairs",
            ]
            for c, row in r["per_class"].items():
                lines.append(
                    f"  {labels[c]:<{cw}}  {row['a']:6.1f}  {row['b']:6.1f}  {row['difference']:+6.1f}  {row['pairs']}"
                )
    return "\n".join(lines)


def forest(summary: dict, path: Path) -> None:
    """A forest plot: one row per read-out, the paired difference and its interval, a line at 0."""
    names = list(summary["readouts"])
    n = len(summary["pairs"])
    with png_figure(path, dpi=110, figsize=(6.4, 1.4 + 0.45 * len(names))) as (fig, ax):
        for y, name in enumerate(reversed(names)):
            r = summary["readouts"][name]
            ax.plot(r["interval"], [y, y], color="C0", lw=2)
            ax.plot([r["difference"]], [y], "o", color="C0")
        ax.axvline(0.0, color="grey", ls="--", lw=1)
        # read-out names come from the files: a $ would start matplotlib's maths mode
        ax.set_yticks(range(len(names)), [printable(x).replace("$", r"\$") for x in reversed(names)])
        ax.set_ylim(-0.7, len(names) - 0.3)
        ax.set_xlabel(f"A − B, accuracy points ({summary['confidence']} % bootstrap interval)")
        ax.set_title(f"paired difference over {n} pair{'s' if n != 1 else ''}", fontsize=9)
        fig.tight_layout()
