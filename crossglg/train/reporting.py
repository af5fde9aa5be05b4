"""What a training run shows while it runs: a progress bar with one line per epoch, and the
clock behind each epoch's ``data_wait_share`` (the per-epoch files are runlog.py's)."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

from crossglg.train.distributed import Dist


@dataclass
class Progress:
    bar: Any  # a context manager around the epochs
    step: Any  # called after every optimiser step, or None
    epoch: Any  # called with each epoch's metrics row


def epoch_progress(console, dist: Dist, epochs: int, steps: int) -> Progress:
    """A rich bar over all remaining steps on rank 0, and one printed line per epoch."""
    if console is None or not dist.main:
        return Progress(contextlib.nullcontext(), None, lambda row: None)
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    bar = Bar(TextColumn("train"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console)
    task = bar.add_task("train", total=max(1, epochs * steps))

    def epoch_line(row: dict) -> None:
        parts = [f"epoch {row['epoch']}", f"loss {row['loss']:.4f}", f"train_acc {row['train_acc']:.3f}"]
        if "val_cosine" in row:
            parts.append(f"val_cosine {row['val_cosine']:.3f}")
        if "jid_max" in row:
            parts.append(f"jid_max {row['jid_max']:.2f}")
        parts.append(f"data_wait {100 * row['data_wait_share']:.0f}%")
        bar.console.print("  ".join(parts) + ("  *" if row.get("best") else ""))

    return Progress(bar, lambda: bar.advance(task), epoch_line)


class DataClock:
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
