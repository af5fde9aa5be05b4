"""One `crossglg train` per run folder at a time, one `crossglg export` per export folder, and one
`crossglg eval` writing per evaluation folder.

Two trainings in one folder (a `--resume` started while the first run is still going, or two
jobs given the same `--out`) would interleave their checkpoints, metrics and config, and a later
resume would continue a mixture; two exports into one folder would leave the model files of one
checkpoint beside the metadata of the other, which loads without complaint; two evaluations would
leave one's results.json beside the other's confusion PNGs. The second is refused instead, in one
line (docs/TRAINING.md, "Resume", "Evaluation" and "Export and predict"). The lock is an advisory
`flock` on ``FOLDER/.lock``: the kernel drops it when the process ends, however it ends, so a
killed run never leaves a stale lock for its resume.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from crossglg.errors import UserError

LOCK = ".lock"


@contextlib.contextmanager
def run_lock(out: Path, command: str, hold: bool = True) -> Iterator[None]:
    """Hold the folder's lock for the ``with`` block (``out`` must exist). The lock file records the
    holder's pid and ``command`` (``train``, ``export``, ``eval``), which a refused command names: an export
    into a run folder that is still training is told so. ``hold`` False (a DDP rank other than 0,
    which writes nothing) takes none; neither does a system without ``flock``."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no advisory locks, one command per folder is the user's care
        fcntl = None
    if not hold or fcntl is None:
        yield
        return
    try:
        fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:  # a folder named .lock, a read-only folder
        raise UserError(f"{out / LOCK}: cannot open the folder's lock ({err.strerror or err})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, _, held_by = os.pread(fd, 64, 0).decode("ascii", "replace").strip().partition(" ")
            raise UserError(
                f"{out}: another `crossglg {held_by or command}` is writing this folder (pid {pid or 'unknown'}); "
                "wait for it to end, or name another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {command}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock
