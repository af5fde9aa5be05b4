"""What a checkpoint holds of a run, and the checks before a run continues from one.

A checkpoint written at the end of epoch e holds everything the next epoch depends on (model,
optimiser, scheduler, grad scaler, history, best score); with the per-epoch seeds of
seeding.py a resumed run equals an uninterrupted one (docs/TRAINING.md, "Resume").
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from crossglg.errors import UserError
from crossglg.train import checkpoint as ckpt_io
from crossglg.train.config import TrainConfig
from crossglg.train.session import Session, count_parameters


def last_checkpoint(out: Path, resume: bool) -> Path:
    """The run's last.pt, once the run directory agrees with ``--resume`` (or its absence)."""
    last = out / ckpt_io.LAST
    if out.exists() and last.exists() and not resume:
        raise UserError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    if resume and not last.exists():
        raise UserError(f"--resume: {last} not found")
    return last


def resume_from(s: Session, last: Path) -> None:
    """Continue ``s`` from the checkpoint at ``last``, which must have been written by the same run."""
    state = ckpt_io.load(last)
    check_resumable(s.cfg, state, last)
    restore(s, state, last)


def checkpoint_state(s: Session, epoch: int) -> dict[str, Any]:
    inference = s.model.inference_model()
    config, moved = ckpt_io.portable_config(s.cfg.to_dict(), Path(s.cfg.out))
    return {
        "format": "crossglg-train/1",
        "config": config,
        ckpt_io.RUN_RELATIVE: moved,
        "epoch": epoch,
        "model": s.model.state_dict(),
        "optimizer": s.optimizer.state_dict() if s.optimizer else None,
        "scheduler": s.scheduler.state_dict() if s.scheduler else None,
        "scaler": s.scaler.state_dict() if s.scaler else None,
        "history": s.history,
        "best": s.best,
        "best_epoch": s.best_epoch,
        "average": s.average.state_dict() if s.average is not None else None,
        "meta": {
            "layout": s.data.layout.name,
            "dataset": s.data.dataset_name,
            "train_class_ids": list(s.data.train_class_ids),
            "parameters": count_parameters(s.model),
            "inference_parameters": count_parameters(inference),
            "world_size": s.dist.world,
        },
    }


def restore(s: Session, state: dict[str, Any], path: Path) -> None:
    """Put the checkpoint's model, optimiser, schedule and history back into ``s``.

    ``check_resumable`` has found the same configuration, so a state dict that does not fit was
    altered after it was written: one line naming ``path`` and the part, not torch's ValueError.
    """
    ckpt_io.load_model(s.model, state, path)
    optimising = s.optimizer is not None and state.get("optimizer")
    for key in (*(("optimizer", "scheduler", "scaler") if optimising else ()), "average"):
        part = getattr(s, key)
        if part is None or not state.get(key):
            continue
        try:
            part.load_state_dict(state[key])
        except (RuntimeError, TypeError, ValueError, KeyError, IndexError, AttributeError) as err:
            raise UserError(
                f"checkpoint {path}: its {key} state does not fit this run ({type(err).__name__}: "
                f"{' '.join(str(err).split())[:200]}); the file was altered or damaged"
            ) from None
    s.history = list(state.get("history", []))
    s.start_epoch = int(state["epoch"]) + 1
    s.best = float(state.get("best", -1.0))
    s.best_epoch = int(state.get("best_epoch", -1))


def check_resumable(cfg: TrainConfig, state: dict, path: Path) -> None:
    """Only the schedule length may change on resume; anything else would not be the same run."""
    saved = {**_BEFORE_THEIR_TIME, **ckpt_io.run_config(state, path)}
    now = cfg.to_dict()
    for key in state.get(ckpt_io.RUN_RELATIVE, ()):  # the same file, however it is spelt
        now[key] = os.path.normpath(os.path.abspath(now[key])) if now.get(key) else now.get(key)
    for key in ("epochs", "out", "device", "eval_every", "compile"):
        saved.pop(key, None)
        now.pop(key, None)
    diff = sorted(k for k in now if now[k] != saved.get(k))
    if diff:
        found = ", ".join(f"{k} (checkpoint {saved.get(k)!r}, now {now[k]!r})" for k in diff)
        raise UserError(f"--resume: the configuration differs from the checkpoint's in {found}")


# keys added after checkpoints were first written, with the value that older runs trained with,
# so such a run resumes with e.g. --set text_lr_mult=1
_BEFORE_THEIR_TIME = {
    "text_lr_mult": 1.0,
    "crop_ratio": [0.5, 1.0],
    "crop_min_frames": 64,
    "normalize_scale": False,
    "aug_rotation": 0.3,
    "aug_scale": 0.0,
    "aug_shear": 0.0,
    "aug_mirror": 0.0,
    "aug_speed": 0.0,
    "holdout_classes": 0,
    "holdout_fold": 0,
    "evaluate_novel": True,
    "text_control": "none",
    "swa_epochs": 0,
    "input_stream": "joint",
    "aug_partmix": 0.0,
    "partmix_labels": "text",
}
