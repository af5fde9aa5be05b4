"""Soft-DTW by anti-diagonals (``crossglg.models.losses.soft_dtw``) against the cell-by-cell recurrence.

The aligned contrastive term (``loss.w_align``, docs/TRAINING.md) runs soft-DTW over every pair
of a batch at every step, forward and backward; the recurrence is a Python loop, so its length
is what costs. The reference here is the textbook form (one step per cell, T1·T2 steps), kept
only to measure against.

    python bench/soft_dtw.py              # 32 × 32 frames, 16 × 16 pairs
    python -m bench --only soft-dtw
"""

from __future__ import annotations

import argparse
import json
import time


def cell_by_cell(cost, gamma: float):
    """Soft-DTW [..., T1, T2] → [...], one cell at a time (the reference)."""
    import torch

    t1, t2 = cost.shape[-2:]
    inf = cost.new_full(cost.shape[:-2], float("inf"))
    prev = [cost.new_zeros(cost.shape[:-2])] + [inf] * t2
    for i in range(t1):
        row = [inf]
        for j in range(t2):
            r = torch.stack([prev[j + 1], row[j], prev[j]])
            row.append(cost[..., i, j] - gamma * torch.logsumexp(-r / gamma, dim=0))
        prev = row
    return prev[t2]


def _seconds(fn, cost, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        c = cost.detach().requires_grad_(True)
        t0 = time.perf_counter()
        fn(c, 0.1).sum().backward()
        best = min(best, time.perf_counter() - t0)
    return best


def measure(frames: int = 32, pairs: int = 16, repeats: int = 3) -> dict:
    """Best-of-``repeats`` forward + backward seconds of both forms on one [pairs, pairs, T, T] batch."""
    import torch

    from crossglg.models.losses import soft_dtw

    cost = torch.rand(pairs, pairs, frames, frames, generator=torch.Generator().manual_seed(0))
    same = torch.allclose(soft_dtw(cost, 0.1), cell_by_cell(cost, 0.1), rtol=1e-5, atol=1e-5)
    diagonals, cells = _seconds(soft_dtw, cost, repeats), _seconds(cell_by_cell, cost, repeats)
    return {"frames": frames, "pairs": pairs * pairs, "same_values": bool(same),
            "diagonals_s": diagonals, "cell_by_cell_s": cells, "speedup": cells / diagonals}  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=32, help="frames of each sequence")
    p.add_argument("--pairs", type=int, default=16, help="sequences per side (pairs = this squared)")
    args = p.parse_args(argv)
    doc = measure(args.frames, args.pairs)
    print(json.dumps(doc, indent=1))
    return doc


if __name__ == "__main__":
    main()
