"""Checks on an output path (a file or a folder), made before any input is read or any work is done.

A command that learns for a minute and then cannot write its file has wasted the minute and
left the user guessing; so every named output is checked first (docs/ARCHITECTURE.md, "Errors").
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from crossglg.errors import UserError


def writable_file(path: Path, what: str) -> None:
    """Refuse an output whose folder is missing or read-only, or whose place a folder holds."""
    folder = path.parent
    if path.is_dir():
        raise UserError(f"{path}: a folder is in the way; name a new {what}")
    if not folder.is_dir():
        raise UserError(f"{path}: folder {folder} does not exist; create it or name another {what}")
    if not os.access(folder, os.W_OK):
        raise UserError(f"{path}: folder {folder} is read-only; name another {what}")


def save_png(fig: Any, path: Path, dpi: int) -> None:
    """Write a matplotlib figure as PNG and close it; a failed write is one line naming the file.

    ``fig.savefig(path)`` drops the error of a write that fails (on matplotlib 3.11 a PNG sent to
    ``/dev/full`` returns normally), so a full disk would leave a broken picture and no message.
    The image is rendered in memory and written here instead, where the error surfaces.
    """
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    try:
        Path(path).write_bytes(buffer.getvalue())
    except OSError as err:
        raise UserError(f"{path}: cannot write the picture ({err.strerror or err})") from None


def writable_folder(path: Path, what: str) -> None:
    """Refuse an output folder that cannot be made or written: a file in its place or above it, or
    a read-only folder where it would go. Checked, not created: a command whose input then fails
    leaves nothing behind."""
    if path.exists() and not path.is_dir():
        raise UserError(f"{path}: a file is in the way; name a folder for the {what}")
    above = path
    while not above.exists() and above != above.parent:
        above = above.parent
    if not above.is_dir():
        raise UserError(f"{path}: {above} is a file, not a folder; name another folder for the {what}")
    if not os.access(above, os.W_OK):
        raise UserError(f"{path}: {above} is read-only; name another folder for the {what}")


def regular_or_new(path: Path, what: str) -> None:
    """Refuse a device, pipe or socket where an output written beside it and renamed over it goes.

    The rename would put a regular file in its place: as root, ``export /dev/full`` replaced the
    device node itself and reported success.
    """
    if path.exists() and not path.is_dir() and not path.is_file():
        raise UserError(f"{path}: not a regular file (a device, pipe or socket); name a new {what}")
