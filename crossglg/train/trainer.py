"""The training loop: one process per device, DDP when torchrun started several.

Exact resume rests on one rule: every random stream of epoch e is re-seeded from
(seed, e, rank) at the start of the epoch, and the shuffling from (seed, e). A checkpoint
written at the end of epoch e therefore holds everything the next epoch depends on
(model, optimiser, scheduler, grad scaler, history), and a killed run loses at most the
epoch in progress.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from crossglg.errors import UserError
from crossglg.train import checkpoint as ckpt_io
from crossglg.train.config import TrainConfig
from crossglg.train.distributed import Dist, all_mean, barrier
from crossglg.train.oneshot import CLASSIFIERS, FUSION_WEIGHT


def seed_all(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    return (seed * 1_000_003 + epoch * 9_973 + rank * 101) % 2**63


def set_deterministic(on: bool) -> None:
    """Bitwise-repeatable kernels; on CUDA this also needs a fixed cuBLAS workspace."""
    import torch

    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(on)
    torch.backends.cudnn.deterministic = on
    torch.backends.cudnn.benchmark = not on


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
    return s


def count_parameters(module) -> int:
    return sum(p.numel() for p in module.parameters())


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
        "meta": {
            "layout": s.data.layout.name,
            "dataset": s.data.dataset_name,
            "train_class_ids": list(s.data.train_class_ids),
            "parameters": count_parameters(s.model),
            "inference_parameters": count_parameters(inference),
            "world_size": s.dist.world,
        },
    }


def restore(s: Session, state: dict[str, Any]) -> None:
    s.model.load_state_dict(state["model"])
    if s.optimizer is not None and state.get("optimizer"):
        s.optimizer.load_state_dict(state["optimizer"])
        s.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            s.scaler.load_state_dict(state["scaler"])
    s.history = list(state.get("history", []))
    s.start_epoch = int(state["epoch"]) + 1
    s.best = float(state.get("best", -1.0))
    s.best_epoch = int(state.get("best_epoch", -1))


def _shard(s: Session, epoch: int) -> np.ndarray:
    """This rank's sample order for the epoch: [steps, per_rank] indices into the training set.

    The permutation depends only on (seed, epoch), identical on every rank; each rank takes
    an interleaved slice, and the tail that does not fill a global batch is dropped so all
    ranks run the same number of steps.
    """
    import torch

    g = torch.Generator().manual_seed(epoch_seed(s.cfg.seed, epoch, 0))
    n = len(s.data.train_idx)
    perm = torch.randperm(n, generator=g).numpy()
    per_rank = max(1, s.cfg.batch_size // s.dist.world)
    used = s.steps_per_epoch * per_rank * s.dist.world
    perm = np.resize(perm, used) if used > n else perm[:used]
    mine = perm.reshape(s.steps_per_epoch, per_rank * s.dist.world)[:, s.dist.rank :: s.dist.world]
    return mine


def train_epoch(s: Session, net, epoch: int, amp_ctx, progress=None) -> dict[str, float]:
    """One pass over this rank's shard; returns mean losses, train accuracy, timing shares.

    Losses and accuracy accumulate on the device and are read once per epoch, so the GPU
    never waits for the host inside the loop. A non-finite loss stops the run at the end of
    the epoch, before the checkpoint is written, so last.pt stays the last good epoch.
    """
    import torch

    seed_all(epoch_seed(s.cfg.seed, epoch, s.dist.rank))
    s.data.generator.manual_seed(epoch_seed(s.cfg.seed, epoch, s.dist.rank))
    s.model.train()
    order = _shard(s, epoch)
    labels = torch.as_tensor(s.data.train_labels, device=s.device)
    sums: dict[str, torch.Tensor] = {}
    correct = torch.zeros((), device=s.device)
    clock = _DataClock(s.device)
    t_start = time.perf_counter()
    for step_rows in order:
        with clock:
            x = s.data.batches(s.data.train_idx[step_rows], train=True)
            y = labels[torch.as_tensor(step_rows, device=s.device)]
        text_local = s.text.local[y] if s.text is not None else None
        text_bank = s.text.local if s.text is not None else None
        k_gt = s.text.k_gt[y] if s.text is not None else None
        with amp_ctx():
            out = net(x, text_local, text_bank)
            loss, parts = s.model.loss(out, y, k_gt)
        s.optimizer.zero_grad(set_to_none=True)
        s.scaler.scale(loss).backward()
        if s.cfg.grad_clip > 0:
            s.scaler.unscale_(s.optimizer)
            torch.nn.utils.clip_grad_norm_(s.model.parameters(), s.cfg.grad_clip)
        s.scaler.step(s.optimizer)
        s.scaler.update()
        s.scheduler.step()
        logged = {"loss": loss.detach(), **{f"loss_{k}": v for k, v in parts.items()}}
        if out.k_out is not None:  # 1/V when uniform, 1 when the JID puts all weight on one joint
            logged["jid_max"] = out.k_out.detach().max(1).values.mean()
        for key, value in logged.items():
            sums[key] = sums[key] + value.float() if key in sums else value.float()
        correct += (out.logits_s.argmax(1) == y).sum()
        if progress is not None:
            progress()
    n, seen = len(order), len(order) * order.shape[1]
    keys = sorted(sums)
    values = [float(sums[k]) / n for k in keys] + [float(correct) / max(1, seen)]  # waits for the device
    total = max(time.perf_counter() - t_start, 1e-9)
    if not all(np.isfinite(values)):
        raise UserError(
            f"epoch {epoch + 1}: the loss became {values[keys.index('loss')]}; lower --lr, or only the L2G "
            f"module's share of it (--set text_lr_mult=..., now {s.cfg.text_lr_mult}), clip gradients "
            "(--set grad_clip=1.0) or check the data"
        )
    values = all_mean(s.dist, values, s.device)
    row = dict(zip([*keys, "train_acc"], values, strict=True))
    row["data_wait_share"] = clock.seconds() / total
    row["samples_per_s"] = seen * s.dist.world / total
    return row


class _DataClock:
    """Time spent building batches: host time on CPU, CUDA events (no sync) on the GPU."""

    def __init__(self, device: str) -> None:
        self.cuda = device.startswith("cuda")
        self.spent = 0.0
        self.events: list = []

    def __enter__(self) -> None:
        if self.cuda:
            import torch

            self.events.append((torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)))
            self.events[-1][0].record()
        else:
            self._t0 = time.perf_counter()

    def __exit__(self, *exc) -> None:
        if self.cuda:
            self.events[-1][1].record()
        else:
            self.spent += time.perf_counter() - self._t0

    def seconds(self) -> float:
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            return sum(a.elapsed_time(b) for a, b in self.events) / 1000.0
        return self.spent


def validate(s: Session, amp_ctx) -> float | None:
    """Cosine one-shot accuracy on the held-out validation classes (model selection)."""
    from crossglg.train.evaluate import embed
    from crossglg.train.oneshot import cosine_predict

    split = s.data.val
    if split is None:
        return None
    z_sup, _ = embed(s.model, s.data.batches, split.support, s.cfg.eval_batch_size, amp_ctx)
    z_q, _ = embed(s.model, s.data.batches, split.query, s.cfg.eval_batch_size, amp_ctx)
    return float((cosine_predict(z_sup, split.support_labels, z_q) == split.query_labels).mean())


def run_training(cfg: TrainConfig, resume: bool, console=None) -> dict[str, Any]:
    """Train, checkpoint every epoch, keep the best validation checkpoint, evaluate it."""

    from crossglg.train.distributed import setup, teardown

    dist, device = setup(cfg.device)
    try:
        return _run(cfg, resume, dist, device, console)
    finally:
        teardown(dist)


def _run(cfg: TrainConfig, resume: bool, dist: Dist, device: str, console) -> dict[str, Any]:
    import torch

    from crossglg.train.runlog import RunLog

    out = Path(cfg.out)
    last = out / ckpt_io.LAST
    if out.exists() and (last.exists()) and not resume:
        raise UserError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    if resume and not last.exists():
        raise UserError(f"--resume: {last} not found")
    set_deterministic(cfg.deterministic)
    seed_all(cfg.seed)
    s = build_session(cfg, dist, device)
    if resume:
        state = ckpt_io.load(last)
        _check_resumable(cfg, state, last)
        restore(s, state)
    if dist.main:
        out.mkdir(parents=True, exist_ok=True)
        cfg.save(out / "config.toml")
    net = s.model
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [torch.device(device).index] if device.startswith("cuda") else None
        net = DDP(net, device_ids=ids, find_unused_parameters=cfg.ddp_find_unused)
    if cfg.compile:  # after DDP, so the compiler splits graphs at DDP's gradient buckets
        net = torch.compile(net)
    amp_ctx = autocast_factory(device, amp_dtype(cfg, device))
    log = RunLog(out, s.history) if dist.main else None
    progress = _progress(console, dist, cfg.epochs - s.start_epoch, s.steps_per_epoch)
    try:
        with progress.bar:
            for epoch in range(s.start_epoch, cfg.epochs):
                t0 = time.perf_counter()
                row = {"epoch": epoch + 1, "lr": s.optimizer.param_groups[0]["lr"]}
                row.update(train_epoch(s, net, epoch, amp_ctx, progress.step))
                if dist.main and ((epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs):
                    acc = validate(s, amp_ctx)
                    if acc is not None:
                        row["val_cosine"] = acc
                    score = acc if acc is not None else float(epoch)
                    if score >= s.best:  # on a tie the later, longer-trained epoch wins
                        s.best, s.best_epoch = score, epoch + 1
                        row["best"] = 1
                row["epoch_s"] = time.perf_counter() - t0
                if dist.main:
                    log.add(row)
                    s.history = log.history
                    state = checkpoint_state(s, epoch)
                    ckpt_io.save_atomic(state, out / ckpt_io.LAST)
                    if row.get("best"):
                        ckpt_io.save_atomic(state, out / ckpt_io.BEST)
                    progress.epoch(row)
                barrier(dist)
    finally:
        if log is not None:
            log.close()
    summary: dict[str, Any] = {"run": str(out), "epochs": cfg.epochs, "best_epoch": s.best_epoch}
    if dist.main:
        from crossglg.train.plots import training_curves

        training_curves(s.history, out / "curves.png")
        if s.data.val is not None:
            summary["best_val_cosine"] = s.best
        if cfg.evaluate_novel:
            best = out / (ckpt_io.BEST if (out / ckpt_io.BEST).exists() else ckpt_io.LAST)
            summary.update(
                evaluate_checkpoint(best, out / "eval", device=device, shots=cfg.shots, run_data=s.data)
            )
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


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


def _check_resumable(cfg: TrainConfig, state: dict, path: Path) -> None:
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
}


@dataclass
class _Progress:
    bar: Any
    step: Any
    epoch: Any


def _progress(console, dist: Dist, epochs: int, steps: int) -> _Progress:
    """A rich bar over all remaining steps on rank 0, and one printed line per epoch."""
    if console is None or not dist.main:
        return _Progress(contextlib.nullcontext(), None, lambda row: None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("train"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console
    )
    task = bar.add_task("train", total=max(1, epochs * steps))

    def epoch_line(row: dict) -> None:
        parts = [f"epoch {row['epoch']}", f"loss {row['loss']:.4f}", f"train_acc {row['train_acc']:.3f}"]
        if "val_cosine" in row:
            parts.append(f"val_cosine {row['val_cosine']:.3f}")
        if "jid_max" in row:
            parts.append(f"jid_max {row['jid_max']:.2f}")
        parts.append(f"data_wait {100 * row['data_wait_share']:.0f}%")
        bar.console.print("  ".join(parts) + ("  *" if row.get("best") else ""))

    return _Progress(bar, lambda: bar.advance(task), epoch_line)


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

    from crossglg.train.evaluate import aux_stats, classify, dc_config, embed_features, write_results
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
    sup, k_sup = embed_features(s.model, s.data.batches, split.support, bs, amp_ctx)
    query, _ = embed_features(s.model, s.data.batches, split.query, bs, amp_ctx)
    if {"dtw", "fused"} & set(classifiers):
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
