"""One-shot classifiers ("read-outs") on skeleton embeddings and the accuracy report.

Every classifier sees only features: the exemplar(s) of each novel class, the queries and
statistics of the auxiliary (training) classes. Keeping them free of any model code lets
``crossglg eval``, ``predict``, ``transfer`` and the tests share them. docs/TRAINING.md
("Read-outs") says what each one is for:

- ``cosine``: nearest exemplar by cosine of z_s (docs/TRAINING.md, "Read-outs");
- ``dc``: distribution calibration on z_s (docs/TRAINING.md, "Read-outs");
- ``cl2n``: cosine of the pooled last-block features after centring on the auxiliary mean;
- ``fdtw``: DTW over the per-frame last-block features (centred, unit length), before pooling;
- ``jfdtw``: the same with the joints kept apart (each frame: joints × channels, centred, unit length);
- ``dtw``: DTW over normalised joints (the baseline of ``crossglg baseline dtw``, no model);
- ``ndtw``: ``dtw`` with each class's distances divided by its exemplar's mean distance to the
  other classes' exemplars (``crossglg baseline dtw --calibrated``, no model);
- ``fused``: ``cl2n`` and ``ndtw`` scores, each standardised per query, mixed by a fixed weight.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from crossglg.errors import UserError

CLASSIFIERS = ("cosine", "dc", "cl2n", "fdtw", "jfdtw", "dtw", "ndtw", "fused")
# the read-outs that need the normalised joints of every support and query sample
JOINT_READOUTS = frozenset({"dtw", "ndtw", "fused"})
MODEL_FREE = frozenset({"dtw", "ndtw"})  # read-outs whose scores no model changes
# the weight of the learned (cl2n) score in ``fused``: chosen on held-out folds of auxiliary
# classes (docs/TRAINING.md, "Read-outs"), never fitted on novel queries
FUSION_WEIGHT = 0.2


@dataclass(frozen=True)
class DCConfig:
    """Distribution calibration defaults of Yang et al. (ICLR 2021), docs/TRAINING.md, "Read-outs"."""

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


def cosine_scores(
    support: np.ndarray, support_labels: np.ndarray, queries: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(classes, cosine [Q, C]); with k shots a class is the mean of its unit vectors."""
    classes = np.unique(support_labels)
    s = unit(support)
    protos = unit(np.stack([s[support_labels == c].mean(0) for c in classes]))
    return classes, unit(queries) @ protos.T


def cosine_predict(support: np.ndarray, support_labels: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Nearest exemplar by cosine similarity."""
    classes, scores = cosine_scores(support, support_labels, queries)
    return classes[np.argmax(scores, axis=1)]


def cl2n(z: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Centre on the auxiliary mean, then L2-normalise (SimpleShot's CL2N), on the last axis.

    A direction every embedding shares (what all training classes have in common) dominates
    the cosine of raw features; removing it leaves the directions that tell classes apart.
    """
    return unit(np.asarray(z, dtype=np.float64) - np.asarray(mean, dtype=np.float64))


def joint_cl2n(frames: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """[N, T', V, C] → [N, T', V·C]: centred per joint and channel, each frame L2-normalised."""
    f = np.asarray(frames, dtype=np.float64) - np.asarray(mean, dtype=np.float64)
    return unit(f.reshape(*f.shape[:2], -1))


def fits(features: np.ndarray, mean: np.ndarray, name: str) -> np.ndarray:
    """``features`` when the auxiliary mean has their trailing shape; a one-line error otherwise.

    An export whose statistics come from another model (a copied base_stats.npz) must not end
    in a numpy broadcasting error.
    """
    want = np.shape(features)[-np.ndim(mean) :] if np.ndim(mean) else ()
    if np.shape(mean) != tuple(want):
        raise UserError(
            f"--classifier {name}: the auxiliary mean has shape {list(np.shape(mean))}, the model's "
            f"features {list(want)}: the statistics belong to another model; export it again"
        )
    return features


def sequence_scores(
    support: np.ndarray, support_labels: np.ndarray, queries: np.ndarray, calibrated: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(classes, −DTW distance [Q, C]) of [N, T, F] sequences; a class scores its nearest exemplar."""
    from crossglg.baselines.dtw import class_distances

    classes, d = class_distances(queries, support, support_labels, calibrated)
    return classes, -d


def standardise(scores: np.ndarray) -> np.ndarray:
    """Each query's scores to zero mean and unit spread over the classes, so unlike scores can mix."""
    s = np.asarray(scores, dtype=np.float64)
    return (s - s.mean(1, keepdims=True)) / np.maximum(s.std(1, keepdims=True), 1e-12)


def fuse(learned: np.ndarray, joints: np.ndarray, weight: float = FUSION_WEIGHT) -> np.ndarray:
    """weight · standardised learned score + (1 − weight) · standardised joint-DTW score."""
    return weight * standardise(learned) + (1.0 - weight) * standardise(joints)


def dc_scores(
    support: np.ndarray,
    support_labels: np.ndarray,
    queries: np.ndarray,
    base: BaseStats,
    cfg: DCConfig,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Distribution calibration: sample features around each support, fit logistic regression.

    Returns (classes, class probabilities [Q, C]); the prediction is each row's argmax.
    """
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
    return clf.classes_, clf.predict_proba(tukey(queries, cfg.beta))


@dataclass
class Features:
    """What the read-outs see of a set of sequences; a read-out whose input is None is unavailable."""

    z: np.ndarray  # [N, D] z_s, the embedding the model was trained to classify
    frames: np.ndarray | None = None  # [N, T', C] last-block features per frame (joints, persons averaged)
    joints: np.ndarray | None = None  # [N, T, V·3] normalised joints (crossglg.baselines.dtw.normalise)
    joint_frames: np.ndarray | None = None  # [N, T', V, C] per frame and joint; kept only when asked
    joint_mean: np.ndarray | None = None  # [V, C] mean of the per-joint features over samples and frames

    @property
    def pooled(self) -> np.ndarray | None:
        """[N, C] the last-block features pooled over time: the input of InfoGCN's fc, pre-classifier."""
        return None if self.frames is None else self.frames.mean(1)


@dataclass
class AuxStats:
    """What the read-outs know of the auxiliary (training) classes, stored with every export."""

    base: BaseStats | None = None  # for dc
    mean: np.ndarray | None = None  # [C] mean pooled last-block feature over the auxiliary samples
    joint_mean: np.ndarray | None = None  # [V, C] the same per joint, what jfdtw centres on


def resolve_classifiers(names: Sequence[str]) -> tuple[str, ...]:
    """``all`` expands to every read-out; unknown names are a user error; order kept, no repeats."""
    out: list[str] = []
    for name in names or ("all",):
        for n in CLASSIFIERS if name == "all" else (name,):
            if n not in CLASSIFIERS:
                raise UserError(f"--classifier {n!r}: choose from {', '.join(CLASSIFIERS)} or all")
            if n not in out:
                out.append(n)
    return tuple(out)


class ScoreSource:
    """Anything that gives each read-out's class scores [Q, C] on one split; predicts by argmax."""

    def scores(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def predict(self, name: str) -> np.ndarray:
        classes, scores = self.scores(name)
        return classes[np.argmax(scores, axis=1)]


class Readouts(ScoreSource):
    """Class scores [Q, C] of every read-out on one support set and query set (computed once each)."""

    def __init__(
        self,
        support: Features,
        support_labels: np.ndarray,
        queries: Features,
        aux: AuxStats,
        dc: DCConfig,
        fusion_weight: float = FUSION_WEIGHT,
        seed: int = 0,
        model_free: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> None:
        """``model_free``: a store for the scores of :data:`MODEL_FREE` read-outs, shared by every
        Readouts on the same exemplars and queries (test-time views, ensemble members), so that
        joint DTW runs once for all of them."""
        self.support, self.labels, self.queries = support, np.asarray(support_labels), queries
        self.aux, self.dc, self.fusion_weight, self.seed = aux, dc, fusion_weight, seed
        self._done: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._model_free = {} if model_free is None else model_free

    def scores(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(classes, scores [Q, C]) of read-out ``name``; the prediction is the row's argmax."""
        done = self._model_free if name in MODEL_FREE else self._done
        if name not in done:
            done[name] = self._compute(name)
        return done[name]

    def _compute(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        sup, q, labels = self.support, self.queries, self.labels
        if name == "cosine":
            return cosine_scores(sup.z, labels, q.z)
        if name == "dc":
            base = self._need(self.aux.base, name, "auxiliary statistics (base_stats.npz)")
            return dc_scores(sup.z, labels, q.z, base, self.dc, seed=self.seed)
        if name in ("dtw", "ndtw"):
            joints = self._need(sup.joints, name, "joints")
            return sequence_scores(joints, labels, q.joints, calibrated=name == "ndtw")
        if name == "jfdtw":
            centre = self._need(self.aux.joint_mean, name, "the auxiliary mean of the per-joint features")
            frames = fits(self._need(sup.joint_frames, name, "per-joint features"), centre, name)
            return sequence_scores(joint_cl2n(frames, centre), labels, joint_cl2n(q.joint_frames, centre))
        mean = self._need(self.aux.mean, name, "the auxiliary mean of the last-block features")
        if name == "cl2n":
            pooled = fits(self._need(sup.pooled, name, "per-frame features"), mean, name)
            return cosine_scores(cl2n(pooled, mean), labels, cl2n(q.pooled, mean))
        if name == "fdtw":
            frames = fits(self._need(sup.frames, name, "per-frame features"), mean, name)
            return sequence_scores(cl2n(frames, mean), labels, cl2n(q.frames, mean))
        if name == "fused":
            classes, learned = self.scores("cl2n")
            _, joints = self.scores("ndtw")
            return classes, fuse(learned, joints, self.fusion_weight)
        raise UserError(f"--classifier {name!r}: choose from {', '.join(CLASSIFIERS)} or all")

    @staticmethod
    def _need(value, name: str, what: str):
        if value is None:
            raise UserError(f"--classifier {name}: needs {what}, which this model or export does not provide")
        return value


class Ensemble(ScoreSource):
    """Several models' read-outs on one split as one: per query, each model's scores are
    standardised over the classes and averaged.

    Models trained from different seeds disagree on many one-shot queries; averaging their
    scores keeps what they agree on (docs/TRAINING.md, "Seed ensembles"). Standardising first
    lets models whose scores differ in scale weigh the same. Read-outs that involve no model
    (``dtw``, ``ndtw``) come out as one model's.
    """

    def __init__(self, members: Sequence[ScoreSource]) -> None:
        if not members:
            raise UserError("an ensemble needs at least one model")
        self.members = list(members)

    def scores(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        got = [m.scores(name) for m in self.members]
        classes = got[0][0]
        if any(not np.array_equal(c, classes) for c, _ in got):
            raise UserError(
                f"--classifier {name}: the models score different classes; an ensemble needs one split"
            )
        return classes, np.mean([standardise(s) for _, s in got], axis=0)


def combined(members: Sequence[ScoreSource]) -> ScoreSource:
    """One model's read-outs as they are (raw scores, e.g. cosines, stay readable); several as their
    :class:`Ensemble`."""
    return members[0] if len(members) == 1 else Ensemble(members)


@dataclass
class Report:
    """Accuracy of one classifier: overall, per class, and the confusion matrix (rows = truth)."""

    accuracy: float
    per_class: dict[int, float]
    confusion: np.ndarray
    classes: list[int]
    predictions: list[int] = field(default_factory=list)  # per query, for paired comparisons

    def to_json(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "per_class": {str(c): a for c, a in self.per_class.items()},
            "confusion": self.confusion.tolist(),
            "classes": self.classes,
            "predictions": self.predictions,
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
        predictions=[int(p) for p in pred],
    )


def unit(z: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero)."""
    z = np.asarray(z, dtype=np.float64)
    return z / np.maximum(np.linalg.norm(z, axis=-1, keepdims=True), 1e-12)


def _shots(labels: np.ndarray) -> int:
    _, counts = np.unique(labels, return_counts=True)
    return int(counts.max())
