"""Model-free matcher settings on top of ``ndtw``: a Sakoe–Chiba band and velocity features.

Training-free, so each split's setting is chosen on its auxiliary classes run as a one-shot task
and its novel queries are evaluated once, beside today's ``ndtw`` (docs/RESULTS.md,
"Text at test time on joint DTW"). The JEANIE split's choice (made on a01–a10 only) is also
taken to MSR → UTKinect.

    python bench/dtw_settings.py --out runs/text-at-test --random-splits 5
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
BANDS = (None, 3, 6)  # frames of the 32 either side of the diagonal; None: free
VELOCITY = (0.0, 0.5, 1.0)


def features(x: np.ndarray, support: np.ndarray, g: float) -> np.ndarray:
    """[N, T, F]: positions, then g·s·(frame-to-frame change), s matching the two in size on the support."""
    n, t = x.shape[:2]
    flat = x.reshape(n, t, -1)
    if not g:
        return flat
    s_flat = support.reshape(len(support), t, -1)
    s_vel = np.diff(s_flat, axis=1, append=s_flat[:, -1:])
    scale = np.linalg.norm(s_flat, axis=-1).mean() / max(np.linalg.norm(s_vel, axis=-1).mean(), 1e-12)
    vel = np.diff(flat, axis=1, append=flat[:, -1:])
    return np.concatenate([flat, g * scale * vel], axis=-1)


def hits(task, band: int | None, g: float) -> np.ndarray:
    from crossglg.baselines.dtw import dtw_distances

    ex = features(task.exemplars, task.exemplars, g)
    d = dtw_distances(features(task.queries, task.exemplars, g), ex, band)
    scales = dtw_distances(ex, ex, band)
    off = ~np.eye(len(ex), dtype=bool)
    d = d / np.array([scales[c][off[c]].mean() for c in range(len(ex))])[None]
    return (task.classes[d.argmin(1)] == task.truth).astype(float)


def main(argv: list[str] | None = None) -> None:
    from bench.text_at_test_time import TRANSFER, setup, split_tasks
    from crossglg.train.compare import paired_bootstrap

    out, splits, split_seed = setup(__doc__.splitlines()[0], argv)
    grid = list(itertools.product(BANDS, VELOCITY))  # in order of preference on ties
    rows, diffs = [], []
    for split in splits:
        aux_task, tasks = split_tasks(out, split, split_seed)
        aux = [float(hits(aux_task, b, g).mean()) for b, g in grid]
        band, g = grid[int(np.argmax(aux))]  # argmax keeps the first of equal values
        for name, task in tasks:
            chosen, ref = hits(task, band, g), hits(task, None, 0.0)
            if name != TRANSFER:
                diffs.append(chosen - ref)
            rows.append({"split": name, "band": band, "velocity": g, "auxiliary": dict(zip(map(str, grid), aux, strict=True)),
                         "queries": len(ref), "ndtw": float(ref.mean()), "chosen": float(chosen.mean()),
                         "chosen - ndtw": paired_bootstrap([chosen - ref])})  # fmt: skip
    doc = {"rows": rows, "pooled": paired_bootstrap(diffs)}
    (out / "dtw_settings.json").write_text(json.dumps(doc, indent=1))
    lines = [
        "| split | band | velocity | queries | ndtw | chosen | chosen − ndtw |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        m, lo, hi = r["chosen - ndtw"]
        lines.append(f"| {r['split']} | {r['band'] or 'free'} | {r['velocity']} | {r['queries']} | "
                     f"{100 * r['ndtw']:.1f} | {100 * r['chosen']:.1f} | {100 * m:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}] |")  # fmt: skip
    m, lo, hi = doc["pooled"]
    lines += ["", f"MSR splits pooled: chosen − ndtw {100 * m:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"]
    print("\n".join(lines))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))  # `python bench/dtw_settings.py` finds `bench`
    main()
