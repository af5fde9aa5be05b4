"""Real-data experiments of docs/RESULTS.md: MSR Action3D one-shot and MSR → UTKinect transfer.

::

    OMP_NUM_THREADS=1 .venv/bin/python bench/results_msr.py --out runs/results
    OMP_NUM_THREADS=1 .venv/bin/python bench/results_msr.py --out runs/results --report-only

Every step is a real ``crossglg`` / ``crossglg-text`` command run as a subprocess (prepare,
generate, import, embed, baseline dtw, train, export), so the tables are what a user gets
from the same commands. The runner is resumable: a run whose ``summary.json`` exists is not
trained again, so a killed sweep continues where it stopped and ``--report-only`` rebuilds
the tables at any time from what has finished.

The recipe is sized for a shared 2-core CPU (``--epochs``, ``--width``, ``--frames``): it
compares conditions under one small budget, it does not reproduce the paper's numbers.

Cross-dataset: each MSR-trained model is exported (``crossglg export``) and its text-free
skeleton branch embeds UTKinect-Action3D (``utkinect-all10``: one exemplar per class, all 10
classes novel). UTKinect's Kinect-v1 joints are re-indexed into the MSR layout with
``Layout.mapping_to``; distribution calibration uses the MSR auxiliary statistics saved in
the export.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SMOLLM = "llamacpp:SmolLM2-135M-Instruct.Q4_1"
HANDWRITTEN = "import:handwritten"


@dataclass(frozen=True)
class Condition:
    """One row of the tables: a training variant and its ``crossglg train`` flags."""

    name: str
    label: str
    flags: tuple[str, ...]


CONDITIONS = (
    Condition("base", "base encoder (`--no-text`)", ("--no-text",)),
    Condition("smollm", "+CrossGLG, SmolLM2-135M text", ("--set", f"text_source={SMOLLM}")),
    Condition("handwritten", "+CrossGLG, hand-written text", ("--set", f"text_source={HANDWRITTEN}")),
)
ABLATION = (
    Condition(
        "jid-only",
        "JID only (global → local)",
        ("--set", f"text_source={HANDWRITTEN}", "--set", "model.use_l2g=false"),
    ),
    Condition(
        "l2g-only",
        "interaction only (local → global)",
        ("--set", f"text_source={HANDWRITTEN}", "--set", "model.use_jid=false"),
    ),
    Condition(
        "residual",
        "both, JID re-weighting w = 1 + V·k instead of V·k",
        ("--set", f"text_source={HANDWRITTEN}", "--set", 'model.jid.reweight="residual"'),
    ),
)


def crossglg(*args: str, cwd: Path, script: str = "crossglg.cli") -> str:
    """Run one real command in a fresh process; its stdout (JSON where asked) is returned."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    proc = subprocess.run(
        [sys.executable, "-m", script, *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{script} {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout


def text_command(*args: str, cwd: Path) -> str:
    return crossglg(*args, cwd=cwd, script="crossglg.textgen.cli")


def prepare(out: Path, data_root: Path) -> None:
    """Prepared caches of both datasets, the text cache and the DTW baselines (each once)."""
    for name, fmt, folder in (
        ("msr", "msr-action3d", "msr_action3d"),
        ("utk", "utkinect", "utkinect_action3d"),
    ):
        if not (out / "prepared" / name / "index.json").is_file():
            crossglg("data", "prepare", str(data_root / folder), "--format", fmt,
                     "--out", f"prepared/{name}", "--force", cwd=out)  # fmt: skip
    if not (out / "text.json").is_file():
        gen = text_command("generate", "--protocol", "msr-action3d", "--cache", "cache.db", "--json", cwd=out)
        hand = REPO / "examples" / "msr_action3d_handwritten.jsonl"
        text_command("import", str(hand), "--label", "handwritten", "--cache", "cache.db", cwd=out)
        emb = text_command("embed", "--cache", "cache.db", "--json", cwd=out)
        (out / "text.json").write_text(json.dumps({"generate": json.loads(gen), "embed": json.loads(emb)}))
    for name, data, protocol in (("msr", "msr", "msr-action3d"), ("utk", "utk", "utkinect-all10")):
        path = out / f"dtw_{name}.json"
        if not path.is_file():
            path.write_text(crossglg("baseline", "dtw", "--data", f"prepared/{data}",
                                     "--protocol", protocol, "--json", cwd=out))  # fmt: skip


def train_flags(args: argparse.Namespace) -> list[str]:
    """The CPU-sized recipe shared by every condition (only the text flags differ)."""
    steps = f"[{max(1, args.epochs * 2 // 3)},{max(2, args.epochs * 7 // 8)}]"
    return [
        "--data", "prepared/msr", "--protocol", "msr-action3d", "--text-cache", "cache.db",
        "--encoder", args.encoder, "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
        "--lr", str(args.lr), "--device", "cpu",
        "--set", f"frames={args.frames}", "--set", f"warmup_epochs={min(2, args.epochs - 1)}",
        "--set", f"lr_steps={steps}", "--set", f"model.encoder.base_channels={args.width}",
        # the defaults when docs/RESULTS.md's tables were measured (both changed since)
        "--set", "text_lr_mult=1", "--set", "model.jid.detach=false",
    ]  # fmt: skip


def run_one(out: Path, cond: Condition, seed: int, args: argparse.Namespace) -> dict:
    """Train (unless done), export, evaluate cross-dataset; returns the run's figures."""
    rel = f"runs/{cond.name}-s{seed}"
    run_dir = out / rel
    if not (run_dir / "summary.json").is_file():
        # a killed run resumes from its last finished epoch
        flags = ["--resume"] if (run_dir / "last.pt").is_file() else []
        crossglg("train", *train_flags(args), *cond.flags, "--seed", str(seed), "--out", rel, "--json",
                 *flags, cwd=out)  # fmt: skip
    summary = json.loads((run_dir / "summary.json").read_text())
    cross_path = run_dir / "cross_utk.json"
    if not cross_path.is_file():
        if not (run_dir / "export" / "export.json").is_file():
            crossglg("export", rel, "--json", cwd=out)
        cross_path.write_text(json.dumps(cross_dataset(run_dir / "export", out / "prepared" / "utk", seed)))
    cross = json.loads(cross_path.read_text())
    return {
        "cosine": summary["cosine"],
        "dc": summary["dc"],
        "utk_cosine": cross["cosine"],
        "utk_dc": cross["dc"],
    }


def cross_dataset(export_dir: Path, utk_dir: Path, seed: int) -> dict:
    """One-shot on all 10 UTKinect classes with an MSR-trained export (joints re-indexed)."""
    from crossglg.train.transfer import transfer_eval

    return transfer_eval(export_dir, utk_dir, "utkinect-all10", seed=seed)


def mean_std(values: list[float]) -> str:
    v = 100 * np.asarray(values, dtype=float)
    return f"{v.mean():.1f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.1f}"


def report(out: Path, args: argparse.Namespace) -> str:
    """Markdown tables from every finished run (mean ± sample std over seeds, n shown).

    The ablation table uses only the ablation seeds for every row, so its rows are paired.
    """
    runs: dict[str, dict[int, dict[str, float]]] = {}
    for cond in (*CONDITIONS, *ABLATION):
        for seed in range(1, 100):
            run_dir = out / "runs" / f"{cond.name}-s{seed}"
            if not (run_dir / "cross_utk.json").is_file():
                continue
            s = json.loads((run_dir / "summary.json").read_text())
            c = json.loads((run_dir / "cross_utk.json").read_text())
            runs.setdefault(cond.name, {})[seed] = {
                "cosine": s["cosine"], "dc": s["dc"], "utk_cosine": c["cosine"], "utk_dc": c["dc"],
            }  # fmt: skip
    dtw = {
        k: json.loads((out / f"dtw_{k}.json").read_text())
        for k in ("msr", "utk")
        if (out / f"dtw_{k}.json").is_file()
    }

    def table(conds, keys: tuple[str, str], dtw_key: str | None, max_seed: int = 99) -> list[str]:
        lines = ["| method | seeds | cosine (%) | DC (%) |", "|---|---|---|---|"]
        for cond in conds:
            got = [v for seed, v in sorted(runs.get(cond.name, {}).items()) if seed <= max_seed]
            if got:
                cos, dc = ([g[k] for g in got] for k in keys)
                lines.append(f"| {cond.label} | {len(got)} | {mean_std(cos)} | {mean_std(dc)} |")
        if dtw_key and dtw_key in dtw:
            acc = 100 * dtw[dtw_key]["accuracy"]
            lines.append(f"| DTW nearest exemplar (no training) | — | {acc:.1f} | — |")
        return lines

    ablation = (CONDITIONS[0], *ABLATION[:2], CONDITIONS[2], *ABLATION[2:])
    parts = ["### MSR Action3D one-shot (10 novel classes, 279 queries)", "",
             *table(CONDITIONS, ("cosine", "dc"), "msr"), "",
             "### Cross-dataset: trained on MSR auxiliary classes, one-shot on UTKinect's 10 classes (189 queries)", "",
             *table(CONDITIONS, ("utk_cosine", "utk_dc"), "utk"), "",
             f"### Ablation of the guidance directions (hand-written text, MSR one-shot, seeds 1–{args.ablation_seeds})", "",
             *table(ablation, ("cosine", "dc"), None, args.ablation_seeds), ""]  # fmt: skip
    text = "\n".join(parts)
    (out / "results.md").write_text(text)
    (out / "results.json").write_text(
        json.dumps({"runs": runs, "dtw": dtw, "recipe": train_flags(args)}, indent=1)
    )
    return text


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("runs/results"), help="working folder (resumable)")
    p.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data")
    p.add_argument("--seeds", type=int, default=5, help="seeds 1..N for base and +CrossGLG")
    p.add_argument("--ablation-seeds", type=int, default=3, help="seeds 1..N for the ablation rows")
    p.add_argument(
        "--first-seed", type=int, default=1, help="start at this seed (to split a sweep over processes)"
    )
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--width", type=int, default=16, help="encoder base channels (paper: 64)")
    p.add_argument("--frames", type=int, default=32, help="frames per sample (paper: 64)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--encoder", default="infogcn")
    p.add_argument("--report-only", action="store_true", help="only rebuild the tables from finished runs")
    names = [c.name for c in (*CONDITIONS, *ABLATION)]
    p.add_argument("--only", action="append", choices=names, help="run only these conditions (repeatable)")
    args = p.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        prepare(out, args.data_root.resolve())
        # the main comparison first, seed-major, so every finished seed is a complete row set
        plan = [(c, s) for s in range(args.first_seed, args.seeds + 1) for c in CONDITIONS]
        plan += [(c, s) for s in range(args.first_seed, args.ablation_seeds + 1) for c in ABLATION]
        if args.only:
            plan = [(c, s) for c, s in plan if c.name in args.only]
        for cond, seed in plan:
            print(cond.name, seed, run_one(out, cond, seed, args), flush=True)
    print(report(out, args))


if __name__ == "__main__":
    main()
