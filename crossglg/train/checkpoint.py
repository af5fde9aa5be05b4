"""Checkpoints written atomically, so a run killed mid-write still has its previous epoch."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from crossglg.errors import UserError

LAST = "last.pt"
BEST = "best.pt"


def save_atomic(obj: dict[str, Any], path: Path) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over the target."""
    import torch

    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        torch.save(obj, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load(path: Path) -> dict[str, Any]:
    import torch

    if not Path(path).is_file():
        raise UserError(f"checkpoint {path} not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # a truncated or foreign file
        raise UserError(f"checkpoint {path} cannot be read: {err}") from None
    if not isinstance(ckpt, dict) or "config" not in ckpt or "model" not in ckpt:
        raise UserError(f"checkpoint {path} is not a crossglg training checkpoint")
    return ckpt


def resolve(path: Path) -> Path:
    """Accept a run directory as well as a checkpoint file: the directory means its best.pt."""
    path = Path(path)
    if path.is_dir():
        for name in (BEST, LAST):
            if (path / name).is_file():
                return path / name
        raise UserError(f"run directory {path} holds no {BEST} or {LAST}")
    return path
