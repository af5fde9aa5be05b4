"""One training per run folder, one export per export folder and one evaluation writing per
evaluation folder (crossglg/train/run_lock.py): a second is one line and writes nothing."""

from __future__ import annotations

import os

import pytest

from tests.helpers import run_script

fcntl = pytest.importorskip("fcntl")


def _held(folder, record: bytes = b"4242\n") -> int:
    """The lock as a running command holds it: flock on FOLDER/.lock, its pid (and command) inside."""
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.pwrite(fd, record, 0)
    return fd


@pytest.mark.parametrize("resume", [False, True], ids=["fresh", "resume"])
def test_a_second_training_in_a_locked_run_is_one_line(tmp_path, train_args, resume: bool) -> None:
    run = tmp_path / "run"
    run.mkdir()
    if resume:  # a resume started while the run it continues is still going
        (run / "last.pt").write_bytes(b"written by the run still going")
    fd = _held(run)
    try:
        res = run_script("crossglg", *train_args(run, *(["--resume"] if resume else []), text=False))
    finally:
        os.close(fd)
    assert res.returncode == 2, res.stderr
    assert res.stderr == (
        f"error: {run}: another `crossglg train` is writing this folder (pid 4242); "
        "wait for it to end, or name another --out\n"
    )
    assert sorted(p.name for p in run.iterdir()) == [".lock", *(["last.pt"] if resume else [])]
    if resume:
        assert (run / "last.pt").read_bytes() == b"written by the run still going"


def test_the_lock_goes_with_the_process(tmp_path, train_args) -> None:
    """Released however the holder ends: a resume after a killed run is never refused."""
    run = tmp_path / "run"
    run.mkdir()
    os.close(_held(run))  # the holder ended
    res = run_script("crossglg", *train_args(run, "--epochs", "1", text=False))
    assert res.returncode == 0, res.stderr
    pid, command = (run / ".lock").read_text().split()
    assert (run / "last.pt").is_file() and pid.isdigit() and command == "train"
    assert pid != "4242"  # the new run wrote its own pid

    # an export into a folder another command is writing (here: a run still training) is one line
    # naming that command, and writes nothing: two exports in one folder would mix two checkpoints
    export = tmp_path / "export"
    _refused_then_done(export, "train", 4343, "export", run / "last.pt", "--out", export)
    assert (export / "export.json").is_file()

    # an evaluation writing while another holds its folder: refused once its input is read, before
    # it writes a file, so results.json and the PNGs never come from two evaluations
    evaluated = tmp_path / "eval"
    _refused_then_done(
        evaluated, "eval", 4444, "eval", run / "last.pt", "--classifier", "cosine", "--out", evaluated
    )
    assert (evaluated / "results.json").is_file()
    # pictures an earlier evaluation left (another read-out; a text model's joint weights) go, since
    # results.json no longer backs them; what this one drew stays
    for stale in ("confusion_jfdtw.png", "joint_importance.png"):
        (evaluated / stale).write_bytes(b"an earlier evaluation's picture")
    res = run_script("crossglg", "eval", run / "last.pt", "--classifier", "cosine", "--out", evaluated)
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in evaluated.iterdir()) == [".lock", "confusion_cosine.png", "results.json"]


def _refused_then_done(folder, holder: str, pid: int, *args) -> None:
    """``crossglg ARGS`` into FOLDER while ``holder`` holds its lock: one line naming the holder and
    nothing written but the lock; once the lock is free, the same command runs and records itself."""
    folder.mkdir()
    fd = _held(folder, f"{pid} {holder}\n".encode())
    try:
        res = run_script("crossglg", *args)
    finally:
        os.close(fd)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr == (
        f"error: {folder}: another `crossglg {holder}` is writing this folder (pid {pid}); "
        "wait for it to end, or name another --out\n"
    )
    assert [p.name for p in folder.iterdir()] == [".lock"]
    res = run_script("crossglg", *args)
    assert res.returncode == 0, res.stderr
    assert (folder / ".lock").read_text().split()[1] == args[0]


def test_a_lock_that_cannot_be_opened_is_one_line(tmp_path) -> None:
    """A folder named .lock where the lock file goes: a UserError naming it, not an internal error."""
    from crossglg.errors import UserError
    from crossglg.train.run_lock import run_lock

    (tmp_path / ".lock").mkdir()
    refused = pytest.raises(UserError, match=r"\.lock: cannot open the folder's lock \(Is a directory\)$")
    with refused, run_lock(tmp_path, "export"):
        pass
