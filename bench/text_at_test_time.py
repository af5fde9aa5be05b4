"""Text at test time on joint DTW: does a novel class's description help match its one exemplar?

Training-free, so every choice can be made on the auxiliary classes run as a one-shot task
(their ``s01_e01`` exemplars, their other samples as queries) and the novel queries are
evaluated once (docs/RESULTS.md, "Text at test time on joint DTW"). Two forms, each on top of ``ndtw``
(docs/TRAINING.md, "Read-outs"), with ``k_c`` the joint-importance distribution of class c's
global description (docs/EMBEDDINGS.md, "How `k_gt` is built"):

- ``weighted``: the frame cost of class c weighs joint j by (1 − b) + b·V·k_cj;
- ``prior``: the standardised ``ndtw`` score mixed with the standardised cosine between k_c and
  how much each of the query's joints moves, at weight ``lam``.

Each is reported beside its no-text setting (b = 0, lam = 0: ``ndtw`` itself) and a
shuffled-text control (another novel class's k, mean over 20 derangements). Splits: the JEANIE
split, the random 10/10 splits of ``bench/oneshot_eval.py`` and MSR → UTKinect (with the values
chosen on the JEANIE auxiliary classes).

    python bench/text_at_test_time.py --out runs/text-at-test --random-splits 5
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from crossglg.cache.records import ImportRecord
    from crossglg.vocab.layouts import Layout

REPO = Path(__file__).resolve().parent.parent
GRIDS = {"weighted": (0.0, 0.25, 0.5, 0.75, 1.0), "prior": (0.0, 0.1, 0.2, 0.3)}
DERANGEMENTS = 20


@dataclass
class Task:
    """One one-shot task: normalised joints [N, T, V, 3] of exemplars and queries, and text k [C, V]."""

    exemplars: np.ndarray
    classes: np.ndarray  # class id of each exemplar (one per class)
    queries: np.ndarray
    truth: np.ndarray
    k: np.ndarray  # row c: joint importance of exemplar c's class
    layout: str  # the skeleton layout's name


def class_k(pack_name: str, layout) -> dict[int, np.ndarray]:
    """Class id → k_gt of the pack's global description (the trainer's own rule)."""
    from crossglg.textgen.packs import get_pack, pack_records

    return records_k(pack_records(get_pack(pack_name)), layout)


def records_k(records: Iterable[ImportRecord], layout) -> dict[int, np.ndarray]:
    """:func:`class_k` of any import records (a pack's, or an import file's)."""
    from crossglg.embeddings.joint_importance import k_gt_for

    return {r.class_id: k_gt_for(r.key_body_parts, r.text, layout)[0] for r in records if r.kind == "global"}


def task_of(
    data: Path, protocol: str, pack: str | Callable[[Layout], dict[int, np.ndarray]], view: bool = False
) -> Task:
    """The protocol's one-shot task on a prepared folder; ``pack`` names the pack whose global texts
    give each class's k, or is a function of the layout giving class id → k (bench/synthetic_text_at_test.py)."""
    from crossglg.baselines.dtw import normalise
    from crossglg.data.prepared import open_prepared
    from crossglg.data.splits import split_prepared
    from crossglg.vocab.layouts import get_layout
    from crossglg.vocab.protocols import load_protocol

    ds = open_prepared(data)
    split = split_prepared(ds, load_protocol(protocol, ds.dataset))
    layout = get_layout(ds.layout)
    v = layout.num_joints

    def joints(idx: np.ndarray) -> np.ndarray:
        return np.stack([normalise(ds.sequence(int(i)), layout, view=view).reshape(-1, v, 3) for i in idx])

    labels = np.asarray(ds.labels)
    classes = labels[split.exemplar]
    k = class_k(pack, layout) if isinstance(pack, str) else pack(layout)
    return Task(joints(split.exemplar), classes, joints(split.query), labels[split.query],
                np.stack([k[int(c) + 1] for c in classes]), layout.name)  # fmt: skip


def weighted_distances(task: Task, k: np.ndarray, b: float) -> np.ndarray:
    """[Q, C] calibrated DTW distance (ndtw) with class c's joints weighed by (1 − b) + b·V·k_c."""
    from crossglg.baselines.dtw import dtw_distances, exemplar_scales

    q, t, v, _ = task.queries.shape
    out = np.empty((q, len(task.classes)))
    for c in range(len(task.classes)):
        w = np.sqrt((1 - b) + b * v * k[c])[None, None, :, None]
        ex = (task.exemplars * w).reshape(len(task.classes), t, -1)
        d = dtw_distances((task.queries * w).reshape(q, t, -1), ex[c : c + 1])[:, 0]
        out[:, c] = d / exemplar_scales(ex, np.arange(len(task.classes)))[c]
    return out


def motion(x: np.ndarray) -> np.ndarray:
    """[N, V]: how far each joint travels over the clip, as a share of the whole body's travel."""
    speed = np.linalg.norm(np.diff(x, axis=1), axis=-1).sum(1)
    return speed / np.maximum(speed.sum(1, keepdims=True), 1e-12)


def hits(task: Task, form: str, value: float, k: np.ndarray, ndtw: np.ndarray) -> np.ndarray:
    """Per-query 0/1 of one form at one setting with text ``k`` (rows in exemplar order)."""
    from crossglg.train.oneshot import standardise, unit

    if form == "weighted":
        scores = -weighted_distances(task, k, value) if value else -ndtw
    else:
        prior = unit(motion(task.queries)) @ unit(k).T
        scores = (1 - value) * standardise(-ndtw) + value * standardise(prior)
    return (task.classes[scores.argmax(1)] == task.truth).astype(float)


def derangements(n: int, count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []
    while len(out) < count:
        p = rng.permutation(n)
        if (p != np.arange(n)).all():
            out.append(p)
    return out


def choose(task: Task, form: str) -> tuple[float, dict[str, float]]:
    """The grid value with the best accuracy on an auxiliary one-shot task; ties → the smaller."""
    ndtw = weighted_distances(task, task.k, 0.0)
    acc = {str(v): float(hits(task, form, v, task.k, ndtw).mean()) for v in GRIDS[form]}
    best = max(GRIDS[form], key=lambda v: (acc[str(v)], -v))
    return best, acc


def evaluate(task: Task, form: str, value: float) -> dict[str, np.ndarray]:
    """Per-query 0/1 of the chosen setting, its no-text setting and the shuffled-text control."""
    ndtw = weighted_distances(task, task.k, 0.0)
    shuffled = [
        hits(task, form, value, task.k[p], ndtw) for p in derangements(len(task.classes), DERANGEMENTS)
    ]
    return {
        "text": hits(task, form, value, task.k, ndtw),
        "no text": hits(task, form, 0.0, task.k, ndtw),
        "shuffled": np.mean(shuffled, 0),
    }


TRANSFER = "MSR → UTKinect"


def setup(description: str, argv: list[str] | None) -> tuple[Path, list[str], int]:
    """(working folder, splits, split seed) from the command line the training-free searches share."""
    from bench.oneshot_eval import JEANIE, prepare_data
    from bench.real_data import data_root

    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", type=Path, default=Path("runs/text-at-test"), help="working folder")
    p.add_argument("--data-root", type=Path, default=data_root(), help="where msr_action3d/ etc. are")
    p.add_argument("--random-splits", type=int, default=5, help="random 10/10 class splits besides JEANIE")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the random class splits")
    args = p.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    prepare_data(out, args.data_root.resolve(), transfer=True)
    return out, [JEANIE] + [f"rand{i}" for i in range(1, args.random_splits + 1)], args.split_seed


def split_tasks(
    out: Path, split: str, split_seed: int, view: bool = False
) -> tuple[Task, list[tuple[str, Task]]]:
    """(the split's auxiliary classes run one-shot, [(name, novel task)]); JEANIE adds MSR → UTKinect,
    which takes the setting chosen on JEANIE's auxiliary classes. ``view``: clips in their body frame."""
    from bench.oneshot_eval import JEANIE, protocol_of

    msr = out / "prepared" / "msr"
    novel = out / protocol_of(out, split, split_seed) if split != JEANIE else None
    aux = task_of(msr, str(auxiliary_protocol(out, split, novel)), "msr-action3d", view)
    tasks = [(split, task_of(msr, str(novel or "msr-action3d"), "msr-action3d", view))]
    if split == JEANIE:
        tasks.append((TRANSFER, task_of(out / "prepared" / "utk", "utkinect-all10", "utkinect", view)))
    return aux, tasks


def main(argv: list[str] | None = None) -> None:
    from crossglg.train.compare import paired_bootstrap

    out, splits, split_seed = setup(__doc__.splitlines()[0], argv)
    doc: dict = {"forms": {}}
    for form in GRIDS:
        rows, diffs = [], {"text - no text": [], "text - shuffled": []}
        for split in splits:
            aux, tasks = split_tasks(out, split, split_seed)
            value, aux_acc = choose(aux, form)
            for name, task in tasks:
                res = evaluate(task, form, value)
                rows.append(row(name, value, aux_acc if name != TRANSFER else {}, res))
                if name != TRANSFER:
                    diffs["text - no text"].append(res["text"] - res["no text"])
                    diffs["text - shuffled"].append(res["text"] - res["shuffled"])
        pooled = {name: paired_bootstrap(d) for name, d in diffs.items()}
        doc["forms"][form] = {"rows": rows, "pooled": pooled}
    (out / "text_at_test_time.json").write_text(json.dumps(doc, indent=1))
    print(markdown(doc))


def auxiliary_protocol(out: Path, split: str, novel: Path | None) -> Path:
    """The split's auxiliary classes as a one-shot task (the novel classes are not in it)."""
    from crossglg.vocab.protocols import load_protocol

    held = load_protocol(str(novel) if novel else "msr-action3d", "msr-action3d").novel_class_ids
    aux = [c for c in range(1, 21) if c not in set(held)]
    path = out / "protocols" / f"{split}-auxiliary.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'name = "msr-{split}-auxiliary"\ndataset = "msr-action3d"\nnum_classes = 20\n'
        f"novel_classes = {aux}\n"
        'exemplar_pattern = "a{class_id:02d}_s01_e01"\nexclude_samples = ["a13_s09_e02"]\n'
    )
    return path


def row(split: str, value: float, aux_acc: dict[str, float], res: dict[str, np.ndarray]) -> dict:
    from crossglg.train.compare import paired_bootstrap

    out = {"split": split, "value": value, "auxiliary": aux_acc, "queries": len(res["text"])}
    out.update({name: float(v.mean()) for name, v in res.items()})
    for ref in ("no text", "shuffled"):
        out[f"text - {ref}"] = paired_bootstrap([res["text"] - res[ref]])
    return out


def markdown(doc: dict) -> str:
    lines = []
    for form, f in doc["forms"].items():
        name = "b" if form == "weighted" else "lam"
        lines += ["", f"**{form}** ({name} chosen on each split's auxiliary classes):", "",
                  f"| split | {name} | queries | no text (ndtw) | text | shuffled text | text − no text | "
                  "text − shuffled |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for r in f["rows"]:
            d = [f"{100 * m:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]" for m, lo, hi in
                 (r["text - no text"], r["text - shuffled"])]  # fmt: skip
            lines.append(f"| {r['split']} | {r['value']} | {r['queries']} | {100 * r['no text']:.1f} | "
                         f"{100 * r['text']:.1f} | {100 * r['shuffled']:.1f} | {d[0]} | {d[1]} |")  # fmt: skip
        pooled = " | ".join(f"{k}: {100 * m:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]" for k, (m, lo, hi)
                            in f["pooled"].items())  # fmt: skip
        lines += ["", f"MSR splits pooled (bootstrap over splits, then queries): {pooled}"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))  # `python bench/text_at_test_time.py` finds `bench`
    main()
