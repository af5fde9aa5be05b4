"""Test-wide settings: offline hubs, the real data (``$CROSSGLG_DATA``), a fresh working directory per test."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.real_data import data_required, data_root, missing

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]


def _absent(reason: str) -> None:
    """Skip (a user's clone without the data) or fail (CI, ``CROSSGLG_REQUIRE_DATA=1``)."""
    if data_required():
        pytest.fail(f"{reason} (CROSSGLG_REQUIRE_DATA is set: CI must run the real-data tests)")
    pytest.skip(reason)


@pytest.fixture
def cache_path(tmp_path: Path) -> Path:
    """A fresh text-cache path in the test's own folder (the file does not exist yet)."""
    return tmp_path / "cache.db"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real skeleton data (never copied into the repo); skips its tests when absent."""
    root = data_root()
    if not root.is_dir():
        _absent(
            f"real data folder not found at {root}: set CROSSGLG_DATA (docs/DATA.md, 'Getting the datasets')"
        )
    return root


@pytest.fixture(scope="session")
def real_data() -> Callable[[str], Path]:
    """``real_data("msr_action3d")``: that dataset's folder (or table) in the data folder, or a skip."""

    def find(entry: str) -> Path:
        reason = missing(entry)
        if reason:
            _absent(reason)
        return data_root() / entry

    return find
