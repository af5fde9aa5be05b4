"""bench/models_memory.py runs and measures what it claims (tiny sizes)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "models_memory.py"


@pytest.mark.slow
def test_models_memory_bench_tiny(capsys):
    spec = importlib.util.spec_from_file_location("models_memory", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rows = mod.main(["--batch", "2", "--frames", "8", "--steps", "1", "--warmup", "0", "--device", "cpu"])
    assert [(r["encoder"], r["crossglg"]) for r in rows] == [
        (e, t) for e in ("infogcn", "stgcn", "ctrgcn") for t in (False, True)
    ] + [("infogcn-frame", False), ("reference-infogcn", False)]
    for base, full in zip(rows[:6:2], rows[1:6:2], strict=True):
        assert full["saved_mb_per_sample_fp32"] > base["saved_mb_per_sample_fp32"]
        assert full["kernel_ops_per_step"] > base["kernel_ops_per_step"]
    for r in rows:
        assert 0 < r["saved_mb_per_sample_bf16"] < 0.7 * r["saved_mb_per_sample_fp32"]
    ours, frame, reference = rows[0], rows[6], rows[7]
    # the per-frame attention tensors and the reference's per-head copies cost memory; the
    # reference's head loop costs launches
    assert (
        ours["saved_mb_per_sample_fp32"]
        < frame["saved_mb_per_sample_fp32"]
        < reference["saved_mb_per_sample_fp32"]
    )
    assert ours["kernel_ops_per_step"] == frame["kernel_ops_per_step"] < reference["kernel_ops_per_step"]
    assert "saved/sample" in capsys.readouterr().out
