"""Mixed precision: the autocast type a run uses on its device (docs/TRAINING.md, "Configuration", `amp`)."""

from __future__ import annotations

import contextlib

from crossglg.train.config import TrainConfig


def amp_dtype(cfg: TrainConfig, device: str):
    """bf16 by default on CUDA; autocast on CPU is off unless asked for explicitly."""
    import torch

    choice = cfg.amp
    if choice == "auto":
        choice = "bf16" if device.startswith("cuda") else "off"
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "off": None}[choice]


def autocast_factory(device: str, dtype):
    import torch

    if dtype is None:
        return contextlib.nullcontext
    kind = "cuda" if device.startswith("cuda") else "cpu"
    return lambda: torch.autocast(device_type=kind, dtype=dtype)
