"""An output folder that cannot be made is one line before any work (crossglg/outputs.py).

Each command is pointed at a file where its folder should go, and at a folder under a file
(``/dev/full/x`` in the wild): before the check these ended in ``internal error: FileExistsError``
or ``NotADirectoryError`` after the inputs had been read, a bug's message for a user's mistake.
Inputs here are dummies the check runs before: nothing may be read, written or replaced.
"""

from __future__ import annotations

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
