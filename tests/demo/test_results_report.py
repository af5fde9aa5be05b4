"""bench/results_msr.py: the tables of docs/RESULTS.md from finished runs (no training here)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import pytest

RUNNER = Path(__file__).resolve().parents[2] / "bench" / "results_msr.py"


@pytest.fixture(scope="module")
def runner():
    spec = importlib.util.spec_from_file_location("results_msr", RUNNER)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["results_msr"] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    yield mod
    del sys.modules["results_msr"]


def fake_run(out: Path, name: str, seed: int, cos: float, dc: float, utk: float) -> None:
    run = out / "runs" / f"{name}-s{seed}"
    run.mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps({"cosine": cos, "dc": dc}))
    (run / "cross_utk.json").write_text(json.dumps({"cosine": utk, "dc": utk / 2}))


def test_report_means_stds_seed_counts_and_paired_ablation(runner, tmp_path):
    for seed, cos in ((1, 0.40), (2, 0.50), (4, 0.60)):
        fake_run(tmp_path, "base", seed, cos, 0.5, 0.3)
    fake_run(tmp_path, "handwritten", 1, 0.30, 0.2, 0.4)
    fake_run(tmp_path, "jid-only", 1, 0.20, 0.1, 0.1)
    (tmp_path / "runs" / "smollm-s1").mkdir()  # unfinished: no summary, not counted
    (tmp_path / "dtw_msr.json").write_text(json.dumps({"accuracy": 0.792, "queries": 279}))
    args = argparse.Namespace(
        epochs=20, batch_size=16, lr=0.01, encoder="infogcn", frames=32, width=16, ablation_seeds=3
    )
    text = runner.report(tmp_path, args)
    msr, utk, ablation = text.split("### ")[1:]
    assert "| base encoder (`--no-text`) | 3 | 50.0 ± 10.0 | 50.0 ± 0.0 |" in msr
    assert "| +CrossGLG, hand-written text | 1 | 30.0 ± 0.0 | 20.0 ± 0.0 |" in msr
    assert "SmolLM2" not in msr
    assert "| DTW nearest exemplar (no training) | — | 79.2 | — |" in msr
    assert "| base encoder (`--no-text`) | 3 | 30.0 ± 0.0 | 15.0 ± 0.0 |" in utk
    # the ablation rows use seeds 1..3 only: base seed 4 is left out there
    assert "| base encoder (`--no-text`) | 2 | 45.0 ± 7.1 | 50.0 ± 0.0 |" in ablation
    assert "| JID only (global → local) | 1 | 20.0 ± 0.0 | 10.0 ± 0.0 |" in ablation
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["runs"]["base"]["4"]["cosine"] == 0.60
    assert "--epochs" in saved["recipe"] and (tmp_path / "results.md").read_text() == text
