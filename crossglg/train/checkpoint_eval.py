"""``crossglg eval`` and a run's final evaluation: a checkpoint one-shot on the novel classes.

Every read-out side by side in results.json (docs/TRAINING.md, "Evaluation"), with the confusion
matrix and the joint-importance picture of samples the model never trained on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from crossglg.baselines.dtw_weights import LearnedWeights, readout_weights
from crossglg.errors import UserError
from crossglg.train import checkpoint as ckpt_io
from crossglg.train.compare import RESULTS_NAME
from crossglg.train.data import OneShotSplit
from crossglg.train.distributed import Dist
from crossglg.train.oneshot import (
    CLASSIFIERS,
    FUSION_WEIGHT,
    JOINT_READOUTS,
    Ensemble,
    Readouts,
    ScoreSource,
    combined,
)
from crossglg.train.precision import amp_dtype, autocast_factory
from crossglg.train.run_lock import run_lock
from crossglg.train.session import Session, build_session


@dataclass
class _Member:
    """One checkpoint loaded and read out on its novel split."""

    path: Path
    epoch: int
    session: Session
    split: OneShotSplit
    readouts: ScoreSource  # Readouts, or an Ensemble of them over the test-time views
    classifiers: tuple[str, ...]
    has_jid: bool  # the model weighs joints (its support set gave JID weights)


JOINT_PICTURE = "joint_importance.png"
TTA_VIEWS = ("mirror",)  # test-time views besides the samples as they are


def check_views(views: Sequence[str]) -> tuple[str, ...]:
    """The test-time views asked for, each known and named once."""
    for v in views:
        if v not in TTA_VIEWS:
            raise UserError(f"--tta {v!r}: choose from {', '.join(TTA_VIEWS)}")
    if len(set(views)) < len(views):
        raise UserError("--tta: a view is named twice")
    return tuple(views)


def _view(s: Session, view: str):
    """The session's batch function, seen through a test-time view."""
    if not view:
        return s.data.batches
    from crossglg.data.preprocess import mirror_input

    def mirrored(idx: np.ndarray, train: bool):
        return mirror_input(s.data.batches(idx, train), s.data.layout)

    return mirrored


def _read_out(
    path: Path,
    device: str,
    shots: int,
    data: str,
    run_data: Any,
    classifiers: tuple[str, ...],
    fusion_weight: float,
    views: tuple[str, ...] = (),
    model_free: dict | None = None,
    weights: LearnedWeights | None = None,
) -> _Member:
    """Load a checkpoint and compute what its read-outs need on the novel classes, in every view.

    With test-time views each view is read out as if it were another model and the views are
    averaged like a seed ensemble (:class:`Ensemble`); statistics of the auxiliary classes are
    taken in the same view, so centring matches the features it centres. The views share one
    store of model-free scores (``model_free``, passed on to share it with other checkpoints of
    the same split): joint DTW runs once. ``weights``: coordinate weights of the joint read-outs
    (``crossglg baseline dtw --save-weights``), refused if learned on a novel class.
    """
    import torch

    from crossglg.train.evaluate import aux_stats, dc_config, embed_features, within_joint_budget

    path = ckpt_io.resolve(path)
    state = ckpt_io.load(path)
    cfg = ckpt_io.config_from(state, path)
    if data:
        cfg.data = data
    cfg.shots = shots
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    s = build_session(cfg, Dist(), device, for_training=False, data=run_data)
    ckpt_io.load_model(s.model, state, path)
    amp_ctx = autocast_factory(device, amp_dtype(cfg, device))
    split = s.data.novel_split(shots)
    bs = cfg.eval_batch_size
    model_free = {} if model_free is None else model_free
    joints = None
    if JOINT_READOUTS & set(classifiers):
        if weights is not None:
            weights.check_unseen(s.data.dataset_name, split.class_ids)
        joints = _joints(s, split.support, weights), _joints(s, split.query, weights)
    per_view, has_jid = [], False
    for view in ("", *views):
        batches = _view(s, view)
        aux, _ = embed_features(s.model, batches, s.data.train_idx, bs, amp_ctx)
        sup, k_sup = embed_features(s.model, batches, split.support, bs, amp_ctx, "jfdtw" in classifiers)
        classifiers = within_joint_budget(classifiers, sup, len(split.query))
        query, _ = embed_features(s.model, batches, split.query, bs, amp_ctx, "jfdtw" in classifiers)
        if joints is not None:
            sup.joints, query.joints = joints
        per_view.append(Readouts(
            sup, split.support_labels, query, aux_stats(aux, s.data.train_labels, cfg.dc_beta),
            dc_config(cfg), fusion_weight=fusion_weight, seed=cfg.seed, model_free=model_free,
        ))  # fmt: skip
        has_jid = has_jid or k_sup is not None
    readouts = combined(per_view)
    return _Member(path, int(state["epoch"]) + 1, s, split, readouts, classifiers, has_jid)


def evaluate_checkpoint(
    path: Path,
    out_dir: Path,
    device: str = "",
    shots: int = 1,
    data: str = "",
    run_data: Any = None,
    picture: list[str] = (),
    classifiers: tuple[str, ...] = CLASSIFIERS,
    fusion_weight: float = FUSION_WEIGHT,
    views: tuple[str, ...] = (),
    dtw_weights: Path | None = None,
) -> dict[str, Any]:
    """Re-evaluate a checkpoint on the novel classes with the chosen read-outs; write the report.

    ``run_data`` reuses the training run's loaded data instead of reading it a second time;
    ``picture`` names the samples of the joint-importance picture (default: novel exemplars);
    ``views``: test-time views averaged with the samples as they are (:data:`TTA_VIEWS`);
    ``dtw_weights``: the joint read-outs' coordinate weights (:func:`_read_out`).
    """
    weights = readout_weights(dtw_weights)
    m = _read_out(path, device, shots, data, run_data, classifiers, fusion_weight, views, weights=weights)
    s = m.session
    extra = {"checkpoint": str(m.path), "epoch": m.epoch, "protocol": s.cfg.protocol, "shots": shots,
             "text": not s.cfg.no_text, "encoder": s.cfg.encoder, "fusion_weight": fusion_weight,
             "tta": list(views), "dtw_weights": _source(weights)}  # fmt: skip
    with evaluation_folder(out_dir):
        summary = _write(m, m.readouts, m.classifiers, out_dir, extra)
        if m.has_jid:
            amp_ctx = autocast_factory(s.device, amp_dtype(s.cfg, s.device))
            _joint_picture(
                s,
                [s.data.prepared.index_of(n) for n in picture] or list(m.split.support[:6]),
                out_dir,
                amp_ctx,
            )
    return summary


def evaluate_ensemble(
    paths: list[Path],
    out_dir: Path,
    device: str = "",
    shots: int = 1,
    data: str = "",
    classifiers: tuple[str, ...] = CLASSIFIERS,
    fusion_weight: float = FUSION_WEIGHT,
    views: tuple[str, ...] = (),
    dtw_weights: Path | None = None,
) -> dict[str, Any]:
    """Several checkpoints of one split evaluated as one model (:class:`Ensemble`); write the report.

    The members must share the novel split (protocol, data, exemplars and queries): averaging the
    scores of different queries would be meaningless, so a mismatch is an error naming the checkpoint.
    """
    weights = readout_weights(dtw_weights)  # read once for every member
    members: list[_Member] = []
    model_free: dict = {}  # one split for all members (checked below, before any score is computed)
    for path in paths:
        m = _read_out(path, device, shots, data, None, classifiers, fusion_weight, views, model_free, weights)
        if members:
            _same_split(members[0], m)
        members.append(m)
        classifiers = m.classifiers  # a read-out one member cannot afford is left out for all
    first = members[0].session
    extra = {"checkpoints": [str(m.path) for m in members], "epochs": [m.epoch for m in members],
             "protocol": first.cfg.protocol, "shots": shots, "encoder": first.cfg.encoder,
             "fusion_weight": fusion_weight, "tta": list(views), "dtw_weights": _source(weights)}  # fmt: skip
    with evaluation_folder(out_dir):
        summary = _write(members[0], Ensemble([m.readouts for m in members]), classifiers, out_dir, extra)
    summary["models"] = len(members)
    return summary


@contextlib.contextmanager
def evaluation_folder(out_dir: Path, command: str = "eval") -> Iterator[None]:
    """The evaluation folder, made once the checkpoints are read, and held for the writing: two
    evaluations into one folder used to leave one's results.json beside the other's confusion
    PNGs; now the second is refused in one line (docs/TRAINING.md, "Evaluation"). ``command``
    names the holder in that line (``eval``, ``transfer``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with run_lock(out_dir, command):
        yield


def _source(weights: LearnedWeights | None) -> str | None:
    """The weights file as results.json records it."""
    return None if weights is None else weights.source


def _same_split(first: _Member, other: _Member) -> None:
    a, b = first.split, other.split
    same = a.class_ids == b.class_ids and all(
        np.array_equal(x, y)
        for x, y in ((a.support, b.support), (a.query, b.query), (a.query_labels, b.query_labels))
    )
    if not same or first.session.data.prepared.names != other.session.data.prepared.names:
        raise UserError(
            f"{other.path}: its novel split (protocol {other.session.cfg.protocol}) differs from {first.path}'s "
            f"(protocol {first.session.cfg.protocol}); an ensemble needs models of one split and dataset"
        )


def _write(
    m: _Member, scores: ScoreSource, classifiers: tuple[str, ...], out_dir: Path, extra: dict[str, Any]
) -> dict[str, Any]:
    """results.json and the confusion PNGs of ``scores`` on member ``m``'s split; the printed summary."""
    from crossglg.train.evaluate import classify, write_results

    s = m.session
    results = classify(scores, m.split, classifiers)
    names = s.data.prepared.names
    query_names = [names[int(i)] for i in m.split.query]
    write_results(results, m.split, s.data.class_names, out_dir, extra, query_names)
    # an earlier evaluation's joint picture would pass for this one's; a model with a JID draws its own
    (out_dir / JOINT_PICTURE).unlink(missing_ok=True)
    summary: dict[str, Any] = {"results": str(out_dir / RESULTS_NAME)}
    summary.update({name: r.accuracy for name, r in results.items()})
    summary.update({"n_query": len(m.split.query), "shots": extra["shots"]})
    if extra["dtw_weights"]:  # the figures differ with and without it: say so beside them
        summary["dtw_weights"] = extra["dtw_weights"]
    return summary


def _joints(s: Session, indices: np.ndarray, weights: LearnedWeights | None) -> np.ndarray:
    """Normalised joints [N, T, V·3] of prepared samples, the input of the joint-space DTW read-out."""
    from crossglg.baselines.dtw_weights import dtw_inputs

    return dtw_inputs((s.data.prepared.sequence(int(i)) for i in indices), s.data.layout, weights)


def _joint_picture(s: Session, indices: list[int], out_dir: Path, amp_ctx) -> None:
    """JID weights of chosen samples drawn on their skeletons (novel exemplars: never trained on)."""
    from crossglg.train.evaluate import embed
    from crossglg.train.plots import joint_importance

    idx = np.asarray(indices, dtype=np.int64)
    _, k = embed(s.model, s.data.batches, idx, s.cfg.eval_batch_size, amp_ctx)
    poses = np.stack([s.data.middle_pose(i) for i in idx])
    names = s.data.prepared.names
    titles = [f"{names[i]}\n{s.data.class_names.get(int(s.data.prepared.labels[i]) + 1, '')}" for i in idx]
    joint_importance(poses, k, s.data.layout.bones, titles, out_dir / JOINT_PICTURE)
