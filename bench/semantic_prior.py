"""A zero-shot text prior fused with joint DTW: can a novel class's description help where its exemplar fails?

Beyond the paper, training-free on the skeleton side. A ridge map from a model-free clip
descriptor to the class text vector is fitted on the auxiliary classes' samples; for a novel
query, class c scores the cosine between the map's prediction and c's text vector (zero-shot
learning's compatibility score), and that score is mixed with the standardised ``ndtw`` score
at weight ``lam`` (docs/RESULTS.md, "Zero-shot text prior on joint DTW"). The text vector is the
curated pack's global and six part descriptions embedded by MiniLM, slot by slot, so "the legs
kick" and "the legs stand still" land in different coordinates.

Every choice (ridge strength, ``lam``) is made on the split's auxiliary classes alone: five random
halvings of them, the map fitted on one half and the other half run one-shot, both ways. Novel
queries are evaluated once, beside ``ndtw`` (lam = 0), the shuffled-text control (the novel text
vectors deranged among the novel classes, mean over 20 derangements) and the zero-shot score
alone (lam = 1, for reading only).

    python bench/semantic_prior.py --out runs/text-at-test --random-splits 5
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from crossglg.cache.records import ImportRecord

REPO = Path(__file__).resolve().parent.parent
ALPHAS = (1.0, 10.0, 100.0)  # ridge strength per fitting sample (descriptors are standardised)
LAMS = (0.0, 0.1, 0.2, 0.3, 0.5)
HALVINGS = 5
SLOTS = ("global", "head", "hand", "arm", "hip", "leg", "foot")


def text_vectors(pack_name: str) -> dict[int, np.ndarray]:
    """Class id → unit concatenation of the MiniLM unit vectors of its pack texts, in ``SLOTS`` order."""
    from crossglg.textgen.packs import get_pack, pack_records

    return slot_vectors(pack_records(get_pack(pack_name)))


def slot_vectors(records: Iterable[ImportRecord]) -> dict[int, np.ndarray]:
    """:func:`text_vectors` of any import records (a pack's, or an import file's) with every slot."""
    from crossglg.embeddings.encoders import load_encoder
    from crossglg.embeddings.spec import EmbedSettings, resolve_embedder

    texts: dict[int, dict[str, str]] = {}
    for r in records:
        texts.setdefault(r.class_id, {})[r.slot or r.kind] = r.text
    ids = sorted(texts)
    flat = [texts[c][s] for c in ids for s in SLOTS]
    vectors = load_encoder(resolve_embedder(EmbedSettings())).encode(flat).vectors.astype(np.float64)
    joined = vectors.reshape(len(ids), -1)
    joined /= np.linalg.norm(joined, axis=1, keepdims=True)
    return dict(zip(ids, joined, strict=True))


def descriptor(x: np.ndarray) -> np.ndarray:
    """[N, 10V] per joint and axis: mean position, spread over time, mean speed; per joint: share of travel."""
    from bench.text_at_test_time import motion

    n = len(x)
    parts = [x.mean(1), x.std(1), np.abs(np.diff(x, axis=1)).mean(1)]
    return np.concatenate([p.reshape(n, -1) for p in parts] + [motion(x)], axis=1)


@dataclass
class TextMap:
    """Ridge regression from standardised descriptors to text vectors, with the targets' mean as intercept."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    offset: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, targets: np.ndarray, alpha: float) -> TextMap:
        mean, scale = x.mean(0), np.maximum(x.std(0), 1e-6)
        z = (x - mean) / scale
        offset = targets.mean(0)
        gram = z.T @ z + alpha * len(z) * np.eye(z.shape[1])
        return cls(mean, scale, np.linalg.solve(gram, z.T @ (targets - offset)), offset)

    def scores(self, x: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """[N, C] cosine between each prediction and each class's text vector."""
        from crossglg.train.oneshot import unit

        return unit((x - self.mean) / self.scale @ self.weights + self.offset) @ unit(vectors).T


@dataclass
class Scored:
    """A one-shot task's raw joint-DTW distances and the descriptors of its clips, computed once."""

    task: object  # bench.text_at_test_time.Task
    raw: np.ndarray  # [Q, C] DTW distances, queries × exemplars
    exemplars: np.ndarray  # [C, T, V·3], what the calibration is measured on
    clips: np.ndarray  # [C + Q, 10V] descriptors of the exemplars, then the queries
    labels: np.ndarray  # [C + Q] their classes

    @classmethod
    def of(cls, task) -> Scored:
        from crossglg.baselines.dtw import dtw_distances

        q, t = task.queries.shape[:2]
        ex = task.exemplars.reshape(len(task.exemplars), t, -1)
        raw = dtw_distances(task.queries.reshape(q, t, -1), ex)
        clips = descriptor(np.concatenate([task.exemplars, task.queries]))
        return cls(task, raw, ex, clips, np.concatenate([task.classes, task.truth]))

    @property
    def features(self) -> np.ndarray:
        """[Q, 10V] the queries' descriptors."""
        return self.clips[len(self.exemplars) :]

    def ndtw(self, columns: np.ndarray) -> np.ndarray:
        """Calibrated distances to the exemplars in ``columns``, scaled within that support set
        (one exemplar per class, so each exemplar is labelled by its own position)."""
        from crossglg.baselines.dtw import exemplar_scales

        return self.raw[:, columns] / exemplar_scales(self.exemplars[columns], np.arange(len(columns)))


def hits(
    scored: Scored, rows: np.ndarray, columns: np.ndarray, text: np.ndarray, tmap: TextMap, lam: float
) -> np.ndarray:
    """Per-query 0/1 of the fused score over the exemplars in ``columns`` for the queries in ``rows``."""
    from crossglg.train.oneshot import standardise

    task = scored.task
    score = standardise(-scored.ndtw(columns)[rows])
    if lam:
        score = (1 - lam) * score + lam * standardise(tmap.scores(scored.features[rows], text))
    return (task.classes[columns][score.argmax(1)] == task.truth[rows]).astype(float)


def fitted(
    scored: Scored, vectors: dict[int, np.ndarray], alpha: float, classes: np.ndarray | None = None
) -> TextMap:
    """The map fitted on every clip of the task (exemplars and queries) whose class is in ``classes``."""
    keep = np.isin(scored.labels, scored.task.classes if classes is None else classes)
    return TextMap.fit(
        scored.clips[keep], np.stack([vectors[int(c) + 1] for c in scored.labels[keep]]), alpha
    )


def choose(aux: Scored, vectors: dict[int, np.ndarray]) -> tuple[tuple[float, float], dict[str, float]]:
    """(alpha, lam) with the best mean accuracy over the halvings of the auxiliary classes; ties → smaller."""
    task = aux.task
    rng = np.random.default_rng(0)
    acc: dict[tuple[float, float], list[float]] = {(a, lam): [] for a in ALPHAS for lam in LAMS}
    for _ in range(HALVINGS):
        order = rng.permutation(task.classes)
        half = len(order) // 2
        for fit, run in ((order[:half], order[half:]), (order[half:], order[:half])):
            columns = np.flatnonzero(np.isin(task.classes, run))
            rows = np.flatnonzero(np.isin(task.truth, run))
            text = np.stack([vectors[int(c) + 1] for c in task.classes[columns]])
            for alpha in ALPHAS:
                tmap = fitted(aux, vectors, alpha, fit)
                for lam in LAMS:
                    acc[(alpha, lam)].append(float(hits(aux, rows, columns, text, tmap, lam).mean()))
    means = {k: float(np.mean(v)) for k, v in acc.items()}
    best = max(means, key=lambda k: (means[k], -k[1], -k[0]))
    return best, {f"alpha={a:g} lam={lam:g}": m for (a, lam), m in means.items()}


def evaluate(
    scored: Scored, tmap: TextMap, vectors: dict[int, np.ndarray], lam: float
) -> dict[str, np.ndarray]:
    """Per-query 0/1 on a novel task: the chosen setting, no text, shuffled text, and zero-shot alone."""
    from bench.text_at_test_time import derangements

    task = scored.task
    rows, columns = np.arange(len(task.truth)), np.arange(len(task.classes))
    text = np.stack([vectors[int(c) + 1] for c in task.classes])
    shuffled = [hits(scored, rows, columns, text[p], tmap, lam) for p in derangements(len(columns), 20)]
    return {
        "text": hits(scored, rows, columns, text, tmap, lam),
        "no text": hits(scored, rows, columns, text, tmap, 0.0),
        "shuffled": np.mean(shuffled, 0),
        "zero-shot": zero_shot(scored, tmap, text),
    }


def zero_shot(scored: Scored, tmap: TextMap, text: np.ndarray) -> np.ndarray:
    """Per-query 0/1 of the text score alone (no exemplar): how much the map knows of unseen classes."""
    task = scored.task
    return (task.classes[tmap.scores(scored.features, text).argmax(1)] == task.truth).astype(float)


def main(argv: list[str] | None = None) -> None:
    from bench.text_at_test_time import TRANSFER, markdown, row, setup, split_tasks
    from crossglg.train.compare import paired_bootstrap

    out, splits, split_seed = setup(__doc__.splitlines()[0], argv)
    packs = {"msr": text_vectors("msr-action3d"), "utk": text_vectors("utkinect")}
    rows, diffs = [], {"text - no text": [], "text - shuffled": []}
    for split in splits:
        aux_task, tasks = split_tasks(out, split, split_seed)
        aux = Scored.of(aux_task)
        (alpha, lam), aux_acc = choose(aux, packs["msr"])
        tmap = fitted(aux, packs["msr"], alpha)
        for name, task in tasks:
            res = evaluate(Scored.of(task), tmap, packs["utk" if name == TRANSFER else "msr"], lam)
            rows.append(row(name, f"alpha={alpha:g} lam={lam:g}", aux_acc if name != TRANSFER else {}, res))
            if name != TRANSFER:
                diffs["text - no text"].append(res["text"] - res["no text"])
                diffs["text - shuffled"].append(res["text"] - res["shuffled"])
            print(json.dumps(rows[-1]), flush=True)
    doc = {
        "forms": {"semantic": {"rows": rows, "pooled": {k: paired_bootstrap(d) for k, d in diffs.items()}}}
    }
    (out / "semantic_prior.json").write_text(json.dumps(doc, indent=1))
    print(markdown(doc))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))  # `python bench/semantic_prior.py` finds `bench`
    main()
