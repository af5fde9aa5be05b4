"""Per-coordinate weights for calibrated joint DTW, learned on the auxiliary classes.

``ndtw`` weighs every joint coordinate alike, so a joint that moves in every class (or only
jitters) counts as much as the one that tells classes apart. Here each coordinate of the
normalised frame gets a weight, started at 1 and trained by one-shot episodes on the auxiliary
classes (every class, one random exemplar and two random queries each; logits = −s · soft-DTW
distance of the weighted frames), with a penalty pulling the weights back to 1 so that a few
hundred clips cannot push them far. The recipe was chosen on held-out auxiliary folds and read
once on the novel classes: +2.1 points over ``ndtw`` pooled over six MSR splits
(docs/RESULTS.md, "A learned metric for joint DTW").
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from crossglg.errors import UserError
from crossglg.inputs import read_input_text
from crossglg.outputs import write_whole
from crossglg.vocab.layouts import Layout, get_layout

GAMMA, LR, SCALE = 0.1, 1e-2, 10.0  # soft-DTW temperature, Adam step, initial logit scale
EPISODES, PENALTY = 300, 0.1  # the recipe of docs/RESULTS.md
KIND = "crossglg-dtw-weights"  # the "kind" field of a saved weights file


class CoordinateWeights:
    """A learnable map of frames [N, T, F]: ``weight`` scales each of the F coordinates.

    ``identity`` is the value the penalty pulls towards. Other maps (bench/dtw_learned_weights.py:
    per joint, a full matrix, class texts) train through :func:`train_map` by overriding
    ``__call__``, ``parameters`` or ``costs``.
    """

    def __init__(self, features: int) -> None:
        import torch

        self.identity = torch.ones(features)
        self.weight = torch.nn.Parameter(self.identity.clone())

    def __call__(self, x):
        import torch

        return torch.as_tensor(x, dtype=torch.float32) * self.weight

    def parameters(self) -> list:
        return [self.weight]

    def deviation(self):
        """|weight − identity|², what the penalty charges."""
        return (self.weight - self.identity).square().sum()

    def costs(self, queries: np.ndarray, exemplars: np.ndarray):
        """[Q, E, T1, T2] Euclidean frame costs of mapped queries against mapped exemplars."""
        import torch

        return torch.cdist(self(queries)[:, None], self(exemplars)[None])


def train_map(
    frame_map,
    frames: np.ndarray,
    labels: np.ndarray,
    seed: int,
    episodes: int,
    penalty: float,
    on_episode: Callable[[], None] = lambda: None,
):
    """Train ``frame_map`` in place by one-shot episodes on frames [N, T, F] of two or more classes.

    Every class needs three clips (an exemplar and two queries per episode; exemplar i is of the
    i-th class in sorted order); ``on_episode`` is called after each (a progress bar).
    """
    import torch

    from crossglg.models.losses import soft_dtw

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    classes = np.unique(labels)
    log_scale = torch.nn.Parameter(torch.tensor(math.log(SCALE)))
    opt = torch.optim.Adam([*frame_map.parameters(), log_scale], lr=LR)
    truth = torch.arange(len(classes)).repeat_interleave(2)
    for _ in range(episodes):
        picks = [rng.choice(np.flatnonzero(labels == c), 3, replace=False) for c in classes]
        cost = frame_map.costs(frames[[i for p in picks for i in p[1:]]], frames[[p[0] for p in picks]])
        distance = soft_dtw(cost, GAMMA) / (2 * cost.shape[-2])
        loss = torch.nn.functional.cross_entropy(-log_scale.exp() * distance, truth)
        loss = loss + penalty * frame_map.deviation()
        opt.zero_grad()
        loss.backward()
        opt.step()
        on_episode()
    return frame_map


@dataclass(frozen=True)
class LearnedWeights:
    """Weights [V, 3] of one layout's joints, with what they were learned from."""

    layout: str
    weights: tuple[tuple[float, float, float], ...]
    view: bool  # learned on body-frame clips (``--view``)
    classes: tuple[int, ...]  # the class ids trained on
    seed: int
    dataset: str = ""  # the prepared dataset of those classes ("" in files from before it was recorded)
    source: str = field(default="", compare=False)  # the file it was read from, for messages; never saved

    def for_layout(self, layout: Layout) -> tuple[float, ...]:
        """The V·3 coordinate scales for clips of ``layout`` (another sensor's joints re-indexed)."""
        w = np.asarray(self.weights)
        if layout.name != self.layout:
            w = w[get_layout(self.layout).mapping_to(layout)]
        return tuple(float(v) for v in w.reshape(-1))

    def check_unseen(self, dataset: str, novel: Iterable[int]) -> None:
        """Refuse weights learned on a class that the protocol tests: they would have seen the
        answers, and the accuracy would not be one-shot (docs/RESULTS.md, "A learned metric")."""
        seen = sorted(set(self.classes) & {int(c) for c in novel}) if dataset == self.dataset else []
        if seen:
            which = f"class {seen[0]}" if len(seen) == 1 else f"classes {', '.join(map(str, seen))}"
            raise UserError(
                f"{self.source or 'the weights'}: learned on {dataset} {which}, novel in this protocol; learn the weights "
                "on its auxiliary classes (crossglg baseline dtw --learn-weights)"
            )

    def save(self, path: Path) -> None:
        fields = {k: v for k, v in asdict(self).items() if k != "source"}
        write_whole(path, json.dumps({"kind": KIND, **fields}, indent=1), "weights")

    @classmethod
    def load(cls, path: Path) -> LearnedWeights:
        """Read a file written by :meth:`save`; anything else is one line naming the file and field."""
        try:
            doc = json.loads(read_input_text(path, "weights file"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise UserError(f"{path}: not a weights file ({err})") from None
        if not isinstance(doc, dict) or doc.get("kind") != KIND:
            raise UserError(f"{path}: not a weights file (kind should be {KIND!r})")
        try:
            layout = _layout(doc["layout"], path)
            weights = np.asarray(doc["weights"], dtype=np.float64)
            view, classes, seed = doc["view"], tuple(int(c) for c in doc["classes"]), int(doc["seed"])
            dataset = doc.get("dataset", "")
        except KeyError as err:
            raise UserError(f"{path}: field {err.args[0]!r} missing") from None
        except (TypeError, ValueError) as err:
            raise UserError(f"{path}: malformed field ({err})") from None
        if not isinstance(view, bool):
            raise UserError(f"{path}: view must be true or false, got {view!r}")
        if not isinstance(dataset, str):
            raise UserError(f"{path}: dataset must be a name, got {dataset!r}")
        if weights.shape != (layout.num_joints, 3) or not np.isfinite(weights).all() or (weights < 0).any():
            raise UserError(
                f"{path}: weights must be {layout.num_joints} rows of 3 finite, non-negative numbers "
                f"(layout {layout.name})"
            )
        return cls(layout.name, tuple(map(tuple, weights.tolist())), view, classes, seed, dataset, str(path))


def _layout(name: object, path: Path) -> Layout:
    try:
        return get_layout(str(name))
    except UserError as err:
        raise UserError(f"{path}: layout: {err}") from None


def learn_weights(
    frames: np.ndarray,
    labels: np.ndarray,
    layout: Layout,
    view: bool,
    dataset: str,
    seed: int = 1,
    on_episode: Callable[[], None] = lambda: None,
) -> LearnedWeights:
    """Weights learned on normalised frames [N, T, V·3] of the auxiliary classes (the recipe above;
    :data:`EPISODES` calls of ``on_episode``)."""
    counts = {int(c): int((labels == c).sum()) for c in np.unique(labels)}
    if len(counts) < 2 or min(counts.values()) < 3:
        raise UserError(
            "learning DTW weights needs two or more auxiliary classes with three clips each; "
            f"the protocol gives {counts or 'none'}"
        )
    fmap = train_map(CoordinateWeights(frames.shape[-1]), frames, labels, seed, EPISODES, PENALTY, on_episode)
    w = fmap.weight.detach().clamp(min=0).numpy().reshape(layout.num_joints, 3)
    ids = tuple(c + 1 for c in counts)  # labels count from 0, class ids (a01, ...) from 1
    return LearnedWeights(layout.name, tuple(map(tuple, w.tolist())), view, ids, seed, dataset)


def readout_weights(path: Path | None) -> LearnedWeights | None:
    """``--dtw-weights`` of ``crossglg eval``, ``predict`` and ``transfer``: their joint read-outs
    match clips as recorded, so weights learned in the body frame would weigh the wrong axes."""
    if path is None:
        return None
    weights = LearnedWeights.load(path)
    if weights.view:
        raise UserError(
            f"{path}: learned with --view (the body frame); the read-outs match clips without it, "
            "so learn the weights without --view"
        )
    return weights


def dtw_inputs(sequences: Iterable[np.ndarray], layout: Layout, weights: LearnedWeights | None) -> np.ndarray:
    """The joint read-outs' input: normalised joints [N, T, V·3], each coordinate scaled by its
    learned weight when there are weights (DTW on scaled frames is DTW under the weighted metric)."""
    from crossglg.baselines.dtw import normalise

    frames = np.stack([normalise(s, layout) for s in sequences])
    return frames if weights is None else frames * np.asarray(weights.for_layout(layout))
