"""Honest one-shot evaluation on MSR Action3D: paired seeds, random class splits, every read-out.

::

    OMP_NUM_THREADS=1 .venv/bin/python bench/oneshot_eval.py --out runs/oneshot --seeds 8 --jobs 2
    OMP_NUM_THREADS=1 .venv/bin/python bench/oneshot_eval.py --out runs/oneshot --random-splits 5 --seeds 2
    OMP_NUM_THREADS=1 .venv/bin/python bench/oneshot_eval.py --out runs/oneshot --report-only --docs docs/RESULTS.md
    OMP_NUM_THREADS=1 .venv/bin/python bench/oneshot_eval.py --out runs/msr --holdout --condition corrected --seeds 3
    .venv/bin/python bench/oneshot_eval.py --out runs/msr --report-only --against crossglg
    .venv/bin/python bench/oneshot_eval.py --out runs/oneshot --seeds 3 --condition base --condition motion \
        --add-condition 'motion=--no-text --set input_stream=motion' --ensemble 'jm=base,motion' \
        --ensemble 'two=base,base+1' --condition jm --condition two --against two
    .venv/bin/python bench/oneshot_eval.py --curves runs/search/A-f0 runs/search/B-f0

Every step is a real command in its own process (``crossglg data prepare``, ``crossglg-text
import`` / ``embed``, ``crossglg train``, ``crossglg eval --classifier all``, ``crossglg
export``, ``crossglg transfer``), so the tables are what a user gets from the same commands.

- **Splits**: ``jeanie`` is the published split (``--protocol msr-action3d``: a01–a10
  auxiliary, a11–a20 novel). ``--random-splits N`` adds N random 10/10 cuts of MSR's 20
  classes, each written as a protocol file ``OUT/protocols/randI.toml`` (exemplar: each novel
  class's ``s01_e01`` sample), so that leg and whole-body actions also appear among the
  auxiliary classes.
- **Conditions** are a recipe file and text flags (``CONDITIONS`` below: adding one is one line,
  plus a small ``bench/recipes/*.toml`` that ``extends`` another when the recipe changes), or
  given on the command line with ``--add-condition 'NAME=FLAGS'``. Every condition runs under the
  same recipe (``RECIPE``) and the same seeds, so runs pair up by (split, seed).
- **Resumable**: each finished run leaves ``OUT/results/SPLIT/CONDITION-sSEED.json`` (every
  read-out's accuracy, per-class accuracy and per-query predictions); a run with a result file
  is never trained again (one measured with older read-outs is evaluated, exported and
  transferred again: ``stale``), a killed training resumes from its last epoch, and
  ``--report-only`` rebuilds the report from whatever has finished.
- **Ensembles** (``--ensemble 'NAME=COND,COND+1'``): a row whose run at seed s is the ensemble of
  finished trainings, each member a condition at seed s plus an offset (``base+1``: the base run
  of seed s + 1), so that stream ensembles pair with seed ensembles of their size. It is
  evaluated by ``crossglg eval MEMBER…`` (and on the jeanie split ``crossglg transfer EXPORT…``),
  never trained; naming it with ``--condition`` reports it like any condition, ``--against`` too.
- **Report** (``OUT/report.md``, ``report.json``, ``report.png``): accuracy per condition and
  read-out (mean ± sample std over runs), the paired difference of each condition against
  ``base`` with a 95 % bootstrap interval over runs × queries, per-class accuracy, and the
  MSR → UTKinect transfer of the jeanie runs. ``--docs docs/RESULTS.md`` pastes the markdown
  between that file's ``oneshot_eval`` markers. ``--against NAME`` pairs every condition
  with ``NAME`` instead of ``base`` (e.g. ``corrected`` against the uncorrected ``crossglg``,
  or the ``cpu-msr`` recipe against ``legacy``).
- **Choosing on held-out auxiliary classes**: MSR has no validation classes and the novel
  queries must not pick a recipe or a form, so ``--holdout`` runs the conditions on the split
  ``holdout`` instead (seven auxiliary classes trained, three evaluated one-shot:
  :data:`HOLDOUT_FOLDS`; the novel classes a11–a20 are not in its protocol at all), and its
  report holds only those runs. ``--holdout 3`` runs all three folds, so that nine of the ten
  auxiliary classes are held out once (one fold of 80 queries is near its ceiling).
  All ten JEANIE auxiliary classes are arm gestures; ``--random-holdout N`` gives folds with
  legs and whole-body actions: ``randI-held`` trains 7 of random split I's auxiliary classes
  and holds out the other 3 (:func:`random_holdout`), never naming one of its novel classes.
  ``--curves RUN...`` summarises the validation curves (``metrics.json`` only, never
  ``eval/``) of runs trained with ``holdout_classes`` and ``evaluate_novel = false``
  (docs/TRAINING.md, "Choosing a recipe").

Nothing here chooses anything on the novel queries: the recipe, the read-outs and the fusion
weight are fixed before a run starts (docs/TRAINING.md, "Read-outs").
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crossglg.outputs import write_whole
from crossglg.train.compare import correct, paired_bootstrap
from crossglg.train.oneshot import FUSION_WEIGHT

REPO = Path(__file__).resolve().parent.parent
READOUTS = ("cosine", "dc", "cl2n", "fdtw", "jfdtw", "dtw", "ndtw", "fused")
RECIPE = ("--encoder", "infogcn", "--config", "cpu-small", "--device", "cpu")
JEANIE = "jeanie"
HOLDOUT = "holdout"
# the held-out folds of the JEANIE auxiliary classes: each trains on the other seven and is
# evaluated one-shot on these three (every one an arm gesture, as all ten are)
HOLDOUT_FOLDS = {
    HOLDOUT: (2, 6, 10),  # horizontal arm wave, high throw, hand clap
    "holdout2": (1, 5, 8),  # high arm wave, forward punch, draw tick
    "holdout3": (3, 4, 9),  # hammer, hand catch, draw circle
}
MSR_CLASSES = 20
# "randI-held": random split I's auxiliary classes only, 7 trained and 3 held out one-shot
# (``--random-holdout``), so that choices can be made on folds that include legs and whole-body actions
HELD = "-held"
HELD_PER_FOLD = 3


@dataclass(frozen=True)
class Condition:
    """One row of the tables: a training variant, its recipe file and its ``crossglg train`` flags.

    ``config`` is a shipped config name or a file of ``bench/recipes/`` (``extends`` another, so
    each holds only what it changes); it replaces RECIPE's ``cpu-small``. ``flags`` choose the text.
    """

    label: str
    flags: tuple[str, ...]
    config: str = ""

    def train_args(self) -> tuple[str, ...]:
        if not self.config:
            return self.flags
        local = REPO / "bench" / "recipes" / f"{self.config}.toml"
        return ("--config", str(local) if local.is_file() else self.config, *self.flags)


@dataclass(frozen=True)
class Ensemble:
    """A row made of finished runs: ``members`` are (condition, seed offset) pairs (``--ensemble``)."""

    label: str
    members: tuple[tuple[str, int], ...]

    def runs(self, seed: int) -> list[tuple[str, int]]:
        return [(cond, seed + k) for cond, k in self.members]


# the cache holds the hand-written MSR text (examples/, auxiliary classes only) and the curated
# pack (every class), so a text condition names its source
HANDWRITTEN = ("--text-cache", "cache.db", "--set", "text_source=import:handwritten")
PACK = ("--text-cache", "cache.db", "--set", "text_source=pack:msr-action3d@1")
# what the embedded SmolLM2-135M wrote for the auxiliary classes (mostly degenerate: kept whole)
SMOLLM2 = ("--text-cache", "cache.db", "--set", "text_source=llamacpp:SmolLM2-135M-Instruct.Q4_1")
CONDITIONS = {
    "base": Condition("base encoder (`--no-text`)", ("--no-text",)),
    "crossglg": Condition("+CrossGLG, hand-written text", HANDWRITTEN),
    "pack": Condition("+CrossGLG, curated pack text", PACK),
    "pack-shuffled": Condition(
        "+CrossGLG, pack text of another class (control)", (*PACK, "--set", "text_control=shuffled")
    ),
    "smollm2": Condition("+CrossGLG, embedded SmolLM2-135M text", SMOLLM2),
    "base-l2": Condition("base encoder, L2 head input", ("--no-text",), "cpu-small-l2"),
    "corrected": Condition("+CrossGLG corrected", HANDWRITTEN, "corrected"),
    "corrected-l2g": Condition("+CrossGLG corrected, L2G only", HANDWRITTEN, "corrected-l2g"),
    "shuffled": Condition("corrected, shuffled text (control)", HANDWRITTEN, "corrected-shuffled"),
    "uniform-kgt": Condition("corrected, uniform k_gt (control)", HANDWRITTEN, "corrected-uniform-kgt"),
    "corrected-pack": Condition("+CrossGLG corrected, curated pack text", PACK, "corrected"),
    "corrected-pack-shuffled": Condition(
        "corrected, pack text of another class (control)", PACK, "corrected-shuffled"
    ),
    "relation-pack": Condition("text-relation targets, curated pack text", PACK, "relation"),
    "relation-pack-shuffled": Condition(
        "text-relation targets, pack text of another class (control)", PACK, "relation-shuffled"
    ),
    "margin-pack": Condition("text-scaled margins, curated pack text", PACK, "margin"),
    "margin-pack-shuffled": Condition(
        "text-scaled margins, pack text of another class (control)", PACK, "margin-shuffled"
    ),
    "base-align1": Condition(
        "base encoder, aligned term w 1.0", ("--no-text", "--set", "model.loss.w_align=1.0")
    ),
    "align-text-pack": Condition("aligned term, joints weighted by curated pack text", PACK, "align-text"),
    "align-text-pack-shuffled": Condition(
        "aligned term, joints weighted by another class's pack text (control)", PACK, "align-text-shuffled"
    ),
    "base-ls0": Condition(
        "base encoder, no label smoothing", ("--no-text", "--set", "model.loss.label_smoothing=0")
    ),
    "base-smooth": Condition(
        "base encoder, uniform label smoothing 0.3 (control)",
        ("--no-text", "--set", "model.loss.label_smoothing=0.3"),
    ),
    "base-depth2": Condition("base encoder, two blocks", ("--no-text", "--set", "model.encoder.depth=2")),
    "base-depth3": Condition("base encoder, three blocks", ("--no-text", "--set", "model.encoder.depth=3")),
    "dep3-pack": Condition(
        "+CrossGLG corrected on three blocks, curated pack text", PACK, "corrected-depth3"
    ),
    "dep3-pack-shuffled": Condition(
        "corrected on three blocks, pack text of another class (control)", PACK, "corrected-depth3-shuffled"
    ),
    "stgcn-depth3": Condition(
        "base encoder, ST-GCN's first three blocks",
        ("--no-text", "--encoder", "stgcn", "--set", "model.encoder.depth=3"),
    ),
    "stg3-pack": Condition(
        "+CrossGLG corrected on ST-GCN's three blocks, curated pack text",
        (*PACK, "--encoder", "stgcn"),
        "corrected-depth3",
    ),
    "stg3-pack-shuffled": Condition(
        "corrected on ST-GCN's three blocks, pack text of another class (control)",
        (*PACK, "--encoder", "stgcn"),
        "corrected-depth3-shuffled",
    ),
    "cpu-msr": Condition("base encoder, `--config cpu-msr`", ("--no-text",), "cpu-msr"),
    "legacy": Condition("base encoder, `--config cpu-small-legacy`", ("--no-text",), "cpu-small-legacy"),
}
DEFAULT = ("base", "crossglg")  # what runs without --condition: the tables of docs/RESULTS.md


def command(*args: str, cwd: Path, script: str = "crossglg.cli") -> str:
    """Run one real command in a fresh process; its stdout (JSON where asked) is returned."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    proc = subprocess.run(
        [sys.executable, "-m", script, *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{script} {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout


def prepare_data(out: Path, data_root: Path, transfer: bool) -> None:
    """Prepared MSR (and UTKinect) data in ``out/prepared``, made once."""
    sets = [("msr", "msr-action3d", "msr_action3d")] + ([("utk", "utkinect", "utkinect_action3d")] * transfer)
    for name, fmt, folder in sets:
        if not (out / "prepared" / name / "index.json").is_file():
            command("data", "prepare", str(data_root / folder), "--format", fmt,
                    "--out", f"prepared/{name}", "--force", cwd=out)  # fmt: skip


def prepare(out: Path, data_root: Path, transfer: bool) -> None:
    """Prepared data and the embedded texts (hand-written file, curated pack, SmolLM2), made once."""
    prepare_data(out, data_root, transfer)
    if not (out / "text.json").is_file():
        hand = REPO / "examples" / "msr_action3d_handwritten.jsonl"
        text = "crossglg.text_cli"
        command("import", str(hand), "--label", "handwritten", "--cache", "cache.db", cwd=out, script=text)
        command("import", "--pack", "msr-action3d", "--cache", "cache.db", cwd=out, script=text)
        command("generate", "--protocol", "msr-action3d", "--accept-degenerate", "--cache", "cache.db",
                cwd=out, script=text)  # fmt: skip
        emb = command("embed", "--cache", "cache.db", "--json", cwd=out, script=text)
        write_whole(out / "text.json", emb, "embedding summary")


def random_split(index: int, split_seed: int) -> list[int]:
    """The novel classes of random split ``index``: 10 of MSR's 20, reproducible from the seeds."""
    rng = np.random.default_rng([split_seed, index])
    return sorted(int(c) for c in rng.choice(np.arange(1, MSR_CLASSES + 1), MSR_CLASSES // 2, replace=False))


def random_holdout(index: int, split_seed: int) -> tuple[list[int], list[int]]:
    """(trained, held out) classes of fold ``randI-held``: random split I's auxiliary classes only."""
    auxiliary = sorted(set(range(1, MSR_CLASSES + 1)) - set(random_split(index, split_seed)))
    rng = np.random.default_rng([split_seed, index, 1])
    held = sorted(int(c) for c in rng.choice(auxiliary, HELD_PER_FOLD, replace=False))
    return [c for c in auxiliary if c not in held], held


def is_holdout(split: str) -> bool:
    """Whether a split evaluates held-out auxiliary classes (for choosing), not novel ones."""
    return split in HOLDOUT_FOLDS or split.endswith(HELD)


EXEMPLAR = 'exemplar_pattern = "a{class_id:02d}_s01_e01"\n'
ZERO_SAMPLE = 'exclude_samples = ["a13_s09_e02"]  # all zeros\n'


def protocol_of(out: Path, split: str, split_seed: int) -> str:
    """``msr-action3d`` for the JEANIE split; otherwise a protocol file written on first use."""
    if split == JEANIE:
        return "msr-action3d"
    path = out / "protocols" / f"{split}.toml"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f'name = "msr-{split}"\ndataset = "msr-action3d"\n' + _protocol_classes(split, split_seed)
        )
    return str(path.relative_to(out))


def _protocol_classes(split: str, split_seed: int) -> str:
    """The lines of a split's protocol file that say which classes it trains and tests."""
    if split in HOLDOUT_FOLDS:
        held = list(HOLDOUT_FOLDS[split])
        base = [c for c in range(1, MSR_CLASSES // 2 + 1) if c not in held]
        return (
            'description = "MSR Action3D auxiliary classes only: 7 trained, 3 held out one-shot"\n'
            f"base_classes = {base}\nnovel_classes = {held}\n{EXEMPLAR}"
        )
    if split.endswith(HELD):
        base, held = random_holdout(int(split.removeprefix("rand").removesuffix(HELD)), split_seed)
        return (
            f'description = "auxiliary classes of {split.removesuffix(HELD)}: 7 trained, 3 held out one-shot"\n'
            f"base_classes = {base}\nnovel_classes = {held}\n{EXEMPLAR}{ZERO_SAMPLE}"
        )
    novel = random_split(int(split.removeprefix("rand")), split_seed)
    return (
        f'description = "MSR Action3D, random 10/10 class split {split} (bench/oneshot_eval.py)"\n'
        f"num_classes = {MSR_CLASSES}\nnovel_classes = {novel}\n{EXEMPLAR}{ZERO_SAMPLE}"
    )


def stale(doc: dict) -> bool:
    """A result measured with other read-outs or another fusion weight than today's code has.

    Such a run is evaluated, exported and transferred again from its trained model; training
    is never redone. This is how results of earlier sessions gain a read-out added later.
    """
    measured = [doc["eval"]] + ([doc["transfer_utk"]] if "transfer_utk" in doc else [])
    return any(
        m["fusion_weight"] != FUSION_WEIGHT or set(READOUTS) - set(m.get("classifiers", m)) for m in measured
    )


def run_one(out: Path, split: str, cond: str, seed: int, args: argparse.Namespace, conditions: dict) -> Path:
    """Train (unless done), evaluate every read-out, transfer; write the run's result file."""
    result = out / "results" / split / f"{cond}-s{seed}.json"
    rel = f"runs/{split}/{cond}-s{seed}"
    run_dir = out / rel
    if result.is_file():
        if not (stale(json.loads(result.read_text())) and (run_dir / "summary.json").is_file()):
            return result
        # evaluated and exported again: an older export lacks what newer read-outs need
        (run_dir / "readouts" / "results.json").unlink(missing_ok=True)
        (run_dir / "export" / "export.json").unlink(missing_ok=True)
    if not (run_dir / "summary.json").is_file():
        resume = ["--resume"] if (run_dir / "last.pt").is_file() else []
        command("train", "--data", "prepared/msr", "--protocol", protocol_of(out, split, args.split_seed),
                *RECIPE, *conditions[cond].train_args(), "--seed", str(seed), "--out", rel, "--json", *resume,
                cwd=out)  # fmt: skip
    readouts = run_dir / "readouts" / "results.json"
    if not readouts.is_file():
        command("eval", rel, "--classifier", "all", "--out", f"{rel}/readouts", "--device", "cpu", cwd=out)
    doc = {"split": split, "condition": cond, "seed": seed, "flags": list(conditions[cond].flags)}
    doc["config"] = conditions[cond].config or "cpu-small"
    doc["eval"] = json.loads(readouts.read_text())
    return _finish(out, result, doc, [rel], args)


def run_ensemble(
    out: Path, split: str, name: str, ens: Ensemble, seed: int, args: argparse.Namespace
) -> Path | None:
    """Evaluate (and transfer) the ensemble of finished runs; None while a member is unfinished."""
    result = out / "results" / split / f"{name}-s{seed}.json"
    if result.is_file() and not stale(json.loads(result.read_text())):
        return result
    members = ens.runs(seed)
    if not all((out / "results" / split / f"{c}-s{k}.json").is_file() for c, k in members):
        return None
    rels = [f"runs/{split}/{c}-s{k}" for c, k in members]
    rel = f"runs/{split}/{name}-s{seed}"
    readouts = out / rel / "results.json"
    if result.is_file():  # stale: evaluated again with today's read-outs
        readouts.unlink(missing_ok=True)
        for member in rels:
            (out / member / "export" / "export.json").unlink(missing_ok=True)
    if not readouts.is_file():
        command("eval", *rels, "--classifier", "all", "--out", rel, "--device", "cpu", cwd=out)
    doc = {
        "split": split,
        "condition": name,
        "seed": seed,
        "members": rels,
        "eval": json.loads(readouts.read_text()),
    }
    return _finish(out, result, doc, rels, args)


def _finish(out: Path, result: Path, doc: dict, rels: list[str], args: argparse.Namespace) -> Path:
    """Add the MSR → UTKinect transfer of the run (or of its members, one ensemble) on the jeanie
    split, then write the result file atomically."""
    if args.transfer and doc["split"] == JEANIE:
        for rel in rels:
            if not (out / rel / "export" / "export.json").is_file():
                command("export", rel, "--json", cwd=out)
        utk = ("--data", "prepared/utk", "--protocol", "utkinect-all10", "--classifier", "all")
        exports = [f"{rel}/export" for rel in rels]
        doc["transfer_utk"] = json.loads(
            command("transfer", *exports, *utk, "--seed", str(doc["seed"]), "--json", cwd=out)
        )
    result.parent.mkdir(parents=True, exist_ok=True)
    write_whole(result, json.dumps(doc, indent=1), "result")
    return result


# ---------------------------------------------------------------- report


def load_results(out: Path, holdout: bool = False) -> list[dict]:
    """The finished runs: those of the held-out split, or all the others; never both in one report."""
    docs = [json.loads(p.read_text()) for p in sorted((out / "results").glob("*/*.json"))]
    return [d for d in docs if is_holdout(d["split"]) == holdout]


def curves(runs: list[Path]) -> list[dict]:
    """Per held-out-fold run: final-epoch, last-three-epoch mean and best validation accuracy.

    Reads ``metrics.json`` only, never ``eval/``, so a recipe search cannot see the novel classes.
    """
    rows = []
    for run in runs:
        path = run / "metrics.json"
        if not path.is_file():
            raise SystemExit(f"{path}: no such file (a run trained with holdout_classes)")
        val = [row["val_cosine"] for row in json.loads(path.read_text()) if "val_cosine" in row]
        if not val:
            raise SystemExit(f"{path}: no val_cosine (was holdout_classes set?)")
        best = int(np.argmax(val))
        rows.append({"run": str(run), "epochs": len(val), "final": val[-1], "last3": float(np.mean(val[-3:])),
                     "best": val[best], "best_epoch": best + 1})  # fmt: skip
    return rows


def mean_std(values: list[float]) -> str:
    """Percent, mean ± sample std; a single run has no spread to show."""
    v = 100 * np.asarray(values, dtype=float)
    return f"{v.mean():.1f} ± {v.std(ddof=1):.1f}" if len(v) > 1 else f"{v.mean():.1f}"


def summarise(results: list[dict], conditions: dict, against: str = "base") -> dict:
    """Every number the report shows, as plain data (also written as report.json).

    Each condition is paired with ``against`` (the reference) run by run.
    """
    by: dict[str, dict[tuple[str, int], dict]] = {}
    for doc in results:
        by.setdefault(doc["condition"], {})[(doc["split"], doc["seed"])] = doc
    names = [c for c in conditions if c in by] + sorted(set(by) - set(conditions))
    summary: dict = {"against": against, "conditions": {}, "paired": {}, "per_class": {}, "transfer_utk": {},
                     "class_names": {}}  # fmt: skip
    for cond in names:
        runs = by[cond]
        summary["conditions"][cond] = {
            "label": conditions[cond].label if cond in conditions else cond,
            "runs": sorted(f"{s}-s{seed}" for s, seed in runs),
            "accuracy": {r: [runs[k]["eval"]["classifiers"][r]["accuracy"] for k in sorted(runs)] for r in READOUTS},
        }  # fmt: skip
        per_class: dict[str, dict[str, list[float]]] = {}
        for k in sorted(runs):
            ev = runs[k]["eval"]
            summary["class_names"].update(ev["classes"])
            for r in READOUTS:
                for c, acc in ev["classifiers"][r]["per_class"].items():
                    per_class.setdefault(r, {}).setdefault(c, []).append(acc)
        summary["per_class"][cond] = {
            r: {c: float(np.mean(v)) for c, v in sorted(pc.items(), key=lambda kv: int(kv[0]))}
            for r, pc in per_class.items()
        }
        utk = [runs[k]["transfer_utk"] for k in sorted(runs) if "transfer_utk" in runs[k]]
        if utk:
            summary["transfer_utk"][cond] = {r: [t[r] for t in utk if r in t] for r in READOUTS}
        if cond != against and against in by:
            pairs = sorted(set(runs) & set(by[against]))
            if not pairs:
                continue
            summary["paired"][cond] = {"pairs": [f"{s}-s{seed}" for s, seed in pairs]}
            for r in READOUTS:
                diffs = [correct(runs[k]["eval"], r) - correct(by[against][k]["eval"], r) for k in pairs]
                point, lo, hi = paired_bootstrap(diffs)
                wins = int(sum(d.mean() > 0 for d in diffs))
                losses = int(sum(d.mean() < 0 for d in diffs))
                summary["paired"][cond][r] = {
                    "mean": point,
                    "lo": lo,
                    "hi": hi,
                    "wins": wins,
                    "losses": losses,
                }
    return summary


def markdown(summary: dict, splits: list[str], recipe: list[str]) -> str:
    conds = summary["conditions"]
    head = "| condition | runs | " + " | ".join(READOUTS) + " |"
    rule = "|---|---|" + "---|" * len(READOUTS)
    lines = [
        f"Recipe: `crossglg train {' '.join(recipe)}` plus each condition's flags; splits: {', '.join(splits)}.",
        f"Accuracy (%) on the {'held-out auxiliary' if is_holdout(splits[0]) else 'novel'} queries, mean ± sample std"
        " over runs (a run = one split × one seed).",
        "`dtw` and `ndtw` need no model: they are the same in every row of a split.",
        "",
        head,
        rule,
    ]
    for d in conds.values():
        cells = [mean_std(d["accuracy"][r]) for r in READOUTS]
        lines.append(f"| {d['label']} | {len(d['runs'])} | " + " | ".join(cells) + " |")
    if summary["paired"]:
        ref = summary["against"]
        lines += ["", f"Paired difference against `{ref}`, points (95 % bootstrap interval over runs × "
                  f"queries; wins / losses = runs where the condition is above / below its `{ref}` run):",
                  "", f"| condition − {ref} | pairs | " + " | ".join(READOUTS) + " |", rule]  # fmt: skip
        for c, p in summary["paired"].items():
            cells = [
                f"{100 * p[r]['mean']:+.1f} [{100 * p[r]['lo']:+.1f}, {100 * p[r]['hi']:+.1f}] "
                f"({p[r]['wins']}/{p[r]['losses']})"
                for r in READOUTS
            ]
            lines.append(f"| {conds[c]['label']} | {len(p['pairs'])} | " + " | ".join(cells) + " |")
    if summary["transfer_utk"]:
        lines += ["", "MSR → UTKinect-Action3D (`utkinect-all10`, 189 queries), the jeanie runs' exports:",
                  "", head, rule]  # fmt: skip
        for c, t in summary["transfer_utk"].items():
            cells = [mean_std(t[r]) if t.get(r) else "—" for r in READOUTS]
            lines.append(
                f"| {conds[c]['label']} | {len(next(iter(t.values())))} | " + " | ".join(cells) + " |"
            )
    shown = ("cosine", "cl2n", "jfdtw", "fused")
    cols = [(c, r) for c in conds for r in shown]
    lines += ["", "Per-class accuracy (%), averaged over the runs in which the class is novel; "
              "`dtw` and `ndtw` are the model-free baselines:", "",
              "| class | dtw | ndtw | " + " | ".join(f"{c} {r}" for c, r in cols) + " |",
              "|---|---|---|" + "---|" * len(cols)]  # fmt: skip
    first = next(iter(summary["per_class"].values()))
    for cls in first["dtw"]:
        name = summary["class_names"].get(cls, cls)
        cells = [f"{100 * summary['per_class'][c][r].get(cls, np.nan):.0f}" for c, r in cols]
        free = " | ".join(f"{100 * first[r][cls]:.0f}" for r in ("dtw", "ndtw"))
        lines.append(f"| {cls} {name} | {free} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def picture(summary: dict, path: Path) -> None:
    """Accuracy per read-out and condition (left), paired difference with its interval (right)."""
    from crossglg.outputs import png_figure

    conds = summary["conditions"]
    with png_figure(path, dpi=120, ncols=2, figsize=(12, 4)) as (fig, (ax_a, ax_d)):
        x = np.arange(len(READOUTS))
        width = 0.8 / max(1, len(conds))
        for i, d in enumerate(conds.values()):
            acc = 100 * np.array([np.mean(d["accuracy"][r]) for r in READOUTS])
            sd = 100 * np.array(
                [np.std(d["accuracy"][r], ddof=1) if len(d["runs"]) > 1 else 0 for r in READOUTS]
            )
            ax_a.bar(x + i * width, acc, width, yerr=sd, label=f"{d['label']} (n={len(d['runs'])})")
        ax_a.set_xticks(x + width * (len(conds) - 1) / 2, READOUTS)
        ax_a.set_ylabel("one-shot accuracy (%)")
        ax_a.legend(fontsize=7)
        for i, (c, p) in enumerate(summary["paired"].items()):
            mid = 100 * np.array([p[r]["mean"] for r in READOUTS])
            err = 100 * np.array([[p[r]["mean"] - p[r]["lo"], p[r]["hi"] - p[r]["mean"]] for r in READOUTS]).T
            ax_d.errorbar(x + 0.1 * i, mid, yerr=err, fmt="o", capsize=3, label=conds[c]["label"])
        ax_d.axhline(0, color="grey", lw=0.8)
        ax_d.set_xticks(x, READOUTS)
        ax_d.set_ylabel(f"paired difference vs {summary['against']} (points, 95 % CI)")
        if summary["paired"]:
            ax_d.legend(fontsize=7)
        fig.tight_layout()


BEGIN, END = "<!-- bench/oneshot_eval.py: begin -->", "<!-- bench/oneshot_eval.py: end -->"


def paste(docs: Path, text: str) -> None:
    """Replace the generated block of ``docs`` (between the markers) with ``text``."""
    doc = docs.read_text()
    if BEGIN not in doc or END not in doc:
        raise SystemExit(f"{docs}: no '{BEGIN}' … '{END}' block to replace")
    head, rest = doc.split(BEGIN, 1)
    docs.write_text(head + BEGIN + "\n" + text + rest[rest.index(END) :])


def report(
    out: Path,
    splits: list[str],
    conditions: dict,
    docs: Path | None,
    against: str = "base",
    only: list[str] | None = None,
) -> str:
    """report.md/.json/.png from the finished runs of ``splits``; ``only``: these conditions (and ``against``)."""
    results = [d for d in load_results(out, holdout=is_holdout(splits[0])) if d["split"] in splits]
    if only:
        results = [d for d in results if d["condition"] in {*only, against}]
    summary = summarise(results, conditions, against)
    if not summary["conditions"]:
        return "no finished runs yet"
    recipe = list(RECIPE)
    text = markdown(summary, splits, recipe)
    (out / "report.md").write_text(text)
    (out / "report.json").write_text(json.dumps({**summary, "recipe": recipe, "splits": splits}, indent=1))
    picture(summary, out / "report.png")
    if docs is not None:
        paste(docs, text)
    return text


def parse_conditions(extra: list[str]) -> dict[str, Condition]:
    conditions = dict(CONDITIONS)
    for item in extra or []:
        name, sep, flags = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"--add-condition {item!r}: expected NAME=FLAGS")
        conditions[name] = Condition(name, tuple(shlex.split(flags)))
    return conditions


def parse_ensembles(items: list[str] | None, conditions: dict) -> dict[str, Ensemble]:
    """``NAME=COND[+K],COND[+K],…`` → :class:`Ensemble`; a bad spec is a one-line error."""
    ensembles = {}
    for item in items or []:
        name, sep, spec = item.partition("=")
        if not sep or not name or not spec:
            raise SystemExit(f"--ensemble {item!r}: expected NAME=COND[+K],COND[+K],...")
        if name in conditions:
            raise SystemExit(f"--ensemble {name}: already the name of a condition")
        members = []
        for member in spec.split(","):
            cond, plus, offset = member.strip().partition("+")
            if cond not in conditions:
                raise SystemExit(
                    f"--ensemble {name}: {cond!r} is no condition; choose from {', '.join(conditions)}"
                )
            if plus and not offset.isdigit():
                raise SystemExit(
                    f"--ensemble {name}: {member!r}: the seed offset after '+' must be a whole number"
                )
            members.append((cond, int(offset) if plus else 0))
        if len(members) < 2 or len(set(members)) < len(members):
            raise SystemExit(f"--ensemble {name}: needs two or more different members")
        ensembles[name] = Ensemble(
            f"ensemble of {', '.join(m.strip() for m in spec.split(','))}", tuple(members)
        )
    return ensembles


def main(argv: list[str] | None = None) -> None:
    from bench.real_data import data_root

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("runs/oneshot"), help="working folder (resumable)")
    p.add_argument("--data-root", type=Path, default=data_root(),
                   help="the folder holding msr_action3d/ and utkinect_action3d/ (default: $CROSSGLG_DATA, "
                   "else ../shared/data; docs/DATA.md)")  # fmt: skip
    p.add_argument("--seeds", type=int, default=8, help="seeds FIRST..N of every condition and split")
    p.add_argument("--first-seed", type=int, default=1)
    p.add_argument("--random-splits", type=int, default=0, help="add N random 10/10 class splits")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the random class splits")
    p.add_argument("--no-jeanie", action="store_true", help="leave out the published JEANIE split")
    p.add_argument(
        "--condition",
        action="append",
        help="run (and report only) these conditions (repeatable; default: run base, crossglg; report all)",
    )
    p.add_argument("--add-condition", action="append", help="NAME=FLAGS: one more condition (repeatable)")
    p.add_argument("--ensemble", action="append",
                   help="NAME=COND[+K],COND[+K],...: a row of finished runs evaluated as one ensemble, member "
                   "COND+K being COND's run of seed s+K (repeatable; name it with --condition)")  # fmt: skip
    p.add_argument("--no-transfer", dest="transfer", action="store_false", help="skip MSR → UTKinect")
    p.add_argument("--jobs", type=int, default=1, help="runs at a time (each uses one thread)")
    p.add_argument("--report-only", action="store_true", help="only rebuild the report from finished runs")
    p.add_argument("--docs", type=Path, help="paste the markdown into this file's generated block")
    p.add_argument("--against", default="base", help="the condition every other one is paired with")
    p.add_argument(
        "--holdout",
        nargs="?",
        type=int,
        const=1,
        default=0,
        choices=range(1, len(HOLDOUT_FOLDS) + 1),
        metavar="FOLDS",
        help="only auxiliary-class folds (7 trained, 3 held out one-shot): the first FOLDS of 3, default 1",
    )
    p.add_argument(
        "--random-holdout",
        type=int,
        default=0,
        metavar="N",
        help="only the held-out folds of random splits 1..N (each: 7 of its auxiliary classes trained, 3 held out)",
    )
    p.add_argument("--curves", nargs="+", type=Path, metavar="RUN",
                   help="print the validation-curve summary (JSON) of held-out-fold runs and exit")  # fmt: skip
    args = p.parse_args(argv)
    if args.curves:
        print(json.dumps(curves(args.curves), indent=1))
        return
    conditions = parse_conditions(args.add_condition)
    ensembles = parse_ensembles(args.ensemble, conditions)
    rows = {**conditions, **ensembles}
    chosen = args.condition or list(DEFAULT)
    for option, names in (("--condition", chosen), ("--against", [args.against])):
        unknown = sorted(set(names) - set(rows))
        if unknown:
            raise SystemExit(f"{option} {', '.join(unknown)}: choose from {', '.join(rows)}")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    splits = ([] if args.no_jeanie else [JEANIE]) + [f"rand{i}" for i in range(1, args.random_splits + 1)]
    if args.holdout and args.random_holdout:
        raise SystemExit("--holdout and --random-holdout: choose one set of folds")
    if args.holdout:
        splits = list(HOLDOUT_FOLDS)[: args.holdout]
    if args.random_holdout:
        splits = [f"rand{i}{HELD}" for i in range(1, args.random_holdout + 1)]
    if not splits:
        raise SystemExit(
            "no splits to run: drop --no-jeanie, or give --random-splits/--random-holdout N >= 1"
        )
    if not args.report_only:
        prepare(out, args.data_root.resolve(), args.transfer)
        # seed-major, so every finished seed is a complete paired row set
        seeds = range(args.first_seed, args.seeds + 1)
        plan = [(sp, c, s) for s in seeds for sp in splits for c in chosen if c in conditions]

        def one(job: tuple[str, str, int]) -> None:
            sp, c, s = job
            try:
                print(sp, c, s, run_one(out, sp, c, s, args, conditions), flush=True)
            except RuntimeError as err:  # one failed run must not stop the others
                print(f"{sp} {c} s{s} FAILED: {err}", file=sys.stderr, flush=True)

        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            list(pool.map(one, plan))
        for s in seeds:  # after the trainings they are made of
            for sp in splits:
                for name in (c for c in chosen if c in ensembles):
                    try:
                        done = run_ensemble(out, sp, name, ensembles[name], s, args)
                    except RuntimeError as err:
                        print(f"{sp} {name} s{s} FAILED: {err}", file=sys.stderr, flush=True)
                        continue
                    print(sp, name, s, done or "members not finished", flush=True)
    print(report(out, splits, rows, args.docs, args.against, only=args.condition))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))  # `python bench/oneshot_eval.py` finds `bench`
    main()
