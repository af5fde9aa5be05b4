"""A small input file named as a pipe, a device or a socket is one line, at once (crossglg/inputs.py).

Before the check ``crossglg train --config pipe.toml`` waited for a writer until killed, and
``--config /dev/zero`` read until memory ran out. Each command here gets a named pipe where a
regular file goes; it must answer in one line with exit 2, create none of its outputs and leave
the pipe a pipe. A hang fails the test through the subprocess timeout, never by waiting forever.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from crossglg.inputs import read_input_text
from tests.helpers import run_script

HANG = 120  # seconds: far more than any refusal takes; a pipe read would block for ever

# (script, arguments split at spaces, the ``what`` of the message); "{pipe}" is the named pipe
COMMANDS = {
    "train --config": ("crossglg", "train --data d --protocol synthetic --config {pipe} --no-text --out o", "config file"),
    "train --protocol": ("crossglg", "train --data d --protocol {pipe} --no-text --out o", "protocol file"),
    "baseline dtw --weights": ("crossglg", "baseline dtw --data d --protocol synthetic --weights {pipe}", "weights file"),
    "text import": ("crossglg-text", "import {pipe} --label mine --cache c.db", "file to import"),
    "text batch import": ("crossglg-text", "batch import {pipe} --cache c.db", "run-batch output file"),
    "prompts --template": ("crossglg-text", "prompts -d msr-action3d --template global={pipe}", "prompt template"),
    "prompts --examples": ("crossglg-text", "prompts -d msr-action3d --examples {pipe}", "examples file"),
    "prompts --dataset-description-file": (
        "crossglg-text", "prompts -d msr-action3d --dataset-description-file {pipe}", "dataset description",
    ),
}  # fmt: skip


def _args(command: str, path: object) -> list[str]:
    return COMMANDS[command][1].replace("{pipe}", str(path)).split()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small prepared dataset, so that the commands reach the file under test."""
    folder = tmp_path_factory.mktemp("synth") / "d"
    res = run_script("crossglg", "data", "synth", "--out", folder, "--per-class", "2", "--classes", "1,2,3")
    assert res.returncode == 0, res.stderr
    return folder


def _one_error(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0].removeprefix("error: ")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_pipe_is_refused_at_once_and_nothing_is_written(
    tmp_path: Path, prepared: Path, command: str
) -> None:
    script, _, what = COMMANDS[command]
    (tmp_path / "d").symlink_to(prepared)
    pipe = tmp_path / "pipe.toml"
    os.mkfifo(pipe)
    res = run_script(script, *_args(command, pipe.name), cwd=tmp_path, timeout=HANG)
    assert _one_error(res) == f"{pipe.name}: the {what} is not a regular file (a device, pipe or socket)"
    assert pipe.is_fifo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "pipe.toml"]  # no c.db, no o/


def test_a_device_that_never_ends_is_refused(tmp_path: Path) -> None:
    """``/dev/zero`` would be read until memory runs out."""
    res = run_script("crossglg", *_args("train --config", "/dev/zero"), cwd=tmp_path, timeout=HANG)
    assert _one_error(res) == "/dev/zero: the config file is not a regular file (a device, pipe or socket)"


def test_a_socket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        server.listen()
        res = run_script("crossglg", *_args("train --config", path), cwd=tmp_path, timeout=HANG)
    assert _one_error(res) == f"{path}: the config file is not a regular file (a device, pipe or socket)"


def test_a_regular_file_reads_as_read_text_reads_it(tmp_path: Path) -> None:
    """Newlines are translated the same way, so every caller parses what it parsed before."""
    path = tmp_path / "mixed.txt"
    path.write_bytes("a\r\nb\rc\nd – é\n".encode())
    assert read_input_text(path, "file") == path.read_text(encoding="utf-8") == "a\nb\nc\nd – é\n"


def test_a_folder_and_a_missing_file_raise_as_before(tmp_path: Path) -> None:
    """Each caller keeps its own message for these (``config file X: unreadable (...)``)."""
    with pytest.raises(IsADirectoryError):
        read_input_text(tmp_path, "file")
    with pytest.raises(FileNotFoundError):
        read_input_text(tmp_path / "missing", "file")
    (tmp_path / "latin1").write_bytes(b"caf\xe9")
    with pytest.raises(UnicodeDecodeError):
        read_input_text(tmp_path / "latin1", "file")
