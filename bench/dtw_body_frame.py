"""Model-free body-frame settings for ``ndtw``: view normalisation, mirrored exemplars, per-joint cost.

Training-free, so one setting is chosen on the auxiliary classes of all six MSR splits run as
one-shot tasks (pooled: the mean over the six), by a rule fixed before any run: the winner
replaces today's ``ndtw`` only if it gains at least one point on that mean and does not lose on
more than two of the six. The winner's novel queries are then evaluated once, beside ``ndtw``
(docs/RESULTS.md, "Body-frame DTW settings").

    python bench/dtw_body_frame.py --out runs/text-at-test --random-splits 5
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
# (view, mirror, per-joint cost); ties go to fewer settings on, then to the earlier one in this order
SETTINGS = sorted(itertools.product((False, True), repeat=3), key=lambda s: (sum(s), [not x for x in s]))
ADOPT_GAIN = 0.01  # the winner must add a point to the mean over the auxiliary tasks
ADOPT_WINS = 4  # and be at least level with ndtw on this many of the six


def hits(task, mirror: bool, per_joint: bool) -> np.ndarray:
    """Per-query 0/1 of calibrated DTW under the setting (the task's clips carry the view choice)."""
    from crossglg.baselines.dtw import Matching, class_distances
    from crossglg.vocab.layouts import get_layout

    layout = get_layout(task.layout)
    t = task.exemplars.shape[1]
    matching = Matching(joints=layout.num_joints if per_joint else 0, mirror=layout if mirror else None)
    classes, d = class_distances(task.queries.reshape(len(task.queries), t, -1),
                                 task.exemplars.reshape(len(task.exemplars), t, -1),
                                 task.classes, calibrated=True, matching=matching)  # fmt: skip
    return (classes[d.argmin(1)] == task.truth).astype(float)


def name(setting: tuple[bool, bool, bool]) -> str:
    on = [n for n, s in zip(("view", "mirror", "per-joint"), setting, strict=True) if s]
    return " + ".join(on) or "ndtw"


def main(argv: list[str] | None = None) -> None:
    from bench.text_at_test_time import TRANSFER, setup, split_tasks
    from crossglg.train.compare import paired_bootstrap

    out, splits, split_seed = setup(__doc__.splitlines()[0], argv)
    tasks = {view: {s: split_tasks(out, s, split_seed, view) for s in splits} for view in (False, True)}
    aux = {st: [float(hits(tasks[st[0]][s][0], st[1], st[2]).mean()) for s in splits] for st in SETTINGS}
    winner = max(SETTINGS, key=lambda st: (np.mean(aux[st]), -SETTINGS.index(st)))
    ref = SETTINGS[0]
    gain = float(np.mean(aux[winner]) - np.mean(aux[ref]))
    level = sum(a >= r for a, r in zip(aux[winner], aux[ref], strict=True))
    adopted = winner != ref and gain >= ADOPT_GAIN - 1e-12 and level >= ADOPT_WINS
    rows, diffs = [], []
    for split in splits:
        for (name_, ref_task), (_, task) in zip(
            tasks[False][split][1], tasks[winner[0]][split][1], strict=True
        ):
            base, new = hits(ref_task, False, False), hits(task, winner[1], winner[2])
            if name_ != TRANSFER:
                diffs.append(new - base)
            rows.append({"split": name_, "queries": len(base), "ndtw": float(base.mean()),
                         "winner": float(new.mean()), "winner - ndtw": paired_bootstrap([new - base])})  # fmt: skip
    doc = {"splits": splits, "auxiliary": {name(st): aux[st] for st in SETTINGS}, "winner": name(winner),
           "gain": gain, "level_or_above": level, "adopted": adopted, "rows": rows,
           "pooled": paired_bootstrap(diffs) if winner != ref else None}  # fmt: skip
    (out / "dtw_body_frame.json").write_text(json.dumps(doc, indent=1))
    print(markdown(doc))


def markdown(doc: dict) -> str:
    lines = [
        "| setting | " + " | ".join(doc["splits"]) + " | mean |",
        "|---|" + "---|" * (len(doc["splits"]) + 1),
    ]
    for setting, accs in doc["auxiliary"].items():
        lines.append(
            f"| {setting} | " + " | ".join(f"{100 * a:.1f}" for a in accs) + f" | {100 * np.mean(accs):.1f} |"
        )
    lines += ["", f"winner on the auxiliary tasks: {doc['winner']} ({100 * doc['gain']:+.1f} points, level or above "
              f"on {doc['level_or_above']} of {len(doc['splits'])}); adopted: {doc['adopted']}", ""]  # fmt: skip
    if doc["pooled"] is None:
        return "\n".join(lines)
    lines += ["| novel task | queries | ndtw | winner | winner − ndtw |", "|---|---|---|---|---|"]
    for r in doc["rows"]:
        m, lo, hi = r["winner - ndtw"]
        lines.append(f"| {r['split']} | {r['queries']} | {100 * r['ndtw']:.1f} | {100 * r['winner']:.1f} | "
                     f"{100 * m:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}] |")  # fmt: skip
    m, lo, hi = doc["pooled"]
    lines += ["", f"MSR splits pooled: winner − ndtw {100 * m:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))  # `python bench/dtw_body_frame.py` finds `bench`
    main()
