"""One-shot evaluation of a skeleton encoder: embed, classify with every read-out, report.

Used for model selection on the validation classes during training (cosine only, cheap)
and for the final report on the novel classes (every read-out of docs/TRAINING.md).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from crossglg.errors import UserError
from crossglg.outputs import write_whole
from crossglg.train.compare import RESULTS_NAME
from crossglg.train.oneshot import (
    CLASSIFIERS,
    AuxStats,
    BaseStats,
    DCConfig,
    Features,
    Readouts,
    Report,
    report,
)

if TYPE_CHECKING:
    from crossglg.train.config import TrainConfig
    from crossglg.train.data import OneShotSplit


def embed(
    model, batches, indices: np.ndarray, batch_size: int, amp_ctx
) -> tuple[np.ndarray, np.ndarray | None]:
    """z_s (and the JID joint weights when the model has a JID) for ``indices``, in order.

    ``batches(idx, train=False)`` yields test-mode input [N, 3, T, V, M] on the model's device.
    """
    feats, k = embed_features(model, batches, indices, batch_size, amp_ctx)
    return feats.z, k


def embed_features(
    model, batches, indices: np.ndarray, batch_size: int, amp_ctx, joint_frames: bool = False
) -> tuple[Features, np.ndarray | None]:
    """z_s, the per-frame last-block features and their per-joint mean (the read-outs' inputs),
    and the JID weights; the per-joint features themselves only with ``joint_frames`` (they are
    V times larger: keep them for the support and query sets, never for a whole training set)."""
    import torch

    from crossglg.models.jid import person_average

    model.eval()
    zs, frames, kept, ks = [], [], [], []
    total, count = None, 0
    with torch.no_grad(), amp_ctx():
        for start in range(0, len(indices), batch_size):
            feats = model.skeleton.features(batches(indices[start : start + batch_size], train=False))
            zs.append(feats.z.float().cpu().numpy())
            per_joint = feats.joint_frames().float()  # frames() is its mean over the joints
            frames.append(per_joint.mean(2).cpu().numpy())
            batch_sum = per_joint.sum((0, 1)).cpu().numpy().astype(np.float64)
            total = batch_sum if total is None else total + batch_sum
            count += per_joint.shape[0] * per_joint.shape[1]
            if joint_frames:
                kept.append(per_joint.cpu().numpy())
            if feats.k_person is not None:
                ks.append(person_average(feats.k_person, feats.mask).cpu().numpy())
    if not zs:
        return Features(np.zeros((0, 0), np.float32), np.zeros((0, 0, 0), np.float32)), None
    out = Features(np.concatenate(zs), np.concatenate(frames), joint_mean=total / max(count, 1))
    if joint_frames:
        out.joint_frames = np.concatenate(kept)
    return out, (np.concatenate(ks) if ks else None)


# the most bytes of per-joint query features jfdtw may hold (its DTW needs about 4× that at its peak)
JOINT_FRAMES_BUDGET = 1 << 30


def within_joint_budget(classifiers: tuple[str, ...], support: Features, n_query: int) -> tuple[str, ...]:
    """``classifiers`` without jfdtw when the per-joint features of ``n_query`` queries, each as
    large as one of ``support``'s, would not fit the budget.

    A large query set (NTU-120's one-shot protocol: tens of thousands of clips) would need
    many GiB for jfdtw alone; the other read-outs still run, and one line says why jfdtw did not.
    Asked for alone, it is a user error instead.
    """
    if support.joint_frames is None or not len(support.joint_frames):
        return classifiers
    need = n_query * support.joint_frames[0].nbytes
    if "jfdtw" not in classifiers or need <= JOINT_FRAMES_BUDGET:
        return classifiers
    why = f"jfdtw: {n_query} queries need {need / 2**30:.1f} GiB of per-joint features (limit 1 GiB)"
    if classifiers == ("jfdtw",):
        raise UserError(f"--classifier {why}; evaluate a smaller query set")
    print(f"left out {why}", file=sys.stderr)
    return tuple(c for c in classifiers if c != "jfdtw")


def aux_stats(z: Features, labels: np.ndarray, beta: float) -> AuxStats:
    """DC's per-class statistics of z_s and CL2N's mean, from the auxiliary training samples."""
    return AuxStats(
        base=BaseStats.from_embeddings(z.z, labels, beta), mean=z.pooled.mean(0), joint_mean=z.joint_mean
    )


def dc_config(cfg: TrainConfig) -> DCConfig:
    return DCConfig(
        beta=cfg.dc_beta, k=cfg.dc_k, alpha=cfg.dc_alpha, samples=cfg.dc_samples, max_iter=cfg.dc_max_iter
    )


def classify(readouts: Readouts, split: OneShotSplit, classifiers: tuple[str, ...]) -> dict[str, Report]:
    """The accuracy report of each requested read-out on one split."""
    return {n: report(split.query_labels, readouts.predict(n), split.class_ids) for n in classifiers}


def write_results(
    results: dict[str, Report],
    split: OneShotSplit,
    class_names: dict[int, str],
    out_dir: Path,
    extra: dict,
    query_names: list[str] | None = None,
) -> Path:
    """results.json (with every query's truth and predictions) plus one confusion PNG per read-out."""
    from crossglg.train.plots import confusion

    out_dir.mkdir(parents=True, exist_ok=True)
    doc = dict(extra)
    doc.update(
        {
            "classes": {str(c): class_names.get(c, str(c)) for c in split.class_ids},
            "n_support": len(split.support),
            "n_query": len(split.query),
            "queries": query_names or [],
            "truth": [int(t) for t in split.query_labels],
            "classifiers": {name: r.to_json() for name, r in results.items()},
        }
    )
    path = out_dir / RESULTS_NAME
    write_whole(path, json.dumps(doc, indent=1), "results")
    labels = [f"{c} {class_names.get(c, '')}".strip() for c in split.class_ids]
    for name, r in results.items():
        title = f"{name}: one-shot accuracy {100 * r.accuracy:.1f}% ({len(split.query)} queries)"
        confusion(r.confusion, labels, title, out_dir / f"confusion_{name}.png")
    # pictures of read-outs an earlier evaluation drew, which this results.json no longer backs
    for name in set(CLASSIFIERS) - set(results):
        (out_dir / f"confusion_{name}.png").unlink(missing_ok=True)
    return path
