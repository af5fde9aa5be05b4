"""docs/GUIDE.md, "Your own data, end to end": its commands run as written, and its errors help.

The skeletons are real prepared samples (from ``crossglg data synth``) written as a generic
``.npz``, the format a user's own data comes in; the texts are imported by hand. An LLM is
only asked for a dry run, so no key and no network are needed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import console_commands, fenced_blocks

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "GUIDE.md"
SECTION = "### Your own data, end to end"
TRAIN_FULL = "--out runs/mine"  # the last line trains for real: parsed by test_guide_commands only

pytestmark = pytest.mark.slow


def _section() -> str:
    text = GUIDE.read_text()
    start = text.index(SECTION)
    return text[start : text.index("\n## ", start)]


def _commands() -> list[str]:
    return console_commands(_section())


def _run(line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    argv = shlex.split(line)
    module = "crossglg.cli" if argv[0] == "crossglg" else "crossglg.text_cli"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "OPENAI_API_KEY": ""}
    return subprocess.run(
        [sys.executable, "-m", module, *argv[1:]], cwd=cwd, env=env, capture_output=True, text=True
    )


def _write_own_data(folder: Path) -> None:
    """Six classes of real prepared skeletons, saved as the generic .npz a user would bring."""
    from crossglg.data.prepared import open_prepared

    synth = folder / "synth"
    proc = _run(f"crossglg data synth --out {synth} --per-class 4 --classes 1,4,9,13,19,25 --seed 0", folder)
    assert proc.returncode == 0, proc.stderr
    data = open_prepared(synth)
    t = int(data.lengths.max())
    x = np.zeros((len(data), data.num_persons, t, data.frames.shape[2], 3), np.float32)
    for i in range(len(data)):
        seq = data.sequence(i)  # [T, M, V, 3]
        x[i, :, : len(seq)] = seq.transpose(1, 0, 2, 3)
    kept = sorted(set(data.labels.tolist()))  # synth keeps the 40-class label space
    (folder / "data").mkdir()
    np.savez(
        folder / "data" / "mine.npz",
        x=x,
        labels=np.asarray([kept.index(int(lab)) for lab in data.labels]),
        names=np.asarray(data.names),
        class_names=np.asarray([data.class_names[k] for k in kept]),
        lengths=data.lengths,
    )
    names = [data.class_names[k] for k in kept]
    toml = fenced_blocks(_section(), "toml")[0]
    (folder / "my_protocol.toml").write_text(toml)
    rows = []
    for c in (1, 2, 3, 4):  # the base classes; 5 and 6 are novel
        name = names[c - 1]
        rows.append({"dataset": "generic", "class_id": c, "text": f"To {name}, the limbs named move.",
                     "key_body_parts": ["right arm", "right hand"]})  # fmt: skip
        for slot in ("head", "hand", "arm", "hip", "leg", "foot"):
            rows.append({"dataset": "generic", "class_id": c, "kind": "part", "slot": slot,
                         "text": f"The {slot} of a person who does {name}."})  # fmt: skip
    (folder / "my_texts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_own_data_path_runs_as_written_and_every_error_names_a_working_command(tmp_path):
    _write_own_data(tmp_path)
    lines = _commands()
    assert len(lines) == 7 and lines[-1].endswith(TRAIN_FULL)
    before_import = lines.index("crossglg-text import my_texts.jsonl --label mine --data prepared/mine")
    for n, line in enumerate(lines[:-1]):
        if n == before_import:
            # the dead end: a class-list name instead of the prepared data
            wrong = _run("crossglg-text generate --dataset generic --llm gpt-4o --dry-run", tmp_path)
            assert wrong.returncode == 2 and "--data PREPARED_FOLDER" in wrong.stderr
        proc = _run(line, tmp_path)
        assert proc.returncode == 0, f"{line}\n{proc.stdout[-1500:]}\n{proc.stderr[-1500:]}"
        if "generate" in line:
            assert "8 requests planned" in proc.stdout  # 4 base classes × 2 prompts, none novel
    with open_cache_ro(tmp_path / "cache.db") as cache:
        assert [(r["dataset"], r["class_name"]) for r in cache.show("generic", 1)][:1] == [
            ("generic", "wave right hand")
        ]
    # texts stored under another name are found with --text-dataset, and only then
    moved = _run("crossglg-text import my_texts.jsonl --label other --data prepared/mine", tmp_path)
    assert moved.returncode == 0
    several = _run(
        "crossglg train --data prepared/mine --protocol my_protocol.toml --text-cache cache.db --dry-run",
        tmp_path,
    )
    assert several.returncode == 2 and "pick one with --text-source" in several.stderr
    named = _run(
        "crossglg train --data prepared/mine --protocol my_protocol.toml --text-cache cache.db "
        "--text-source import:other --dry-run",
        tmp_path,
    )
    assert named.returncode == 0, named.stderr


def open_cache_ro(path: Path):
    from crossglg.cache import open_cache

    return open_cache(path, readonly=True)


def test_the_suggested_generate_command_works(tmp_path):
    """The trainer's 'no texts' error names a generate command; run it (as a dry run) as given.

    The texts are in the cache under ``generic`` and the run asks for ``mine``: the error also
    says which datasets the cache does hold.
    """
    _write_own_data(tmp_path)
    for line in _commands()[:2]:
        assert _run(line, tmp_path).returncode == 0
    assert (
        _run(
            "crossglg-text import my_texts.jsonl --label x --data prepared/mine --cache other.db", tmp_path
        ).returncode
        == 0
    )
    proc = _run(
        "crossglg train --data prepared/mine --protocol my_protocol.toml --text-cache other.db "
        "--text-dataset mine --dry-run",
        tmp_path,
    )
    assert proc.returncode == 2
    assert "no texts for dataset mine (it has texts for generic; name one with --text-dataset)" in proc.stderr
    suggested = re.search(r"fill it with `([^`]+)`", proc.stderr)[1]
    assert (
        suggested
        == "crossglg-text generate --data prepared/mine --protocol my_protocol.toml --cache other.db"
    )
    dry = _run(suggested + " --llm gpt-4o --dry-run", tmp_path)
    assert dry.returncode == 0 and "8 requests planned" in dry.stdout
