"""``crossglg eval`` and a run's final evaluation: a checkpoint one-shot on the novel classes.

Every read-out side by side in results.json (docs/TRAINING.md, "Evaluation"), with the confusion
matrix and the joint-importance picture of samples the model never trained on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from crossglg.train import checkpoint as ckpt_io
from crossglg.train.distributed import Dist
from crossglg.train.oneshot import CLASSIFIERS, FUSION_WEIGHT, JOINT_READOUTS
from crossglg.train.precision import amp_dtype, autocast_factory
from crossglg.train.session import Session, build_session


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
) -> dict[str, Any]:
    """Re-evaluate a checkpoint on the novel classes with the chosen read-outs; write the report.

    ``run_data`` reuses the training run's loaded data instead of reading it a second time;
    ``picture`` names the samples of the joint-importance picture (default: novel exemplars).
    """
    import torch

    from crossglg.train.evaluate import (
        aux_stats,
        classify,
        dc_config,
        embed_features,
        within_joint_budget,
        write_results,
    )
    from crossglg.train.oneshot import Readouts

    path = ckpt_io.resolve(path)
    state = ckpt_io.load(path)
    cfg = ckpt_io.config_from(state, path)
    if data:
        cfg.data = data
    cfg.shots = shots
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    s = build_session(cfg, Dist(), device, for_training=False, data=run_data)
    s.model.load_state_dict(state["model"])
    amp_ctx = autocast_factory(device, amp_dtype(cfg, device))
    split = s.data.novel_split(shots)
    bs = cfg.eval_batch_size
    aux, _ = embed_features(s.model, s.data.batches, s.data.train_idx, bs, amp_ctx)
    sup, k_sup = embed_features(s.model, s.data.batches, split.support, bs, amp_ctx, "jfdtw" in classifiers)
    classifiers = within_joint_budget(classifiers, sup, len(split.query))
    query, _ = embed_features(s.model, s.data.batches, split.query, bs, amp_ctx, "jfdtw" in classifiers)
    if JOINT_READOUTS & set(classifiers):
        sup.joints, query.joints = _joints(s, split.support), _joints(s, split.query)
    readouts = Readouts(
        sup, split.support_labels, query, aux_stats(aux, s.data.train_labels, cfg.dc_beta),
        dc_config(cfg), fusion_weight=fusion_weight, seed=cfg.seed,
    )  # fmt: skip
    results = classify(readouts, split, classifiers)
    extra = {
        "checkpoint": str(path),
        "epoch": int(state["epoch"]) + 1,
        "protocol": cfg.protocol,
        "shots": shots,
        "text": not cfg.no_text,
        "encoder": cfg.encoder,
        "fusion_weight": fusion_weight,
    }
    names = s.data.prepared.names
    write_results(results, split, s.data.class_names, out_dir, extra, [names[int(i)] for i in split.query])
    if k_sup is not None:
        _joint_picture(
            s, [s.data.prepared.index_of(n) for n in picture] or list(split.support[:6]), out_dir, amp_ctx
        )
    summary: dict[str, Any] = {"results": str(out_dir / "results.json")}
    summary.update({name: r.accuracy for name, r in results.items()})
    summary.update({"n_query": len(split.query), "shots": shots})
    return summary


def _joints(s: Session, indices: np.ndarray) -> np.ndarray:
    """Normalised joints [N, T, V·3] of prepared samples, the input of the joint-space DTW read-out."""
    from crossglg.baselines.dtw import DTW_FRAMES, normalise

    return np.stack([normalise(s.data.prepared.sequence(int(i)), s.data.layout, DTW_FRAMES) for i in indices])


def _joint_picture(s: Session, indices: list[int], out_dir: Path, amp_ctx) -> None:
    """JID weights of chosen samples drawn on their skeletons (novel exemplars: never trained on)."""
    from crossglg.train.evaluate import embed
    from crossglg.train.plots import joint_importance

    idx = np.asarray(indices, dtype=np.int64)
    _, k = embed(s.model, s.data.batches, idx, s.cfg.eval_batch_size, amp_ctx)
    poses = np.stack([s.data.middle_pose(i) for i in idx])
    names = s.data.prepared.names
    titles = [f"{names[i]}\n{s.data.class_names.get(int(s.data.prepared.labels[i]) + 1, '')}" for i in idx]
    joint_importance(poses, k, s.data.layout.bones, titles, out_dir / "joint_importance.png")
