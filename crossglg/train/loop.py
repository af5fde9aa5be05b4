"""The training loop: one process per device, DDP when torchrun started several.

Exact resume rests on one rule: every random stream of epoch e is re-seeded from
(seed, e, rank) at the start of the epoch, and the shuffling from (seed, e). A checkpoint
written at the end of epoch e therefore holds everything the next epoch depends on
(model, optimiser, scheduler, grad scaler, history), and a killed run loses at most the
epoch in progress.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from crossglg.errors import UserError
from crossglg.outputs import write_whole
from crossglg.train import checkpoint as ckpt_io
from crossglg.train.config import TrainConfig
from crossglg.train.distributed import Dist, all_mean, barrier
from crossglg.train.precision import amp_dtype, autocast_factory
from crossglg.train.reporting import DataClock, epoch_progress
from crossglg.train.resume import checkpoint_state, last_checkpoint, resume_from
from crossglg.train.run_lock import run_lock
from crossglg.train.seeding import epoch_seed, seed_all, set_deterministic
from crossglg.train.session import Session, build_session


def run_training(cfg: TrainConfig, resume: bool, console=None) -> dict[str, Any]:
    """Train, checkpoint every epoch, keep the best validation checkpoint, evaluate it."""

    from crossglg.train.distributed import setup, teardown

    dist, device = setup(cfg.device)
    try:
        return _run(cfg, resume, dist, device, console)
    finally:
        teardown(dist)


def _run(cfg: TrainConfig, resume: bool, dist: Dist, device: str, console) -> dict[str, Any]:
    out = Path(cfg.out)
    last = last_checkpoint(out, resume)
    set_deterministic(cfg.deterministic)
    seed_all(cfg.seed)
    s = build_session(cfg, dist, device)  # the inputs are read before the run folder is made
    if dist.main:
        out.mkdir(parents=True, exist_ok=True)
    with run_lock(out, "train", hold=dist.main):  # before resume reads last.pt another run could be writing
        if resume:
            resume_from(s, last)
        if dist.main:
            cfg.save(out / "config.toml")
        _epochs(s, _wrapped(s), out, autocast_factory(device, amp_dtype(cfg, device)), console)
        summary: dict[str, Any] = {"run": str(out), "epochs": cfg.epochs, "best_epoch": s.best_epoch}
        if dist.main:
            if s.average is not None:
                _install_average(s, out, summary, autocast_factory(device, amp_dtype(cfg, device)))
            _finish(s, out, summary)
    return summary


def _wrapped(s: Session):
    """The module the steps run: the model, under DDP with several processes, compiled if asked."""
    import torch

    net = s.model
    if s.dist.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [torch.device(s.device).index] if s.device.startswith("cuda") else None
        net = DDP(net, device_ids=ids, find_unused_parameters=s.cfg.ddp_find_unused)
    if s.cfg.compile:  # after DDP, so the compiler splits graphs at DDP's gradient buckets
        net = torch.compile(net)
    return net


def _epochs(s: Session, net, out: Path, amp_ctx, console) -> None:
    """Train the remaining epochs; rank 0 validates, logs and checkpoints after each."""
    from crossglg.train.runlog import RunLog

    cfg, dist = s.cfg, s.dist
    log = RunLog(out, s.history) if dist.main else None
    progress = epoch_progress(console, dist, cfg.epochs - s.start_epoch, s.steps_per_epoch)
    try:
        with progress.bar:
            for epoch in range(s.start_epoch, cfg.epochs):
                t0 = time.perf_counter()
                row = {"epoch": epoch + 1, "lr": s.optimizer.param_groups[0]["lr"]}
                row.update(train_epoch(s, net, epoch, amp_ctx, progress.step))
                if dist.main and s.average is not None and epoch >= cfg.epochs - cfg.swa_epochs:
                    s.average.update(s.model, cfg.epochs - cfg.swa_epochs)
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


def _install_average(s: Session, out: Path, summary: dict[str, Any], amp_ctx) -> None:
    """Make the mean of the last ``swa_epochs`` epochs the run's model: BatchNorm statistics
    re-estimated on the training samples, written as best.pt (last.pt keeps the last epoch's own
    weights, which a resumed run continues from)."""
    from crossglg.train.averaging import recompute_batchnorm

    s.model.load_state_dict(s.average.averaged_state(s.model))
    s.data.generator.manual_seed(epoch_seed(s.cfg.seed, s.cfg.epochs, 0))
    idx, bs = s.data.train_idx, s.cfg.batch_size
    batches = (s.data.batches(idx[i : i + bs], train=True) for i in range(0, len(idx), bs))
    with amp_ctx():
        recompute_batchnorm(s.model.skeleton, batches, s.model.skeleton.features)
    s.model.eval()
    first = s.cfg.epochs - s.average.count + 1
    summary["averaged_epochs"] = [first, s.cfg.epochs]
    acc = validate(s, amp_ctx)
    if acc is not None:
        summary["averaged_val_cosine"] = acc
    s.best_epoch = summary["best_epoch"] = s.cfg.epochs
    ckpt_io.save_atomic(checkpoint_state(s, s.cfg.epochs - 1), out / ckpt_io.BEST)


def _finish(s: Session, out: Path, summary: dict[str, Any]) -> None:
    """Rank 0 after the last epoch: the curves, the best checkpoint's evaluation into ``summary``,
    then summary.json."""
    from crossglg.train.checkpoint_eval import evaluate_checkpoint
    from crossglg.train.plots import training_curves

    training_curves(s.history, out / "curves.png")
    if s.data.val is not None:
        summary["best_val_cosine"] = s.best
    if s.cfg.evaluate_novel:
        best = out / (ckpt_io.BEST if (out / ckpt_io.BEST).exists() else ckpt_io.LAST)
        summary.update(
            evaluate_checkpoint(best, out / "eval", device=s.device, shots=s.cfg.shots, run_data=s.data)
        )
    write_whole(out / "summary.json", json.dumps(summary, indent=1), "summary")


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
    mixer = _mixer(s)
    sums: dict[str, torch.Tensor] = {}
    correct = torch.zeros((), device=s.device)
    clock = DataClock(s.device)
    t_start = time.perf_counter()
    for step_rows in order:
        with clock:
            x = s.data.batches(s.data.train_idx[step_rows], train=True)
            y = labels[torch.as_tensor(step_rows, device=s.device)]
            soft = None
            if mixer is not None:
                x, soft = mixer(x, y, s.data.generator)
        text_local = s.text.local[y] if s.text is not None else None
        text_bank = s.text.local if s.text is not None else None
        k_gt = s.text.k_gt[y] if s.text is not None else None
        similarity = s.text.similarity[y] if s.text is not None else None
        with amp_ctx():
            out = net(x, text_local, text_bank)
            loss, parts = s.model.loss(out, y, k_gt, similarity, soft_target=soft)
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


def _mixer(s: Session):
    """The run's part mixer (partmix.py), or None when ``aug_partmix`` is 0."""
    if s.cfg.aug_partmix <= 0:
        return None
    from crossglg.train.partmix import part_mixer

    k_gt = s.text.k_gt if s.text is not None else None
    classes = len(s.data.train_class_ids)
    return part_mixer(s.cfg.aug_partmix, s.cfg.partmix_labels, s.data.layout, k_gt, classes, s.device)


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
