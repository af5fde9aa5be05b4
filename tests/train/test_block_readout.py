"""bench/block_readout.py: jfdtw read at every block of an exported run; its last block is jfdtw itself."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import block_readout


def test_the_summary_pairs_every_block_with_the_last() -> None:
    rows = [
        {"novel": {"1": [1.0, 1.0, 0.0, 1.0], "2": [1.0, 0.0, 0.0, 1.0]}},
        {"novel": {"1": [0.0, 0.0, 1.0, 1.0], "2": [1.0, 0.0, 1.0, 1.0]}},
    ]
    out = block_readout.summary(rows, "novel")
    assert out["1"]["accuracy"] == pytest.approx((0.75 + 0.5) / 2)
    assert out["1"]["minus_last"][0] == pytest.approx((0.25 - 0.25) / 2)
    assert out["1"]["level_or_above"] == 1  # run 1 above its last block, run 2 below
    assert out["2"]["minus_last"] == [0.0, 0.0, 0.0] and out["2"]["level_or_above"] == 2


@pytest.mark.slow
def test_the_last_block_is_the_runs_own_jfdtw(small, run_cli, train_args, tmp_path) -> None:
    run = tmp_path / "run"
    run_cli(train_args(run, "--epochs", "2", "--set", "dc_samples=20", text=False))
    row = block_readout.evaluate(run, small["data"], str(small["protocol"]))
    assert (run / "export" / "export.json").is_file()  # written on the way
    assert sorted(map(int, row["novel"])) == list(range(1, 10))  # InfoGCN's nine blocks
    assert all(len(hits) == len(row["truth"]) == 35 for hits in row["novel"].values())
    own = json.loads((run / "summary.json").read_text())["jfdtw"]
    assert np.mean(row["novel"]["9"]) == pytest.approx(own)
    # the control: the same network freshly initialised reads otherwise (35 queries × 9 blocks)
    fresh = block_readout.evaluate(run, small["data"], str(small["protocol"]), untrained=1)
    assert fresh["truth"] == row["truth"] and fresh["novel"] != row["novel"]
