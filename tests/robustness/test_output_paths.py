"""An output that cannot be written is one line before any work (crossglg/outputs.py).

Each command is pointed at a file where its folder should go, and at a folder under a file
(``/dev/full/x`` in the wild): before the check these ended in ``internal error: FileExistsError``
or ``NotADirectoryError`` after the inputs had been read, a bug's message for a user's mistake.
Inputs here are dummies the check runs before: nothing may be read, written or replaced.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import run_script

COMMANDS = {
    "train": ["train", "--data", "no-such-data", "--protocol", "synthetic", "--no-text", "--out", "{out}"],
    "eval": ["eval", "best.pt", "--out", "{out}"],
    "eval ensemble": ["eval", "best.pt", "last.pt", "--out", "{out}"],
    "export": ["export", "best.pt", "--out", "{out}"],
    "data prepare": ["data", "prepare", "src", "--format", "msr-action3d", "--out", "{out}"],
    "data synth": ["data", "synth", "--out", "{out}"],
    "demo": ["demo", "--quick", "--out", "{out}"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("taken", "taken: a file is in the way; name a folder for the "),
        ("taken/sub", "taken/sub: taken is a file, not a folder; name another folder for the "),
    ],
)
def test_an_output_folder_that_cannot_be_made_is_one_line(
    tmp_path, command: str, out: str, message: str
) -> None:
    for name in ("taken", "best.pt", "last.pt"):
        (tmp_path / name).write_bytes(b"not a folder")
    (tmp_path / "src").mkdir()
    args = [a.format(out=out) for a in COMMANDS[command]]
    res = run_script("crossglg", *args, cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith(f"error: {message}") and res.stderr.count("\n") == 1, res.stderr
    assert (tmp_path / "taken").read_bytes() == b"not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt", "src", "taken"]


def _fifo(tmp_path):
    """A named pipe where an output file should go: a rename over it would replace it with a file
    (as root, ``/dev/full`` itself was replaced)."""
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes on this system")
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    return fifo


@pytest.mark.parametrize("target", ["pipe", "folder", "missing folder"], ids=lambda t: t.replace(" ", "-"))
def test_a_batch_file_that_cannot_be_written_records_no_batch(tmp_path, target: str) -> None:
    """Checked before the cache records a batch: nothing is created and the pipe stays a pipe."""
    out = {
        "pipe": lambda: _fifo(tmp_path),
        "folder": lambda: (tmp_path / "d.jsonl").mkdir() or tmp_path / "d.jsonl",
        "missing folder": lambda: Path("nowhere") / "x.jsonl",
    }[target]()
    res = run_script("crossglg-text", "generate", "--backend", "vllm", "--llm", "Qwen/Qwen2.5-7B-Instruct",
                     "-d", "msr-action3d", "-c", "1", "--batch-file", out, "--cache", "c.db", cwd=tmp_path)  # fmt: skip
    message = {"pipe": "not a regular file (a device, pipe or socket); name a new --batch-file",
               "folder": "a folder is in the way; name a new --batch-file",
               "missing folder": "nowhere/x.jsonl: folder nowhere does not exist"}[target]  # fmt: skip
    assert res.returncode == 2 and message in res.stderr and res.stderr.count("\n") == 1, res.stderr
    assert not (tmp_path / "c.db").exists()
    if target == "pipe":
        assert out.is_fifo()


def test_text_export_and_vectors_never_replace_a_pipe(tmp_path) -> None:
    fifo = _fifo(tmp_path)
    res = run_script("crossglg-text", "import", "--pack", "msr-action3d", "--cache", "c.db", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    res = run_script("crossglg-text", "export", fifo, "--cache", "c.db", cwd=tmp_path)
    assert res.returncode == 2 and "pipe.jsonl: not a regular file" in res.stderr, res.stderr
    npz = tmp_path / "v.npz"
    os.mkfifo(npz)
    res = run_script("crossglg-text", "vectors", npz, "--cache", "c.db", "-d", "msr-action3d", cwd=tmp_path)
    assert res.returncode == 2 and "v.npz: not a regular file" in res.stderr, res.stderr
    assert fifo.is_fifo() and npz.is_fifo() and "Traceback" not in res.stderr
