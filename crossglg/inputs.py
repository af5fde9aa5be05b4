"""The one way a small input file a user names is read: regular files only.

``Path.read_text`` on a named pipe waits for a writer that may never come (``--config pipe``
hung until killed), and on ``/dev/zero`` it reads until memory runs out. The file is opened
without blocking and checked through its open descriptor, so a pipe is refused at once and a
file swapped for a pipe after a check cannot slip through (docs/ARCHITECTURE.md, "Errors").
Other failures (missing, a folder, no permission, not UTF-8) raise as ``Path.read_text`` raises
them, so each caller keeps its own one-line message for them.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from crossglg.errors import UserError


def read_input_bytes(path: Path | str, what: str) -> bytes:
    """The bytes of the regular file ``path``; a device, pipe or socket is one line naming it as the ``what``."""
    refused = UserError(f"{path}: the {what} is not a regular file (a device, pipe or socket)")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as err:
        if err.errno == errno.ENXIO:  # a socket cannot be opened at all
            raise refused from None
        raise
    with os.fdopen(fd, "rb") as fh:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if not stat.S_ISREG(mode):
            raise refused
        return fh.read()


def read_input_text(path: Path | str, what: str, encoding: str = "utf-8") -> str:
    """``Path(path).read_text(encoding)`` for a regular file only (see :func:`read_input_bytes`).

    Newlines are translated as ``read_text`` translates them, so ``\\r\\n`` files read the same.
    """
    data = read_input_bytes(path, what)
    return data.decode(encoding).replace("\r\n", "\n").replace("\r", "\n")
