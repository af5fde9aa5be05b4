"""A learned frame metric for calibrated joint DTW (``ndtw``), measured on held-out auxiliary classes.

``ndtw`` weighs every joint coordinate alike. Here a map of each normalised frame, started at the
identity, is trained on a fold's trained classes by one-shot episodes (every class, one random
exemplar and two random queries each; logits = −s · soft-DTW distance of the mapped frames; the
map pulled towards the identity by a penalty), then ``ndtw`` runs on the mapped frames of the
fold's held-out classes. The folds are the eight of docs/RESULTS.md ("A learned metric for joint
DTW"): the three JEANIE holdout folds and the five ``--random-holdout`` folds, so no novel class
is read. ``--novel`` reads the novel classes instead (the JEANIE split and the five random splits,
each map trained on the split's auxiliary classes; the JEANIE map also on MSR → UTKinect, its
weights moved to UTKinect's joint order): run it once, for a variant the folds chose. The
``text`` forms let each class's description scale its own joints by a learned share
(:class:`TextGated`; ``text-shuffled`` is its control). One result file per fold; a rerun skips
finished folds.

    python bench/dtw_learned_weights.py --out runs/dtw-weights
    python bench/dtw_learned_weights.py --out runs/dtw-weights --variant joint --variant feature-strong
    python bench/dtw_learned_weights.py --out runs/dtw-weights --novel --variant feature-strong
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crossglg.baselines.dtw_weights import EPISODES, CoordinateWeights  # the product's recipe and map
from crossglg.outputs import write_whole

REPO = Path(__file__).resolve().parent.parent
FOLDS = ("holdout", "holdout2", "holdout3", *(f"rand{i}-held" for i in range(1, 6)))
NOVEL = ("jeanie", *(f"rand{i}" for i in range(1, 6)))
TRANSFER = "utkinect"  # MSR → UTKinect with the JEANIE split's map


@dataclass(frozen=True)
class Variant:
    """How much of the frame the map may change, and how hard it is pulled back to the identity."""

    form: str  # feature: a weight per coordinate; joint: per joint; linear: a full matrix; velocity: [x, dx] → x;
    # text: per coordinate, each class's joints scaled by its text as far as a learned share says
    penalty: float
    shuffled_text: bool = False  # text: every class gets another class's text (the control)


VARIANTS = {
    "feature": Variant("feature", 1e-2),
    "linear": Variant("linear", 1e-2),
    "velocity": Variant("velocity", 1e-2),
    "joint": Variant("joint", 1e-2),
    "feature-strong": Variant("feature", 1e-1),
    "text": Variant("text", 1e-1),
    "text-shuffled": Variant("text", 1e-1, shuffled_text=True),
}
PACKS = {"msr20": "msr-action3d", "kinect20": "utkinect"}  # the curated text pack of each dataset's layout


def frames_of(data: Path, protocol: str) -> dict:
    """{trained, exemplars, queries}: (normalised frames [N, 32, V·3], labels) of one fold (no
    ``trained`` where the protocol trains nothing), and its ``layout``."""
    from crossglg.baselines.dtw import normalise
    from crossglg.data.prepared import open_prepared
    from crossglg.data.splits import split_prepared
    from crossglg.vocab.layouts import get_layout
    from crossglg.vocab.protocols import load_protocol

    ds = open_prepared(data)
    split = split_prepared(ds, load_protocol(protocol, ds.dataset))
    layout, labels = get_layout(ds.layout), np.asarray(ds.labels)
    parts = {"trained": split.auxiliary, "exemplars": split.exemplar, "queries": split.query}
    fold: dict = {
        name: (np.stack([normalise(ds.sequence(int(i)), layout) for i in idx]), labels[idx])
        for name, idx in parts.items()
        if len(idx)  # a transfer protocol trains no class
    }
    return {**fold, "layout": layout}


class FrameMap(CoordinateWeights):
    """The maps the product does not offer (per joint, a full matrix, positions with velocities)."""

    def __init__(self, variant: Variant, features: int) -> None:
        import torch

        self.variant = variant
        eye = torch.eye(features)
        self.identity = {
            "joint": torch.ones(features // 3),
            "linear": eye,
            "velocity": torch.cat([eye, torch.zeros_like(eye)]),
        }[variant.form]
        self.weight = torch.nn.Parameter(self.identity.clone())

    def __call__(self, x):
        import torch

        x = torch.as_tensor(x, dtype=torch.float32)
        if self.variant.form == "velocity":
            x = torch.cat([x, torch.diff(x, dim=1, append=x[:, -1:])], -1)
        if self.variant.form == "joint":
            return x * self.weight.repeat_interleave(3)
        return x @ self.weight


class TextGated(CoordinateWeights):
    """Class c's coordinates scaled by w · (1 + a·(V·k_c[j] − 1)) for joint j, with k_c the joint
    importance of c's global description (bench/text_at_test_time.py ``class_k``) and the share
    a ∈ [0, 1] learned from 0: text counts as far as the auxiliary classes bear it out."""

    def __init__(self, layout, shuffled_text: bool) -> None:
        import torch

        from bench.text_at_test_time import class_k, derangements

        super().__init__(3 * layout.num_joints)
        self.share = torch.nn.Parameter(torch.zeros(()))
        self.layout, self.shuffled_text = layout, shuffled_text
        k = class_k(PACKS[layout.name], layout)
        ids = sorted(k)
        order = derangements(len(ids), 1)[0] if shuffled_text else range(len(ids))
        self.texts = {
            c: torch.tensor(k[ids[o]], dtype=torch.float32) for c, o in zip(ids, order, strict=True)
        }
        self.rows = None

    def parameters(self) -> list:
        return [self.weight, self.share]

    def scales(self, labels: np.ndarray):
        """[C, F] coordinate scales of the classes with these labels (counted from 0)."""
        import torch

        k = torch.stack([self.texts[int(c) + 1] for c in labels])
        a = self.share.clamp(0, 1)
        return self.weight * (1 + a * (k.shape[1] * k - 1)).repeat_interleave(3, dim=1)

    def costs(self, queries, exemplars):
        """Query q against exemplar i under class i's scales (:attr:`rows`, set before training)."""
        import torch

        sc = self.scales(self.rows)
        q = torch.as_tensor(queries, dtype=torch.float32)[:, None] * sc[None, :, None, :]
        e = torch.as_tensor(exemplars, dtype=torch.float32) * sc[:, None, :]
        return torch.cdist(q, e[None].expand(len(q), -1, -1, -1))

    def moved(self, layout) -> TextGated:
        """The same weights and share for another sensor's clips, with that dataset's own texts."""
        out = TextGated(layout, self.shuffled_text)
        joints = self.layout.mapping_to(layout)
        out.weight.data = self.weight.detach().view(-1, 3)[joints].flatten()
        out.share.data = self.share.detach().clone()
        return out


def on_layout(fmap, source, target):
    """A map learned on ``source`` layout's clips for ``target``'s (per coordinate: the product's re-indexing)."""
    import torch

    from crossglg.baselines.dtw_weights import LearnedWeights

    if isinstance(fmap, TextGated):
        return fmap.moved(target)
    w = fmap.weight.detach().view(-1, 3).tolist()
    moved = CoordinateWeights(3 * target.num_joints)
    moved.weight.data = torch.tensor(
        LearnedWeights(source.name, tuple(map(tuple, w)), False, (), 0).for_layout(target)
    )
    return moved


def shuffled(fmap, seed: int):
    """A per-coordinate map whose joints' weights are dealt to other joints (x, y, z kept together)."""
    from crossglg.baselines.dtw_weights import CoordinateWeights

    w = fmap.weight.detach().view(-1, 3)
    moved = CoordinateWeights(w.numel())
    moved.weight.data = w[np.random.default_rng(seed).permutation(len(w))].flatten()
    return moved


def train(fold: dict, variant: Variant, seed: int, episodes: int = EPISODES):
    """The map after ``episodes`` one-shot episodes on the fold's trained classes."""
    from crossglg.baselines.dtw_weights import train_map

    x, y = fold["trained"]
    if variant.form == "text":
        fmap = TextGated(fold["layout"], variant.shuffled_text)
        fmap.rows = np.unique(y)  # train_map's exemplar i is of the i-th class
    else:
        fmap = CoordinateWeights(x.shape[-1]) if variant.form == "feature" else FrameMap(variant, x.shape[-1])
    return train_map(fmap, x, y, seed, episodes, variant.penalty)


def hits(fold: dict, fmap=None) -> np.ndarray:
    """Per query 1/0: ``ndtw`` on the held-out classes, on mapped frames when ``fmap`` is given."""
    import torch

    from crossglg.baselines.dtw import class_distances

    (ex, ex_y), (q, q_y) = fold["exemplars"], fold["queries"]
    if isinstance(fmap, TextGated):  # each class under its own scales, its calibration included
        classes = np.unique(ex_y)
        with torch.no_grad():
            scales = fmap.scales(classes).numpy()
        d = np.stack(
            [class_distances(q * s, ex * s, ex_y, calibrated=True)[1][:, c] for c, s in enumerate(scales)], 1
        )
        return (classes[d.argmin(1)] == q_y).astype(float)
    if fmap is not None:
        with torch.no_grad():
            ex, q = fmap(ex).numpy(), fmap(q).numpy()
    classes, d = class_distances(q, ex, ex_y, calibrated=True)
    return (classes[d.argmin(1)] == q_y).astype(float)


def main(argv: list[str] | None = None) -> dict:
    from bench.oneshot_eval import prepare_data, protocol_of
    from bench.real_data import data_root
    from crossglg.train.compare import paired_bootstrap

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("runs/dtw-weights"), help="working folder")
    p.add_argument("--data-root", type=Path, default=data_root(), help="where msr_action3d/ is")
    p.add_argument("--variant", action="append", choices=list(VARIANTS), help="repeatable; default: all")
    p.add_argument("--seeds", type=int, default=2, help="training seeds 1..N per variant and fold")
    p.add_argument("--novel", action="store_true", help="read the novel classes (once, for a chosen variant)")
    args = p.parse_args(argv)
    out = args.out.resolve()
    results = out / ("results-novel" if args.novel else "results")
    results.mkdir(parents=True, exist_ok=True)
    prepare_data(out, args.data_root.resolve(), transfer=args.novel)
    names = args.variant or list(VARIANTS)
    folds = NOVEL if args.novel else FOLDS

    def tails_of(name: str) -> tuple[str, ...]:
        """Per-coordinate weights read on novel classes carry their control: the weights dealt to other joints."""
        return ("", "-shuffled") if args.novel and VARIANTS[name].form == "feature" else ("",)

    for split in folds:
        path, moved = results / f"{split}.json", results / f"{TRANSFER}.json"
        row = json.loads(path.read_text()) if path.is_file() else {}
        other = json.loads(moved.read_text()) if moved.is_file() else {}
        keys = [f"{n}-s{s}" for n in names for s in range(1, args.seeds + 1)]
        todo = [k for k in keys if any(k + tail not in row for tail in tails_of(k.rsplit("-s", 1)[0]))]
        if not todo and "truth" in row:
            continue
        protocol = "msr-action3d" if split == "jeanie" else str(out / protocol_of(out, split, 0))
        fold = frames_of(out / "prepared" / "msr", protocol)
        target = frames_of(out / "prepared" / "utk", "utkinect-all10") if split == "jeanie" else None
        row.setdefault("truth", fold["queries"][1].tolist())  # class labels (from 0) of the queries
        row.setdefault("ndtw", hits(fold).tolist())
        write_whole(path, json.dumps(row), "result")
        if target is not None:
            other.update(truth=target["queries"][1].tolist(), ndtw=hits(target).tolist())
            write_whole(moved, json.dumps(other), "result")
        for key in todo:
            name, seed = key.rsplit("-s", 1)
            fmap = train(fold, VARIANTS[name], int(seed))
            row[key] = hits(fold, fmap).tolist()
            if "-shuffled" in tails_of(name):  # the control: the same weights given to other joints
                row[f"{key}-shuffled"] = hits(fold, shuffled(fmap, int(seed))).tolist()
            print(split, key, f"{100 * np.mean(row[key]):.1f}", file=sys.stderr, flush=True)
            write_whole(path, json.dumps(row), "result")
            if target is not None:
                other[key] = hits(target, on_layout(fmap, fold["layout"], target["layout"])).tolist()
                if "-shuffled" in tails_of(name):
                    other[f"{key}-shuffled"] = hits(
                        target, on_layout(shuffled(fmap, int(seed)), fold["layout"], target["layout"])
                    ).tolist()
                write_whole(moved, json.dumps(other), "result")
    if args.novel:
        folds = (*folds, TRANSFER)
    rows = {s: json.loads((results / f"{s}.json").read_text()) for s in folds}
    doc = {
        "folds": {s: {k: float(np.mean(v)) for k, v in r.items() if k != "truth"} for s, r in rows.items()},
        "variants": {},
    }
    msr = [s for s in folds if s != TRANSFER]  # pooled over MSR; the transfer is its own column
    lines = ["| variant | " + " | ".join(folds) + " | mean | − ndtw [95 %] | level or above |",
             "|---|" + "---|" * (len(folds) + 3)]  # fmt: skip
    lines.append("| ndtw | " + " | ".join(f"{100 * np.mean(rows[s]['ndtw']):.1f}" for s in folds)
                 + f" | {100 * np.mean([np.mean(rows[s]['ndtw']) for s in msr]):.1f} | | |")  # fmt: skip
    for name, tail in ((n, t) for n in names for t in tails_of(n)):
        keys = [f"{name}-s{s}{tail}" for s in range(1, args.seeds + 1)]
        name = name + tail.replace("-", " ")
        acc = {s: np.mean([np.mean(rows[s][k]) for k in keys]) for s in folds}
        mean = float(np.mean([acc[s] for s in msr]))
        diff = paired_bootstrap(
            [np.asarray(rows[s][k]) - np.asarray(rows[s]["ndtw"]) for s in msr for k in keys]
        )
        level = sum(bool(acc[s] >= np.mean(rows[s]["ndtw"]) - 1e-12) for s in msr)
        doc["variants"][name] = {"mean": mean, "minus_ndtw": diff, "level_or_above": level}
        m, lo, hi = diff
        lines.append(f"| {name} | " + " | ".join(f"{100 * acc[s]:.1f}" for s in folds)
                     + f" | {100 * mean:.1f} | {100 * m:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}] "
                     f"| {level}/{len(msr)} |")  # fmt: skip
    report = results.parent / f"{results.name.replace('results', 'report')}.json"
    write_whole(report, json.dumps(doc, indent=1), "report")
    if args.novel:
        lines += per_class(rows, names[0], args.seeds)
    print("\n".join(lines))
    return doc


def per_class(rows: dict, name: str, seeds: int) -> list[str]:
    """Per novel class of the JEANIE split and of UTKinect: ndtw → ``name`` (seed mean), in percent."""
    out = []
    for split in ("jeanie", TRANSFER):
        r = rows[split]
        truth = np.asarray(r["truth"])
        mean = np.mean([r[f"{name}-s{s}"] for s in range(1, seeds + 1)], axis=0)
        cells = [f"a{c + 1:02d} {100 * np.mean(np.asarray(r['ndtw'])[truth == c]):.0f}→"
                 f"{100 * mean[truth == c].mean():.0f}" for c in np.unique(truth)]  # fmt: skip
        out.append(f"\nper class, {split} (ndtw → {name}): " + ", ".join(cells))
    return out


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))  # `python bench/dtw_learned_weights.py` finds `bench`
    main()
