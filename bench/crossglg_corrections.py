"""MSR Action3D: the CrossGLG corrections against the base encoder, the spec's form and the controls.

::

    OMP_NUM_THREADS=1 .venv/bin/python bench/crossglg_corrections.py --out runs/msr --only corrected --seeds 1 2 3
    OMP_NUM_THREADS=1 .venv/bin/python bench/crossglg_corrections.py --out runs/msr --protocol holdout --only old
    .venv/bin/python bench/crossglg_corrections.py --out runs/msr --report corrected base

Every run is the real ``crossglg train`` command under ``--config cpu-small`` with the
hand-written text; conditions differ only in their ``--set`` flags (:data:`CONDITIONS`). The
``holdout`` protocol trains on seven of the ten auxiliary classes and evaluates one-shot on
the other three (:data:`HOLDOUT`): that is where a form is chosen, since MSR has no validation
classes and the novel queries must not pick the recipe. Runs whose ``summary.json`` exists
are not repeated. ``--report A B`` prints the paired difference A − B over the seeds both
have, with a 95 % interval from a bootstrap over seeds and, within each seed, over queries
(resampled per class from the confusion matrices, so the interval does not use the pairing of
queries and is wider than a paired one). The data directory ``OUT/prepared/msr`` and the text
cache ``OUT/cache.db`` (hand-written text imported and embedded, docs/RESULTS.md) must exist.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

HANDWRITTEN = "import:handwritten"
CORRECTED = (
    "--set", 'model.jid.reweight="bounded"', "--set", "model.jid.target_smoothing=0.5",
    "--set", 'model.l2g.form="gather"', "--set", 'model.head_input="l2"',
)  # fmt: skip
CONDITIONS: dict[str, tuple[str, ...]] = {
    "base": ("--no-text",),
    "base-l2": ("--no-text", "--set", 'model.head_input="l2"'),
    "old": (),  # the defaults before the corrections (detached JID, w = V·k, text-residual L2G)
    "corrected": CORRECTED,
    "corrected-l2g": (*CORRECTED, "--set", "model.use_jid=false"),
    "shuffled": (*CORRECTED, "--set", "text_control=shuffled"),
    "uniform-kgt": (*CORRECTED, "--set", "text_control=uniform-kgt"),
}
HOLDOUT_OUT = (2, 6, 10)  # horizontal arm wave, high throw, hand clap: one-shot on these
HOLDOUT = {
    "name": "msr-holdout-2-6-10",
    "dataset": "msr-action3d",
    "description": "MSR Action3D auxiliary classes only: 7 train, 3 held out one-shot (exemplar s01_e01)",
    "base_classes": [c for c in range(1, 11) if c not in HOLDOUT_OUT],
    "novel_classes": list(HOLDOUT_OUT),
    "exemplar_pattern": "a{class_id:02d}_s01_e01",
}


def protocol_arg(out: Path, name: str) -> str:
    if name != "holdout":
        return name
    import tomli_w

    path = out / "holdout.toml"
    path.write_text(tomli_w.dumps(HOLDOUT))
    return str(path.name)


def train(out: Path, protocol: str, cond: str, seed: int) -> Path:
    rel = Path("runs") / protocol.removesuffix(".toml") / f"{cond}-s{seed}"
    if (out / rel / "summary.json").is_file():
        return out / rel
    resume = ["--resume"] if (out / rel / "last.pt").is_file() else []
    cmd = [
        sys.executable, "-m", "crossglg.cli", "train", "--config", "cpu-small", "--data", "prepared/msr",
        "--protocol", protocol, "--encoder", "infogcn", "--device", "cpu", "--seed", str(seed),
        "--out", str(rel), "--json", *resume,
    ]  # fmt: skip
    if "--no-text" not in CONDITIONS[cond]:
        cmd += ["--text-cache", "cache.db", "--set", f"text_source={HANDWRITTEN}"]
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    log = out / "logs" / f"{rel.parent.name}_{rel.name}.log"
    log.parent.mkdir(exist_ok=True)
    with log.open("w") as fh:
        subprocess.run([*cmd, *CONDITIONS[cond]], cwd=out, env=env, stdout=fh, stderr=fh, check=True)
    return out / rel


def per_class(run: Path, classifier: str = "cosine") -> list[tuple[int, int]]:
    """(correct, total) per class of a finished run's novel-class evaluation."""
    doc = json.loads((run / "eval" / "results.json").read_text())
    conf = np.asarray(doc["classifiers"][classifier]["confusion"])
    return [(int(conf[i, i]), int(conf[i].sum())) for i in range(len(conf))]


def accuracy(counts: list[tuple[int, int]]) -> float:
    return sum(c for c, _ in counts) / sum(t for _, t in counts)


def resample(counts: list[tuple[int, int]], rng: np.random.Generator) -> float:
    return sum(rng.binomial(t, c / t) for c, t in counts) / sum(t for _, t in counts)


def paired_report(out: Path, protocol: str, a: str, b: str, classifier: str, draws: int = 4000) -> dict:
    """Mean paired difference A − B (points) over shared seeds, with a seed × query bootstrap interval."""
    root = out / "runs" / protocol.removesuffix(".toml")
    seeds = sorted(
        int(p.name.rsplit("-s", 1)[1])
        for p in root.glob(f"{a}-s*")
        if (p / "summary.json").is_file()
        and (root / f"{b}-s{p.name.rsplit('-s', 1)[1]}" / "summary.json").is_file()
    )
    if not seeds:
        return {"a": a, "b": b, "seeds": []}
    ca = [per_class(root / f"{a}-s{s}", classifier) for s in seeds]
    cb = [per_class(root / f"{b}-s{s}", classifier) for s in seeds]
    diffs = [100 * (accuracy(x) - accuracy(y)) for x, y in zip(ca, cb, strict=True)]
    rng = np.random.default_rng(0)
    boot = []
    for _ in range(draws):
        pick = rng.integers(0, len(seeds), len(seeds))
        boot.append(100 * np.mean([resample(ca[i], rng) - resample(cb[i], rng) for i in pick]))
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return {
        "a": a, "b": b, "classifier": classifier, "seeds": seeds,
        "a_per_seed": [round(100 * accuracy(x), 1) for x in ca],
        "b_per_seed": [round(100 * accuracy(y), 1) for y in cb],
        "diff_per_seed": [round(d, 1) for d in diffs],
        "mean_diff": round(float(np.mean(diffs)), 2), "ci95": [round(float(lo), 2), round(float(hi), 2)],
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--protocol", default="msr-action3d", help="msr-action3d, or holdout (auxiliary classes only)"
    )
    ap.add_argument("--only", action="append", choices=sorted(CONDITIONS), default=[])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--report", nargs=2, metavar=("A", "B"), help="print the paired difference A − B")
    ap.add_argument("--classifier", default="cosine", choices=["cosine", "dc"])
    args = ap.parse_args()
    out = args.out.resolve()
    protocol = protocol_arg(out, args.protocol)
    if args.report:
        print(json.dumps(paired_report(out, protocol, *args.report, args.classifier)))
        return
    for seed in args.seeds:
        for cond in args.only:
            run = train(out, protocol, cond, seed)
            summary = json.loads((run / "summary.json").read_text())
            print(
                f"{cond} seed {seed}: cosine {100 * summary['cosine']:.1f}  dc {100 * summary['dc']:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
