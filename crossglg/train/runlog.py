"""Per-epoch metrics to CSV, JSON and TensorBoard, written by rank 0 only."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from crossglg.outputs import replaced_file, write_whole


class RunLog:
    """Appends one row per epoch; rewrites the JSON so it is always a complete document.

    ``history`` restored from a checkpoint keeps the files whole across ``--resume``.
    """

    def __init__(self, run_dir: Path, history: list[dict], tensorboard: bool = True) -> None:
        self.dir = run_dir
        self.history = list(history)
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=str(run_dir / "tensorboard"))

    def add(self, row: dict) -> None:
        self.history.append(row)
        keys = sorted({k for r in self.history for k in r}, key=lambda k: (k != "epoch", k))
        with replaced_file(self.dir / "metrics.csv", "metrics", text=True) as fh:
            w = csv.DictWriter(fh, fieldnames=keys)
            w.writeheader()
            w.writerows(self.history)
        write_whole(self.dir / "metrics.json", json.dumps(self.history, indent=1), "metrics")
        if self._tb is not None:
            for key, value in row.items():
                if key != "epoch" and isinstance(value, int | float):
                    self._tb.add_scalar(key, value, row["epoch"])
            self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
