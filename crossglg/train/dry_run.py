"""``crossglg train --dry-run``: what a run would build, in numbers, before hours are spent on it."""

from __future__ import annotations

from typing import Any

from crossglg.train.config import TrainConfig
from crossglg.train.distributed import Dist
from crossglg.train.session import build_session, count_parameters


def dry_run(cfg: TrainConfig) -> dict[str, Any]:
    """What a run would do, built on the CPU in one process: nothing is trained or written."""
    s = build_session(cfg, Dist(), "cpu")
    return {
        "config": cfg.to_dict(),
        "data": s.data.counts(),
        "text": None if s.text is None else {"parts": s.text.part_names, "dim": s.text.dim},
        "parameters": count_parameters(s.model),
        "inference_parameters": count_parameters(s.model.inference_model()),
        "steps_per_epoch": s.steps_per_epoch,
        "total_steps": s.steps_per_epoch * cfg.epochs,
    }
