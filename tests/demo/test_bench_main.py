"""`python -m bench`: every benchmark runs and lands in one table of side-by-side ratios."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args], cwd=REPO, capture_output=True, text=True, timeout=900
    )


@pytest.mark.slow
def test_bench_quick_runs_every_benchmark():
    proc = bench("--quick", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout)
    assert doc["errors"] == {}
    areas = [r["area"] for r in doc["rows"]]
    assert set(areas) == {"textgen", "embed", "data", "model-info", "train", "soft-dtw"}
    for row in doc["rows"]:
        assert row["ours"] is not None and row["ours"] > 0, row
        if row["reference"] is not None:
            assert row["ratio"] == pytest.approx(row["ours"] / row["reference"], rel=1e-6) or row[
                "ratio"
            ] == pytest.approx(row["reference"] / row["ours"], rel=1e-6)
    by_figure = {r["figure"]: r for r in doc["rows"]}
    params = next(r for f, r in by_figure.items() if f.startswith("InfoGCN inference parameters"))
    assert 1.0 < params["ratio"] < 1.07  # the JID's inference overhead budget (MODELS.md)
    concurrency = next(r for r in doc["rows"] if "concurrency 64 vs 1" in r["figure"])
    assert concurrency["ratio"] > 2  # waiting on a 200 ms server overlaps
    # each area's raw figures are kept for the docs, with how long it took
    assert all(doc["raw"][a]["seconds"] > 0 for a in set(areas))


def test_bench_rejects_an_unknown_benchmark():
    proc = bench("--only", "nonexistent")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
