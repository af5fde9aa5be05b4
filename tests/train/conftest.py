"""Fixtures for the trainer: small synthetic data, a real text cache, a tiny model recipe.

Everything goes through the real commands: ``crossglg data synth`` writes the prepared
data, ``crossglg-text import`` stores hand-written descriptions built from each synthetic
action's own body parts, and ``crossglg-text embed`` embeds them with MiniLM (offline).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.synthetic_oracle_text import records
from crossglg.cli import app
from tests.helpers import run_script

# a 5-way protocol on 15 synthetic classes: each novel class shares its body parts with a base class
NOVEL = [2, 10, 20, 34, 38]  # wave left hand, punch with left fist, kick left leg, shake head, bend sideways
BASE = [1, 4, 9, 13, 19, 25, 33, 37, 40, 3]  # wave right hand, raise right arm, punch right, ...
VALIDATION = [3, 13]  # wave both hands, circle right arm: held out of training, for model selection
PROTOCOL = f"""
name = "synthetic-small"
dataset = "synthetic"
description = "tests: 8 training + 2 validation base classes, 5 novel"
base_classes = {sorted(BASE)}
novel_classes = {NOVEL}
validation_classes = {VALIDATION}
exemplar_rule = "earliest"
"""

# a recipe small enough for two shared CPU cores
RECIPE = """
epochs = 16
batch_size = 16
warmup_epochs = 1
lr_steps = [100]
frames = 24
grad_clip = 1.0
eval_batch_size = 64
dc_samples = 100
[model.encoder]
base_channels = 16
info_bottleneck = false  # InfoGCN's sampled latent slows the first hundred steps down a lot
[model.l2g]
dim = 64
heads = 4
"""


def synthetic_texts(class_ids: list[int]) -> list[dict]:
    """Global + six part descriptions per class, true of the generator's actions (bench's oracle text)."""
    from crossglg.data.synthetic import ACTIONS

    return [row for c in class_ids for row in records(ACTIONS[c - 1])]


def _run_cli(args: list[str]) -> str:
    """Run a `crossglg` command in-process; fail the test with its output when it fails."""
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _run_text_cli(args: list[str]) -> None:
    proc = run_script("crossglg-text", *args, env={"OMP_NUM_THREADS": "1"}, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="session")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Prepared synthetic data (8 per class), the protocol file, the recipe and a text cache."""
    root = tmp_path_factory.mktemp("train-small")
    data = root / "data"
    classes = ",".join(str(c) for c in sorted(BASE + NOVEL))
    _run_cli(["data", "synth", "--out", str(data), "--per-class", "8", "--classes", classes, "--seed", "3"])
    (root / "protocol.toml").write_text(PROTOCOL)
    (root / "recipe.toml").write_text(RECIPE)
    texts = root / "texts.jsonl"
    texts.write_text("\n".join(json.dumps(r) for r in synthetic_texts(sorted(BASE))) + "\n")
    cache = root / "cache.db"
    _run_text_cli(["import", str(texts), "--label", "handwritten", "--cache", str(cache)])
    _run_text_cli(["embed", "--cache", str(cache)])
    return {
        "data": data,
        "protocol": root / "protocol.toml",
        "recipe": root / "recipe.toml",
        "cache": cache,
    }


@pytest.fixture(scope="session")
def run_cli():
    """``run_cli(args)``: a `crossglg` command in-process; the test fails with its output if it does."""
    return _run_cli


@pytest.fixture(scope="session")
def train_args(small):
    """``train_args(out, *extra, text=True)``: the `crossglg train` arguments of the small recipe."""

    def make(out: Path, *extra: str, text: bool = True) -> list[str]:
        args = ["train", "--data", str(small["data"]), "--protocol", str(small["protocol"])]
        args += ["--config", str(small["recipe"]), "--out", str(out), "--device", "cpu"]
        args += ["--text-cache", str(small["cache"])] if text else ["--no-text"]
        return [*args, *extra]

    return make
