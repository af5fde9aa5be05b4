"""A run's working set, built from a configuration: data, text targets, model and optimiser.

Training, the dry run, evaluation and export all build it the same way, so a checkpoint's
configuration rebuilds exactly the model that wrote it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crossglg.train.config import TrainConfig
from crossglg.train.distributed import Dist
from crossglg.train.precision import amp_dtype


@dataclass
class Session:
    """Everything built from a configuration: data, text targets, model and optimiser."""

    cfg: TrainConfig
    dist: Dist
    device: str
    data: Any  # crossglg.train.data.RunData
    text: Any  # crossglg.train.data.TextTargets or None
    model: Any
    optimizer: Any = None
    scheduler: Any = None
    scaler: Any = None
    steps_per_epoch: int = 0
    history: list[dict] = field(default_factory=list)
    start_epoch: int = 0
    best: float = -1.0
    best_epoch: int = -1
    average: Any = None  # crossglg.train.averaging.WeightAverage when cfg.swa_epochs > 0


def build_session(
    cfg: TrainConfig, dist: Dist, device: str, for_training: bool = True, data: Any = None
) -> Session:
    """Data (unless already loaded), text targets, model and, for training, the optimiser."""
    import torch

    from crossglg.models import build_model
    from crossglg.train.data import TextTargets, load_run_data

    data = data if data is not None else load_run_data(cfg, device)
    text = None if cfg.no_text else TextTargets.load(cfg, data, device)
    model_cfg = {k: (dict(v) if isinstance(v, dict) else v) for k, v in cfg.model.items()}
    model_cfg["use_text"] = not cfg.no_text
    if text is not None:
        l2g = model_cfg.setdefault("l2g", {})
        l2g["text_dim"] = text.dim
        l2g["parts"] = list(text.part_names)
    model_cfg.setdefault("encoder", {}).setdefault("num_person", cfg.persons)
    model_cfg["encoder"].setdefault("in_channels", cfg.input_channels)
    model = build_model(cfg.encoder, data.layout, len(data.train_class_ids), model_cfg).to(device)
    s = Session(cfg=cfg, dist=dist, device=device, data=data, text=text, model=model)
    if for_training:
        per_rank = max(1, cfg.batch_size // dist.world)
        s.steps_per_epoch = max(1, len(data.train_idx) // (per_rank * dist.world))
        from crossglg.train.optim import build_optimizer
        from crossglg.train.schedule import make_scheduler

        s.optimizer = build_optimizer(model, cfg)
        s.scheduler = make_scheduler(
            s.optimizer, s.steps_per_epoch, cfg.warmup_epochs, cfg.lr_steps, cfg.lr_gamma
        )
        use_scaler = amp_dtype(cfg, device) == torch.float16
        s.scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
        if cfg.swa_epochs > 0:
            from crossglg.train.averaging import WeightAverage

            s.average = WeightAverage()
    return s


def count_parameters(module) -> int:
    return sum(p.numel() for p in module.parameters())
