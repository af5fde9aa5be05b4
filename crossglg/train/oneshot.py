"""One-shot classifiers on skeleton embeddings (METHOD.md §9) and the accuracy report.

Both classifiers see only embeddings: the exemplar(s) of each novel class, the queries and,
for distribution calibration, statistics of the auxiliary (training) classes. Keeping them
free of any model code lets ``crossglg eval``, ``crossglg predict`` and the tests share them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DCConfig:
    """Distribution calibration defaults of Yang et al. (ICLR 2021), METHOD.md §9.2."""

    beta: float = 0.5
    k: int = 2
    alpha: float = 0.21
    samples: int = 750
    max_iter: int = 1000


@dataclass
class BaseStats:
    """Per-class mean and covariance of the auxiliary embeddings, after the Tukey transform."""

    means: np.ndarray  # [B, D]
    covs: np.ndarray  # [B, D, D]
    beta: float

    @classmethod
    def from_embeddings(cls, z: np.ndarray, labels: np.ndarray, beta: float) -> BaseStats:
        z = tukey(z, beta)
        classes = np.unique(labels)
        means = np.stack([z[labels == c].mean(0) for c in classes])
        # a class with one sample has no spread: its covariance is zero, alpha still regularises
        covs = np.stack(
            [
                np.cov(z[labels == c], rowvar=False)
                if (labels == c).sum() > 1
                else np.zeros((z.shape[1],) * 2)
                for c in classes
            ]
        )
        return cls(means=means.astype(np.float64), covs=covs.astype(np.float64), beta=beta)


def tukey(z: np.ndarray, beta: float) -> np.ndarray:
    """Tukey's ladder of powers; it needs non-negative features (z_s is post-ReLU)."""
    z = np.asarray(z, dtype=np.float64)
    if beta == 1.0:
        return z
    return np.power(np.clip(z, 0.0, None), beta)


def cosine_predict(support: np.ndarray, support_labels: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Nearest exemplar by cosine similarity; with k shots a class is the mean of its unit vectors."""
    classes = np.unique(support_labels)
    s = unit(support)
    protos = unit(np.stack([s[support_labels == c].mean(0) for c in classes]))
    return classes[np.argmax(unit(queries) @ protos.T, axis=1)]


def dc_predict(
    support: np.ndarray,
    support_labels: np.ndarray,
    queries: np.ndarray,
    base: BaseStats,
    cfg: DCConfig,
    seed: int = 0,
) -> np.ndarray:
    """Distribution calibration: sample features around each support, fit logistic regression."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    s = tukey(support, cfg.beta)
    per_support = max(1, cfg.samples // _shots(support_labels))
    feats, labels = [s], [support_labels]
    for x, y in zip(s, support_labels, strict=True):
        nearest = np.argsort(((base.means - x) ** 2).sum(1))[: cfg.k]
        mean = np.concatenate([base.means[nearest], x[None]]).mean(0)
        # alpha is added to every entry, as in the reference code: a PSD rank-one spread
        cov = base.covs[nearest].mean(0) + cfg.alpha
        feats.append(rng.multivariate_normal(mean, cov, size=per_support))
        labels.append(np.full(per_support, y))
    clf = LogisticRegression(max_iter=cfg.max_iter)
    with warnings.catch_warnings():
        # max_iter is the reference setting; not converging there is expected and not actionable
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(np.concatenate(feats), np.concatenate(labels))
    return clf.predict(tukey(queries, cfg.beta))


@dataclass
class Report:
    """Accuracy of one classifier: overall, per class, and the confusion matrix (rows = truth)."""

    accuracy: float
    per_class: dict[int, float]
    confusion: np.ndarray
    classes: list[int]

    def to_json(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "per_class": {str(c): a for c, a in self.per_class.items()},
            "confusion": self.confusion.tolist(),
            "classes": self.classes,
        }


def report(truth: np.ndarray, pred: np.ndarray, classes: list[int]) -> Report:
    index = {c: i for i, c in enumerate(classes)}
    conf = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for t, p in zip(truth, pred, strict=True):
        conf[index[int(t)], index[int(p)]] += 1
    per_class = {c: float(conf[i, i] / max(1, conf[i].sum())) for i, c in enumerate(classes)}
    return Report(
        accuracy=float((truth == pred).mean()) if len(truth) else 0.0,
        per_class=per_class,
        confusion=conf,
        classes=list(classes),
    )


def unit(z: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero)."""
    z = np.asarray(z, dtype=np.float64)
    return z / np.maximum(np.linalg.norm(z, axis=-1, keepdims=True), 1e-12)


def _shots(labels: np.ndarray) -> int:
    _, counts = np.unique(labels, return_counts=True)
    return int(counts.max())
