"""Where the real data is looked for, and what a missing dataset does: a skip with one line, or in CI an error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.real_data import DATA_ENV, DEFAULT_ROOT, REQUIRE_ENV, data_root, missing

REPO = Path(__file__).resolve().parents[1]
# a fast test that needs one table of the real-data folder
NEEDS_DATA = "tests/prompts/test_parts.py::test_ntu_joint_names_are_the_shared_list"


def test_the_variable_names_the_folder_and_the_default_is_beside_the_checkout(monkeypatch, tmp_path):
    monkeypatch.delenv(DATA_ENV, raising=False)
    assert data_root() == DEFAULT_ROOT == REPO.parent / "shared" / "data"
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    assert data_root() == tmp_path
    monkeypatch.setenv(DATA_ENV, "~/skeletons")
    assert data_root() == Path.home() / "skeletons"


def test_a_missing_dataset_is_one_line_naming_its_page_and_the_variable(tmp_path):
    reason = missing("msr_action3d", tmp_path)
    assert reason is not None and "\n" not in reason
    assert str(tmp_path / "msr_action3d") in reason and DATA_ENV in reason
    assert "https://sites.google.com/view/wanqingli/data-sets/msr-action3d" in reason
    assert "cvrc.ece.utexas.edu" in missing("utkinect_action3d", tmp_path)
    (tmp_path / "msr_action3d").mkdir()
    assert missing("msr_action3d", tmp_path) is None


def _run(tmp_path: Path, required: bool) -> subprocess.CompletedProcess:
    """The test suite's own pytest on one real-data test, with the data folder pointed at ``tmp_path``."""
    env = {**os.environ, DATA_ENV: str(tmp_path), "PYTHONPATH": str(REPO)}
    env.pop(REQUIRE_ENV, None)
    if required:
        env[REQUIRE_ENV] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           NEEDS_DATA], cwd=REPO, capture_output=True, text=True, env=env)  # fmt: skip


def test_outside_ci_a_missing_dataset_skips_with_its_reason(tmp_path):
    proc = _run(tmp_path, required=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 skipped" in proc.stdout
    assert f"the NTU RGB+D protocol tables not found at {tmp_path / 'ntu_protocols'}" in proc.stdout
    assert f"set {DATA_ENV}" in proc.stdout


def test_in_ci_a_missing_dataset_is_an_error(tmp_path):
    proc = _run(tmp_path, required=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 failed" in proc.stdout and "CROSSGLG_REQUIRE_DATA is set" in proc.stdout


def test_ci_requires_the_real_data():
    ci = (REPO / ".ci" / "run").read_text()
    assert f"export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 {REQUIRE_ENV}=1" in ci
