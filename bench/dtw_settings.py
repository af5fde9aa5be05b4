"""Model-free matcher settings on top of ``ndtw``: a Sakoe–Chiba band and velocity features.

Training-free, so each split's setting is chosen on its auxiliary classes run as a one-shot task
and its novel queries are evaluated once, beside today's ``ndtw`` (docs/RESULTS.md, "Calibrated
DTW and the fusion weight"). The JEANIE split's choice (made on a01–a10 only) is also taken to
MSR → UTKinect.

    python bench/dtw_settings.py --out runs/text-at-test --random-splits 5
"""

from __future__ import annotations

import argparse
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
    from bench.oneshot_eval import JEANIE, paired_bootstrap, prepare_data, protocol_of
    from bench.real_data import data_root
    from bench.text_at_test_time import auxiliary_protocol, task_of

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("runs/text-at-test"), help="working folder")
    p.add_argument("--data-root", type=Path, default=data_root(), help="where msr_action3d/ etc. are")
    p.add_argument("--random-splits", type=int, default=5, help="random 10/10 class splits besides JEANIE")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the random class splits")
    args = p.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    prepare_data(out, args.data_root.resolve(), transfer=True)
    grid = list(itertools.product(BANDS, VELOCITY))  # in order of preference on ties
    rows, diffs = [], []
    for split in [JEANIE] + [f"rand{i}" for i in range(1, args.random_splits + 1)]:
        novel = out / protocol_of(out, split, args.split_seed) if split != JEANIE else None
        aux_task = task_of(
            out / "prepared" / "msr", str(auxiliary_protocol(out, split, novel)), "msr-action3d"
        )
        aux = [float(hits(aux_task, b, g).mean()) for b, g in grid]
        band, g = grid[int(np.argmax(aux))]  # argmax keeps the first of equal values
        tasks = [(split, task_of(out / "prepared" / "msr", str(novel or "msr-action3d"), "msr-action3d"))]
        if split == JEANIE:
            tasks.append(("MSR → UTKinect", task_of(out / "prepared" / "utk", "utkinect-all10", "utkinect")))
        for name, task in tasks:
            chosen, ref = hits(task, band, g), hits(task, None, 0.0)
            if name != "MSR → UTKinect":
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
