"""Data-layer speed: raw NTU parsing, prepared-cache loading, batched augmentation.

Each figure is paired with a plain per-sample NumPy baseline measured in the same run, so
the ratio holds on any machine::

    OMP_NUM_THREADS=1 .venv/bin/python bench/data.py --files 400 --workers 2

Raw files come from the synthetic generator (real NTU files cannot be shipped); they follow
the exact grammar, so parse cost per file matches real files of the same length.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np


def _rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def baseline_parse(path: Path) -> np.ndarray:
    """A textbook reader: line by line, one small array per joint line, first body only."""
    lines = path.read_text().splitlines()
    n_frames, pos, frames = int(lines[0]), 1, []
    for _ in range(n_frames):
        n_bodies = int(lines[pos])
        pos += 1
        bodies = []
        for _ in range(n_bodies):
            n_joints = int(lines[pos + 1])
            pos += 2
            bodies.append(
                np.array([np.array(lines[pos + j].split()[:3], dtype=float) for j in range(n_joints)])
            )
            pos += n_joints
        if bodies:
            frames.append(bodies[0])
    return np.asarray(frames, dtype=np.float32)


def bench_parse(raw: Path, out: Path, workers: int) -> dict[str, float]:
    from crossglg.data.prepare import prepare
    from crossglg.data.readers.ntu_skeleton import read_unit

    files = sorted(raw.glob("*.skeleton"))
    t0 = time.perf_counter()
    for f in files:
        baseline_parse(f)
    t_base = time.perf_counter() - t0
    t0 = time.perf_counter()
    for f in files:
        read_unit(str(f))
    t_ours = time.perf_counter() - t0
    import matplotlib.pyplot  # noqa: F401  the report's one-off import (about 1 s) is not a rate

    t0 = time.perf_counter()
    prepare(raw, "ntu-skeleton", out, workers=workers, force=True)
    t_prep = time.perf_counter() - t0
    return {
        "files": len(files),
        "baseline_files_per_s": _rate(len(files), t_base),
        "reader_files_per_s": _rate(len(files), t_ours),
        f"prepare_{workers}proc_files_per_s": _rate(len(files), t_prep),
    }


def bench_load(prepared: Path, scratch: Path, rounds: int = 3) -> dict[str, float]:
    from crossglg.data.prepared import open_prepared

    data = open_prepared(prepared)
    n = len(data)
    for i in range(n):  # baseline: one .npy per sample, the usual "folder of arrays"
        np.save(scratch / f"{i}.npy", data.sequence(i))
    order = np.random.default_rng(0).permutation(n)
    t0 = time.perf_counter()
    for _ in range(rounds):
        for i in order:
            np.load(scratch / f"{i}.npy")
    t_base = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(rounds):
        for i in order:
            data.sequence(int(i))
    t_ours = time.perf_counter() - t0
    return {
        "samples": n * rounds,
        "baseline_npy_samples_per_s": _rate(n * rounds, t_base),
        "prepared_samples_per_s": _rate(n * rounds, t_ours),
    }


def baseline_augment(seq: np.ndarray, rng: np.random.Generator, frames: int = 64) -> np.ndarray:
    """Per sample, in NumPy: centre, random crop of 50-100 %, linear resize, random rotation."""
    t = len(seq)
    x = seq - seq[0, 0, 1]  # spine middle of actor 1, first frame
    crop = max(2, min(t, round(t * rng.uniform(0.5, 1.0))))
    start = rng.integers(0, t - crop + 1)
    x = x[start : start + crop]
    pos = np.linspace(0, crop - 1, frames)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, crop - 1)
    w = (pos - lo)[:, None, None, None]
    x = x[lo] * (1 - w) + x[hi] * w
    ax, ay, az = rng.uniform(-0.3, 0.3, 3)
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    x = x @ (rz @ ry @ rx).T
    return np.ascontiguousarray(x.transpose(3, 0, 2, 1), dtype=np.float32)  # [3, T, V, M]


def bench_augment(prepared: Path, batch: int, rounds: int = 3) -> dict[str, float]:
    import torch

    from crossglg.data.prepared import open_prepared
    from crossglg.data.preprocess import pad_sequences, preprocess

    data = open_prepared(prepared)
    seqs = [data.sequence(i) for i in range(min(batch, len(data)))]
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for _ in range(rounds):
        np.stack([baseline_augment(s, rng) for s in seqs])
    t_base = time.perf_counter() - t0
    device = "cuda" if torch.cuda.is_available() else "cpu"
    padded = pad_sequences(seqs, device=device)
    gen = torch.Generator(device=device).manual_seed(0)
    preprocess(padded, layout=data.layout, train=True, generator=gen)  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(rounds):
        preprocess(padded, layout=data.layout, train=True, generator=gen)
    if device == "cuda":
        torch.cuda.synchronize()
    t_ours = time.perf_counter() - t0
    n = len(seqs) * rounds
    return {
        "batch": len(seqs),
        "device": device,
        "baseline_numpy_samples_per_s": _rate(n, t_base),
        "batched_samples_per_s": _rate(n, t_ours),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=400, help="raw files to generate (rounded up to 40 classes)")
    ap.add_argument("--workers", type=int, default=2, help="parser processes for prepare")
    ap.add_argument("--batch", type=int, default=256, help="augmentation batch size")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args()

    from crossglg.data.synthetic import write_raw

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_raw(root / "raw", n_per_class=max(1, math.ceil(args.files / 40)), seed=0)
        results = {
            "parse": bench_parse(root / "raw", root / "prepared", args.workers),
            "load": bench_load(
                root / "prepared", (root / "npy").resolve() if (root / "npy").mkdir() is None else root
            ),
            "augment": bench_augment(root / "prepared", args.batch),
        }
    if args.json:
        print(json.dumps(results, indent=1))
        return
    for section, figures in results.items():
        print(section)
        for key, value in figures.items():
            print(f"  {key:>32}: {value:,.1f}" if isinstance(value, float) else f"  {key:>32}: {value}")


if __name__ == "__main__":
    main()
