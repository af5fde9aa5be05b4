"""`crossglg demo --quick` end to end: embedded LLM, MiniLM, synthesis, two trainings, DTW, report."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from crossglg.demo import FULL, QUICK, protocol_toml
from crossglg.vocab.protocols import read_protocol_file
from tests.helpers import run_script


def run_demo(out: Path) -> subprocess.CompletedProcess:
    return run_script("crossglg", "demo", "--quick", "--out", out, "--json", timeout=900)


def test_quick_protocol_is_a_valid_subset(tmp_path):
    """Novel classes never get text: the quick protocol keeps base and novel apart."""
    path = tmp_path / "protocol.toml"
    path.write_text(protocol_toml(QUICK))
    proto = read_protocol_file(path)
    assert sorted(proto.base_class_ids) == sorted(QUICK.base)
    assert sorted(proto.novel_class_ids) == sorted(QUICK.novel)
    assert not set(proto.base_class_ids) & set(proto.novel_class_ids)
    assert FULL.base == () and FULL.recipe()["epochs"] > QUICK.recipe()["epochs"]


@pytest.mark.slow
@pytest.mark.llm
def test_quick_demo_end_to_end_and_rerun(tmp_path):
    out = tmp_path / "demo"
    proc = run_demo(out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result == json.loads((out / "summary.json").read_text())

    # the table: DTW, base, +CrossGLG, every accuracy a fraction over the quick protocol's queries
    methods = [row["method"] for row in result["table"]]
    assert methods == [
        "DTW nearest exemplar (no training)",
        "base encoder (--no-text)",
        "+CrossGLG (SmolLM2 text)",
    ]
    assert result["queries"] == len(QUICK.novel) * (QUICK.per_class - 1)
    for row in result["table"]:
        assert 0.0 <= row["cosine"] <= 1.0
        if row["method"].startswith("DTW"):
            assert row["dc"] is None
        else:
            assert 0.0 <= row["dc"] <= 1.0
            # the trainer's own results file holds the same numbers
            saved = json.loads((out / row["run"] / "eval" / "results.json").read_text())["classifiers"]
            assert (saved["cosine"]["accuracy"], saved["dc"]["accuracy"]) == (row["cosine"], row["dc"])

    # text came from the embedded LLM for the 5 base classes only (2 prompts each)
    assert result["text"]["source"].startswith("llamacpp:SmolLM2")
    assert result["text"]["planned"] == 2 * len(QUICK.base)
    assert result["text"]["failed"] == 0
    assert result["embed"]["models"][0]["model"] == "sbert:all-MiniLM-L6-v2"

    # the report links the trainer's pictures, and every linked file exists
    report = (out / "report.md").read_text()
    links = re.findall(r"\]\(([^)]+\.png)\)", report)
    assert {
        "runs/base/curves.png",
        "runs/crossglg/curves.png",
        "runs/crossglg/eval/joint_importance.png",
    } <= set(links)
    for link in links:
        png = out / link
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", link
    for row in result["table"]:
        assert f"{100 * row['cosine']:.1f} %" in report

    # a rerun sends no LLM request, encodes nothing and trains nothing, and keeps the results
    again = run_demo(out)
    assert again.returncode == 0, again.stderr[-3000:]
    second = json.loads(again.stdout)
    assert second["text"]["sent"] == 0 and second["text"]["cached"] == 2 * len(QUICK.base)
    assert second["embed"]["models"][0]["encoded"] == 0
    assert "already done" in again.stderr
    assert [r["cosine"] for r in second["table"]] == [r["cosine"] for r in result["table"]]
